"""Several worker processes on one study in a real PostgreSQL server (started by the fixture):
the budget is exact across workers, every architecture is evaluated once, a duplicate proposed
while another worker evaluates it waits for that result, and a worker killed with SIGKILL loses
nothing (its trial is re-run by another worker, and its folder resumes)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
import yaml
from optuna.trial import TrialState

from nas.arch import Choice, arch_id
from nas.config import resolve_config
from nas.errors import NasError
from nas.evaluators import Budget, EvalContext
from nas.results.reading import load_trials
from nas.results.run_folder import RunFolder
from nas.search.components import build_components
from nas.search.loop import SearchLoop
from nas.search.runner import run_search
from nas.search.shared import SharedStudy
from nas.search.study import open_study
from nas.space import SearchSpace
from tests.plugins import ToyEvaluator, ToySpace
from tests.postgres import postgres_server

ROOT = Path(__file__).resolve().parents[2]
INTERRUPTED = "interrupted (its worker stopped); re-run by another worker"


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A PostgreSQL server for the module; the tests skip (saying why) where none can start."""
    try:
        with postgres_server() as url:
            yield url
    except RuntimeError as exc:
        pytest.skip(f"no PostgreSQL server for the worker tests: {exc}")


class Logged(ToyEvaluator):
    """:class:`tests.plugins.ToyEvaluator` that appends 'pid arch_id' to ``started`` as it starts."""

    def __init__(
        self, context: EvalContext, *, started: str, hold_while: str = "", sleep: float = 0.0
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
        """Announce, then evaluate as the toy evaluator does."""
        with self.started.open("a") as out:
            out.write(f"{os.getpid()} {arch_id(arch)}\n")
        return super().evaluate(arch, space, budget, report)


def experiment(tmp_path: Path, trials: int, **evaluator: Any) -> Path:
    """An experiment file: the toy space (4 x 2 x 3 = 24 architectures), random proposals."""
    config = {
        "name": "workers",
        "trials": trials,
        "space": {"name": "tests.plugins:ToySpace", "widths": 4, "depths": 3},
        "strategy": {"name": "random"},
        "evaluator": {
            "name": "tests.search.test_workers:Logged",
            "started": str(tmp_path / "started"),
            **evaluator,
        },
        "heartbeat_interval": 1,
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def worker(tmp_path: Path, *args: str) -> subprocess.Popen:
    """``nas search ARGS --quiet`` in tmp_path, its output in a log file of its own."""
    log = (tmp_path / f"worker-{time.monotonic_ns()}.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "nas", "search", *args, "--quiet"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def finish(proc: subprocess.Popen, timeout: float = 240) -> int:
    """Wait for a worker; kill it and fail the test (with its output) if it outlasts ``timeout``."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(
            f"a worker did not finish within {timeout:g} s:\n{Path(proc.stdout_name).read_text()[-3000:]}"
        )  # type: ignore[attr-defined]


def started(tmp_path: Path) -> list[tuple[int, str]]:
    """(pid, arch_id) of every evaluation started so far."""
    path = tmp_path / "started"
    lines = path.read_text().split("\n") if path.exists() else []
    return [(int(pid), aid) for pid, aid in (line.split() for line in lines if line.strip())]


def study_trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    """Every trial of the study, read back from the database."""
    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def evaluated(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The trials that count towards the budget: finished, not duplicates, not interrupted."""
    return [
        t
        for t in trials
        if t.state != TrialState.RUNNING
        and "duplicate_of" not in t.user_attrs
        and not t.user_attrs.get("interrupted")
    ]


def test_four_workers_share_one_study_and_its_budget(pg_url: str, tmp_path: Path) -> None:
    """(Two workers: the next test, where one of them is killed.)"""
    workers = 4
    exp = experiment(tmp_path, trials=12, sleep=0.1)
    study = f"share-{workers}"
    procs = [
        worker(tmp_path, str(exp), "--storage", pg_url, "--study", study) for _ in range(workers)
    ]
    for proc in procs:
        assert finish(proc) == 0, proc.args
    trials = study_trials(pg_url, study)
    done = evaluated(trials)
    assert len(done) == 12, "the budget is exact across workers"
    assert len({t.user_attrs["arch_id"] for t in done}) == 12
    assert all(t.state == TrialState.COMPLETE for t in trials)
    runs = sorted((tmp_path / "results" / "workers").iterdir())
    assert len(runs) == workers, "each worker has a run folder of its own"
    assert {pid for pid, _ in started(tmp_path)} <= {p.pid for p in procs}
    assert sorted(aid for _, aid in started(tmp_path)) == sorted(
        t.user_attrs["arch_id"] for t in done
    ), "every architecture was evaluated once, by one worker"
    for run in runs:  # any worker's folder reads every worker's trials back
        frame, _ = load_trials(run)
        assert sorted(frame["trial"]) == [t.number for t in trials]
        assert len(pd.read_csv(run / "trials.csv")) == len(trials)
    shown = subprocess.run(
        [sys.executable, "-m", "nas", "show", str(runs[-1]), "--format", "csv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert sorted(pd.read_csv(io.StringIO(shown.stdout))["trial"]) == [t.number for t in trials]


def test_a_killed_worker_loses_nothing_and_its_folder_resumes(pg_url: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.touch()  # every evaluation waits until the test removes this
    exp = experiment(tmp_path, trials=6, hold_while=str(gate))
    study = "killed"
    victim, survivor = (
        worker(tmp_path, str(exp), "--storage", pg_url, "--study", study) for _ in range(2)
    )
    deadline = time.monotonic() + 120
    while {pid for pid, _ in started(tmp_path)} != {victim.pid, survivor.pid}:  # both evaluating
        assert time.monotonic() < deadline and victim.poll() is None and survivor.poll() is None, (
            started(tmp_path)
        )
        time.sleep(0.05)
    lost = next(aid for pid, aid in started(tmp_path) if pid == victim.pid)
    victim.kill()
    victim.wait()
    gate.unlink()
    assert finish(survivor) == 0
    trials = study_trials(pg_url, study)
    done = evaluated(trials)
    assert len(done) == 6 and len({t.user_attrs["arch_id"] for t in done}) == 6
    assert all(t.state == TrialState.COMPLETE for t in done)
    dead = [t for t in trials if t.user_attrs.get("interrupted")]
    assert [t.user_attrs["arch_id"] for t in dead] == [lost] and dead[0].user_attrs[
        "error"
    ] == INTERRUPTED
    assert lost in {t.user_attrs["arch_id"] for t in done}, (
        "the killed worker's architecture was re-run"
    )
    attempts = [aid for _, aid in started(tmp_path)]
    assert sorted(attempts) == sorted([lost] + [t.user_attrs["arch_id"] for t in done]), (
        "nothing else was evaluated twice"
    )
    folders = sorted((tmp_path / "results" / "workers").iterdir())
    mine = [f for f in folders if not (f / "pareto.csv").exists()]  # the killed worker never ended
    assert len(mine) == 1
    resumed = worker(tmp_path, "--resume", str(mine[0]))
    assert finish(resumed) == 0
    assert len(evaluated(study_trials(pg_url, study))) == 6, (
        "a resumed worker finds the budget spent"
    )
    assert (mine[0] / "pareto.csv").is_file()


def test_a_duplicate_in_flight_on_another_worker_waits_for_its_result(
    pg_url: str, tmp_path: Path
) -> None:
    """Two workers (in one process, for a deterministic order) get the same architecture: the second
    waits for the first's result and is told it as a duplicate; the architecture runs once."""
    config = resolve_config(
        {
            "name": "dup",
            "trials": 2,
            "space": {"name": "tests.plugins:ToySpace"},
            "strategy": {"name": "random"},
            "evaluator": {"name": "tests.plugins:ToyEvaluator"},
            "storage": pg_url,
        }
    )
    loops = []
    for _ in range(2):
        parts = build_components(config)
        storage = RunFolder(tmp_path).storage(pg_url, heartbeat_interval=1)
        study = open_study(storage, "dup", parts.sampler, parts.pruner, ["maximize"])
        shared = SharedStudy(study, pg_url, 1)
        shared.join(config.to_yaml_dict(), None)
        loops.append(SearchLoop(config, parts.space, parts.evaluator, study, None, shared=shared))
    arch = {"a": 1, "b": "tanh", "c": 0}
    loops[0].study.enqueue_trial(arch)
    loops[0].study.enqueue_trial(arch)
    first = loops[0].ask()
    assert first is not None and not isinstance(first, optuna.trial.FrozenTrial)
    second: list[Any] = []
    waiting = threading.Thread(target=lambda: second.append(loops[1].ask()))
    waiting.start()
    deadline = time.monotonic() + 60
    while not any(
        t.user_attrs.get("duplicate_of") == first.trial.number for t in study_trials(pg_url, "dup")
    ):
        assert time.monotonic() < deadline, "the second worker never took the duplicate"
        time.sleep(0.05)
    assert waiting.is_alive(), "it waits for the first worker's result"
    calls: list[str] = []

    def evaluate(report: Any) -> dict[str, float]:
        calls.append("evaluated")
        return {"val_accuracy": 2.0}

    loops[0].finish(first, evaluate)
    waiting.join(timeout=60)
    told = second[0]
    assert (
        isinstance(told, optuna.trial.FrozenTrial)
        and told.user_attrs["duplicate_of"] == first.trial.number
    )
    assert told.values == [2.0] and calls == ["evaluated"]
    for loop in loops:
        assert loop.shared is not None
        loop.shared.close()  # type: ignore[attr-defined]


def test_joining_with_another_search_or_without_a_database_is_refused(tmp_path: Path) -> None:
    """(SQLite: the same coordination, a lock file beside the database.)"""
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    raw = {
        "name": "join",
        "trials": 2,
        "space": {"name": "tests.plugins:ToySpace"},
        "strategy": {"name": "random"},
        "evaluator": {"name": "tests.plugins:ToyEvaluator"},
        "storage": url,
        "output": str(tmp_path / "results"),
    }
    first = run_search(resolve_config(raw), progress=False, study="s")
    assert len(evaluated(study_trials(url, "s"))) == 2
    again = run_search(resolve_config({**raw, "trials": 2}), progress=False, study="s")
    assert again.evaluated == 2 and len(study_trials(url, "s")) == 2, "the budget was spent already"
    with pytest.raises(
        NasError,
        match=r"study 's' was started with another config \('trials' differs: 2 there, 3 here\)",
    ):
        run_search(resolve_config({**raw, "trials": 3}), progress=False, study="s")
    with pytest.raises(NasError, match="joining a study needs its database"):
        run_search(resolve_config({**raw, "storage": None}), progress=False, study="s")
    assert json.loads((first.run.path / "run.json").read_text())["worker"] == 0
    assert json.loads((again.run.path / "run.json").read_text())["worker"] == 1
    folders = list((tmp_path / "results" / "join").iterdir())
    assert len(folders) == 2, "a refused worker writes nothing"


def test_a_trial_left_running_without_heartbeats_is_run_again_on_resume(tmp_path: Path) -> None:
    """A database run killed mid-trial by a version without heartbeats (or between asking and
    claiming a trial) resumes at once: the orphan is re-queued, not awaited forever."""
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    raw = {
        "name": "orphan",
        "trials": 3,
        "space": {"name": "tests.plugins:ToySpace"},
        "strategy": {"name": "random"},
        "evaluator": {"name": "tests.plugins:ToyEvaluator"},
        "storage": url,
        "output": str(tmp_path / "results"),
    }
    run = run_search(resolve_config({**raw, "trials": 2}), progress=False).run
    study = optuna.load_study(study_name=run.study_name, storage=url)
    arch = {"a": 2, "b": "relu", "c": 0}
    study.enqueue_trial(arch)
    left = (
        study.ask()
    )  # what a killed process leaves: asked, its architecture recorded, no heartbeat
    for name, choices in ToySpace().decisions().items():
        left.suggest_categorical(name, list(choices))
    left.set_user_attr("arch_id", arch_id(arch))
    resumed = run_search(resolve_config(raw), resume=run, progress=False)
    trials = study_trials(url, run.study_name)
    assert resumed.evaluated == 3 and len(evaluated(trials)) == 3
    assert trials[left.number].user_attrs["interrupted"] is True
    assert not [t for t in trials if t.state == TrialState.RUNNING]


def test_an_unreachable_database_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A PostgreSQL URL nothing listens on (port 1): one error line naming the URL and the fix."""
    from nas.cli.main import main

    config = tmp_path / "x.yaml"
    config.write_text(
        "name: x\ntrials: 2\nspace: {name: 'tests.plugins:ToySpace'}\n"
        "strategy: {name: random}\nevaluator: {name: 'tests.plugins:ToyEvaluator'}\n"
    )
    url = "postgresql://nobody:secret@127.0.0.1:1/studies"
    args = [
        "search",
        str(config),
        "--storage",
        url,
        "--study",
        "s",
        "--output",
        str(tmp_path / "r"),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the database 'postgresql://nobody:***@127.0.0.1:1/")
    assert "check the URL and that the server is running" in err and err.count("\n") == 1
    assert "secret" not in err and not (tmp_path / "r").exists()
