"""A search killed with SIGKILL at random moments resumes without losing or repeating work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "nas", *args, "--quiet"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _rows(run: Path | None) -> int:
    try:
        return len(pd.read_csv(run / "trials.csv")) if run else 0
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0


def test_sigkill_then_resume_keeps_every_finished_trial(tmp_path: Path, tiny_config: dict) -> None:
    config = {**tiny_config, "trials": 12, "strategy": {"name": "evolution", "population_size": 4, "sample_size": 2},
              "space": {"name": "tests.plugins:ToySpace", "widths": 4, "depths": 5},
              "evaluator": {"name": "tests.plugins:ToyEvaluator", "sleep": 0.15}}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(config))
    proc = start(["search", "exp.yaml"], tmp_path)
    runs = tmp_path / "results" / "tiny"
    rng = np.random.default_rng(0)
    run = None
    kills, rows = 0, 0
    seen_finished: set[int] = set()
    for _ in range(5):
        # wait until this process has finished a trial of its own, then kill it at a random moment
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None and _rows(run) <= rows:
            time.sleep(0.02)
            run = run or (next(runs.iterdir(), None) if runs.exists() else None)
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        frame = pd.read_csv(run / "trials.csv")
        rows = len(frame)
        finished = set(frame.loc[frame["state"] == "complete", "trial"])
        assert seen_finished <= finished, "a finished trial was lost"
        seen_finished = finished
        proc = start(["search", "--resume", str(run)], tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert kills >= 2
    frame = pd.read_csv(run / "trials.csv")
    evaluated = frame[frame["duplicate_of"].isna() & (frame["error"].fillna("") != "interrupted; re-run on resume")]
    assert len(evaluated) == 12, "the budget counts each evaluated architecture once"
    assert evaluated["arch_id"].is_unique, "no architecture was evaluated twice"
    assert seen_finished <= set(frame.loc[frame["state"] == "complete", "trial"])
    interrupted = frame[frame["error"] == "interrupted; re-run on resume"]
    assert len(interrupted) >= 1
    for _, dead in interrupted.iterrows():  # every trial in flight at a kill was run again
        if isinstance(dead["arch_id"], str):  # (empty when killed before its arch was recorded)
            again = frame[(frame["trial"] > dead["trial"]) & (frame["arch_id"] == dead["arch_id"])
                          & (frame["state"] == "complete")]
            assert not again.empty, f"interrupted trial {dead['trial']} was not run again"


def test_two_processes_on_one_run_never_share_it(tmp_path: Path, tiny_config: dict) -> None:
    """A second process resuming a run that is being searched is refused, and the first finishes
    its budget with every architecture evaluated once."""
    gate = tmp_path / "hold"
    gate.touch()  # the first search waits in its first evaluation until the test removes this
    config = {**tiny_config, "trials": 8, "strategy": {"name": "random"},
              "space": {"name": "tests.plugins:ToySpace", "widths": 4, "depths": 5},
              "evaluator": {"name": "tests.plugins:ToyEvaluator", "hold_while": str(gate)}}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(config))
    first = start(["search", "exp.yaml"], tmp_path)
    runs = tmp_path / "results" / "tiny"
    deadline = time.time() + 120
    while time.time() < deadline and not (runs.exists() and any(runs.glob("*/study.journal"))):
        time.sleep(0.05)
    run = next(runs.glob("*/study.journal")).parent
    second = start(["search", "--resume", str(run), "trials=12"], tmp_path)
    out, err = second.communicate(timeout=120)
    gate.unlink()
    assert second.returncode == 2 and "is being searched by another process" in err
    assert first.wait(timeout=120) == 0
    frame = pd.read_csv(run / "trials.csv")
    evaluated = frame[frame["duplicate_of"].isna()]
    assert len(evaluated) == 8 and evaluated["arch_id"].is_unique and (frame["state"] == "complete").all()
    assert yaml.safe_load((run / "config.yaml").read_text())["trials"] == 8, "the refused resume changed nothing"
