"""The run's Optuna study: created or loaded from its storage, and mended after a kill.

The one place that reaches into Optuna's internals (:func:`set_trial_user_attr`, trial ids and
heartbeats, and the stale trial ids of :func:`requeue_stale`), because Optuna offers no public way to annotate a trial
another process left running (its own ``fail_stale_trials`` fails a trial before anyone can
record why).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState


def open_study(
    storage: optuna.storages.BaseStorage | None,
    name: str,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    directions: Sequence[Literal["minimize", "maximize"]],
) -> optuna.Study:
    """Create the study, or load it when the storage holds it already (a resumed run)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna.create_study(
        storage=storage,
        study_name=name,
        sampler=sampler,
        pruner=pruner,
        directions=list(directions),
        load_if_exists=True,
    )


def trial_id(trial: Trial | FrozenTrial) -> int:
    """The storage's id of a trial (Optuna keeps it private; heartbeats are recorded by it)."""
    return trial._trial_id


def record_heartbeat(study: optuna.Study, trial_id: int) -> None:
    """Record that the process running trial ``trial_id`` of ``study`` is alive (database storages)."""
    storage: Any = study._storage
    storage.record_heartbeat(trial_id)


def set_trial_user_attr(study: optuna.Study, trial: FrozenTrial, key: str, value: Any) -> None:
    """Set a user attribute of any trial of ``study`` (Optuna's public API only reaches trials that
    this process asked for)."""
    study._storage.set_trial_user_attr(trial._trial_id, key, value)


def requeue_interrupted(study: optuna.Study) -> int:
    """Trials left running by a killed process: queue their architectures again, then mark them
    failed ('interrupted'). In that order, so that a kill in between loses nothing."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        requeue(study, t, "interrupted; re-run on resume")
    return len(stale)


def requeue_stale(study: optuna.Study) -> int:
    """Trials of dead workers of a shared study (their heartbeat stopped; see
    :mod:`nas.search.shared`): queued again and marked failed ('interrupted'), as after a kill."""
    storage: Any = study._storage
    stale = set(storage._get_stale_trial_ids(study._study_id))
    found = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t._trial_id in stale
    ]
    for t in found:
        try:
            requeue(study, t, "interrupted (its worker stopped); re-run by another worker")
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
            pass  # its worker was only slow, and told it meanwhile
    return len(found)


def requeue_orphans(study: optuna.Study, worker: int, resumed: bool) -> int:
    """Running trials no live worker owns, queued again as after a kill: those of ``worker`` when it
    resumes (the run folder's lock admits one process per worker), and those no worker claimed (a
    study of nas 0.1, or a worker killed between asking and claiming: both happen under the lock
    the caller holds)."""
    found = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t.user_attrs.get("worker") is None or (resumed and t.user_attrs["worker"] == worker)
    ]
    for t in found:
        requeue(study, t, "interrupted; re-run on resume")
    return len(found)


def requeue(study: optuna.Study, trial: FrozenTrial, error: str) -> None:
    """Queue a running trial's architecture again, then mark the trial failed ('interrupted')."""
    # an enqueued trial keeps its architecture in 'fixed_params' until it is suggested
    params = {**trial.system_attrs.get("fixed_params", {}), **trial.params}
    study.enqueue_trial(params, skip_if_exists=False)
    set_trial_user_attr(study, trial, "interrupted", True)
    set_trial_user_attr(study, trial, "error", error)
    study.tell(trial.number, state=TrialState.FAIL)
