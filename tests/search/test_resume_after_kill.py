"""A search killed with SIGKILL resumes without losing or repeating work.

The kills land at points the test observes in files the search writes (an evaluation that
cannot finish, a trial just recorded), never after a guessed delay, and every wait fails with
what it waited for and the search's output.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from nas.arch import Choice, arch_id
from nas.evaluators import Budget, EvalContext
from nas.space import SearchSpace
from tests.plugins import ToyEvaluator

ROOT = Path(__file__).resolve().parents[2]
INTERRUPTED = "interrupted; re-run on resume"


class Search:
    """``nas ARGS --quiet`` in a subprocess, its output in a log file (start it with :func:`searching`)."""

    def __init__(self, args: list[str], cwd: Path, log: Path) -> None:
        self.log = log
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with log.open("a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nas", *args, "--quiet"],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        """The last lines the process printed."""
        return self.log.read_text()[-4000:]

    def running(self) -> bool:
        """Whether the process has not exited yet."""
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL (if still running) and reap."""
        if self.running():
            self.proc.kill()
        self.proc.wait()

    def wait_for(self, ready: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
        """Return once ``ready()``; fail the test if the process exits first or ``timeout`` s pass."""
        deadline = time.monotonic() + timeout
        while True:
            exited = (
                not self.running()
            )  # sampled first: an exit after ready() turned true is no failure
            if ready():
                return
            if exited:
                pytest.fail(
                    f"the search exited with status {self.proc.returncode} before {what}:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"waited {timeout:g} s for {what} in vain:\n{self.output()}")
            time.sleep(0.02)

    def finish(self, timeout: float = 120.0) -> int:
        """Wait for the process to exit and return its status; fail the test after ``timeout`` s."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the search did not finish within {timeout:g} s:\n{self.output()}")


@contextmanager
def searching(args: list[str], cwd: Path, log: Path) -> Iterator[Search]:
    """Run ``nas ARGS`` for the body of a ``with``; whatever still runs at its end is killed."""
    search = Search(args, cwd, log)
    try:
        yield search
    finally:
        search.kill()


class Announced(ToyEvaluator):
    """:class:`tests.plugins.ToyEvaluator` that first appends the id of the architecture it starts
    to the file ``started``, so a test sees which evaluation is in flight."""

    def __init__(
        self, context: EvalContext, *, started: str, hold_while: str, sleep: float = 0.0
    ) -> None:
        super().__init__(context, hold_while=hold_while, sleep=sleep)
        self.started = Path(started)

    def evaluate(
        self,
        arch: Mapping[str, Choice],
        space: SearchSpace,
        budget: Budget | None = None,
        report: Any = None,
    ) -> dict[str, Any]:
        """Announce, then evaluate as the toy evaluator does (waiting while its gate file exists)."""
        with self.started.open("a") as out:
            out.write(arch_id(arch) + "\n")
        return super().evaluate(arch, space, budget, report)


def lines(path: Path) -> list[str]:
    """The lines of ``path`` (none while it does not exist)."""
    return path.read_text().split() if path.exists() else []


def trials(run: Path) -> pd.DataFrame:
    """The run's trial table (empty before its first row)."""
    try:
        return pd.read_csv(run / "trials.csv")
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame({"trial": [], "state": [], "arch_id": []})


def completed(run: Path) -> set[int]:
    """Numbers of the run's complete trials."""
    frame = trials(run)
    return set(frame.loc[frame["state"] == "complete", "trial"])


def test_sigkill_then_resume_keeps_every_finished_trial(tmp_path: Path, tiny_config: dict) -> None:
    """Three kills: the first and last while an evaluation is held at its gate (a trial in flight),
    the second just after a trial of the process's own was recorded; then it resumes to its budget."""
    gate, started = tmp_path / "gate", tmp_path / "started"
    config = {
        **tiny_config,
        "trials": 12,
        "strategy": {"name": "evolution", "population_size": 4, "sample_size": 2},
        "space": {"name": "tests.plugins:ToySpace", "widths": 4, "depths": 5},
        "evaluator": {
            "name": "tests.search.test_resume_after_kill:Announced",
            "sleep": 0.05,
            "hold_while": str(gate),
            "started": str(started),
        },
    }
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(config))
    runs = tmp_path / "results" / "tiny"
    args = ["search", "exp.yaml"]
    run: Path | None = None
    finished: set[int] = set()
    in_flight: list[str] = []
    for kill in range(3):
        held = kill % 2 == 0
        if held:
            gate.touch()  # the next evaluation to start cannot finish
        else:
            gate.unlink(missing_ok=True)
        before = len(lines(started))
        with searching(args, tmp_path, tmp_path / f"search-{kill}.log") as search:
            if held:
                search.wait_for(
                    lambda n=before: len(lines(started)) > n,
                    f"an evaluation to start (kill {kill})",
                )
                in_flight.append(lines(started)[-1])
            else:
                search.wait_for(
                    lambda run=run, done=finished: bool(completed(run) - done),
                    f"a trial of this process to finish (kill {kill})",
                )
            run = run or next(runs.iterdir())
        now = completed(run)
        assert finished <= now, "a finished trial was lost"
        finished = now
        args = ["search", "--resume", str(run)]
    gate.unlink(missing_ok=True)
    with searching(args, tmp_path, tmp_path / "search-last.log") as search:
        assert search.finish() == 0, search.output()
    frame = trials(run)
    assert finished <= set(frame.loc[frame["state"] == "complete", "trial"])
    evaluated = frame[frame["duplicate_of"].isna() & (frame["error"].fillna("") != INTERRUPTED)]
    assert len(evaluated) == 12, "the budget counts each evaluated architecture once"
    assert evaluated["arch_id"].is_unique, "no architecture was evaluated twice"
    interrupted = frame[frame["error"] == INTERRUPTED]
    assert set(in_flight) <= set(interrupted["arch_id"]), (
        "each trial held at a kill was recorded as interrupted"
    )
    for _, dead in interrupted.iterrows():  # every trial in flight at a kill was run again
        if isinstance(dead["arch_id"], str):  # (empty when killed before its arch was recorded)
            again = frame[
                (frame["trial"] > dead["trial"])
                & (frame["arch_id"] == dead["arch_id"])
                & (frame["state"] == "complete")
            ]
            assert not again.empty, f"interrupted trial {dead['trial']} was not run again"


def test_two_processes_on_one_run_never_share_it(tmp_path: Path, tiny_config: dict) -> None:
    """A second process resuming a run that is being searched is refused, and the first finishes
    its budget with every architecture evaluated once."""
    gate, started = tmp_path / "gate", tmp_path / "started"
    gate.touch()  # the first search waits in its first evaluation until the test removes this
    config = {
        **tiny_config,
        "trials": 8,
        "strategy": {"name": "random"},
        "space": {"name": "tests.plugins:ToySpace", "widths": 4, "depths": 5},
        "evaluator": {
            "name": "tests.search.test_resume_after_kill:Announced",
            "hold_while": str(gate),
            "started": str(started),
        },
    }
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(config))
    with searching(["search", "exp.yaml"], tmp_path, tmp_path / "first.log") as first:
        first.wait_for(
            started.exists, "the first search to start evaluating"
        )  # it holds the run's lock by then
        (run,) = (tmp_path / "results" / "tiny").iterdir()
        with searching(
            ["search", "--resume", str(run), "trials=12"], tmp_path, tmp_path / "second.log"
        ) as second:
            assert (
                second.finish() == 2 and "is being searched by another process" in second.output()
            )
        gate.unlink()
        assert first.finish() == 0, first.output()
    frame = pd.read_csv(run / "trials.csv")
    evaluated = frame[frame["duplicate_of"].isna()]
    assert (
        len(evaluated) == 8
        and evaluated["arch_id"].is_unique
        and (frame["state"] == "complete").all()
    )
    assert yaml.safe_load((run / "config.yaml").read_text())["trials"] == 8, (
        "the refused resume changed nothing"
    )
