"""The run's study: the one function that reaches into Optuna's internals, and re-queueing the
trials a killed process left running."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from nas.search.study import open_study, requeue_interrupted, set_trial_user_attr


def _study(path: Path) -> optuna.Study:
    storage = JournalStorage(JournalFileBackend(str(path)))
    return open_study(
        storage,
        "nas",
        optuna.samplers.RandomSampler(seed=0),
        optuna.pruners.NopPruner(),
        ["maximize"],
    )


def test_set_trial_user_attr_reaches_a_trial_another_process_left_running(tmp_path: Path) -> None:
    study = _study(tmp_path / "study.journal")
    trial = study.ask({"x": optuna.distributions.CategoricalDistribution(["a", "b"])})
    again = _study(tmp_path / "study.journal")  # as a resumed process sees it
    (running,) = again.get_trials(states=(TrialState.RUNNING,))
    set_trial_user_attr(again, running, "note", {"seen": True})
    assert _study(tmp_path / "study.journal").trials[trial.number].user_attrs == {
        "note": {"seen": True}
    }


def test_interrupted_trials_are_requeued_then_failed(tmp_path: Path) -> None:
    study = _study(tmp_path / "study.journal")
    distribution = optuna.distributions.CategoricalDistribution(["a", "b", "c"])
    done = study.ask({"x": distribution})
    study.tell(done, 1.0)
    study.ask({"x": distribution})  # left running by a "killed" process
    resumed = _study(tmp_path / "study.journal")
    assert requeue_interrupted(resumed) == 1
    trials = resumed.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING]
    assert trials[1].user_attrs == {"interrupted": True, "error": "interrupted; re-run on resume"}
    assert trials[2].system_attrs["fixed_params"] == trials[1].params
    assert requeue_interrupted(resumed) == 0
