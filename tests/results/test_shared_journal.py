"""A run's study.journal can be shared: two processes append trials to it at once, and none is lost
or torn (the README: appends serialised by Optuna's file lock, so several processes can share it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
from optuna.trial import TrialState

from nas.results.run_folder import RunFolder

TRIALS_EACH = 60
PAYLOAD = 3000  # characters per trial, so that appends are several kilobytes long

#: One writer: opens the run's own storage, waits until the other writer is ready too, then adds
#: TRIALS_EACH trials tagged with its name.
WRITER = textwrap.dedent("""
    import sys, time
    import optuna
    from nas.results.run_folder import RunFolder

    run, me, n, size = RunFolder.open(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    study = optuna.load_study(study_name=run.study_name, storage=run.storage(None))
    (run.path / f"ready-{me}").touch()
    deadline = time.monotonic() + 60
    while len(list(run.path.glob("ready-*"))) < 2:
        if time.monotonic() > deadline:
            sys.exit("the other writer never started")
        time.sleep(0.005)
    for i in range(n):
        trial = study.ask()
        trial.set_user_attr("writer", me)
        trial.set_user_attr("i", i)
        trial.set_user_attr("payload", (me + str(i)) * (size // (len(me) + 3)))
        study.tell(trial, float(i))
""")


def test_two_processes_append_to_one_journal_and_every_trial_is_there(
    searched_run: Path, tmp_path: Path
) -> None:
    path = tmp_path / "run"
    shutil.copytree(searched_run, path)
    run = RunFolder.open(path)
    before = len(optuna.load_study(study_name=run.study_name, storage=run.storage(None)).trials)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), name, str(TRIALS_EACH), str(PAYLOAD)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alpha", "beta")
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err

    lines = run.journal.read_bytes().split(b"\n")
    assert lines[-1] == b""  # ends with a whole line
    operations = [json.loads(line) for line in lines[:-1]]  # every line one whole operation
    assert len(operations) > 2 * TRIALS_EACH * 4

    study = optuna.load_study(study_name=run.study_name, storage=run.storage(None))
    trials = study.trials
    assert [t.number for t in trials] == list(range(before + 2 * TRIALS_EACH))
    added = trials[before:]
    assert all(t.state == TrialState.COMPLETE for t in added)
    for name in ("alpha", "beta"):
        mine = [t for t in added if t.user_attrs["writer"] == name]
        assert sorted(t.user_attrs["i"] for t in mine) == list(range(TRIALS_EACH))
        for t in mine:
            i = t.user_attrs["i"]
            assert t.values == [float(i)]
            assert t.user_attrs["payload"] == (name + str(i)) * (PAYLOAD // (len(name) + 3))
