"""The run's Optuna study: created or loaded from its storage, and mended after a kill.

The one place that reaches into Optuna's internals (:func:`set_trial_user_attr`), because Optuna
offers no public way to annotate a trial another process left running.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import optuna
from optuna.trial import FrozenTrial, TrialState


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


def set_trial_user_attr(study: optuna.Study, trial: FrozenTrial, key: str, value: Any) -> None:
    """Set a user attribute of any trial of ``study`` (Optuna's public API only reaches trials that
    this process asked for)."""
    study._storage.set_trial_user_attr(trial._trial_id, key, value)


def requeue_interrupted(study: optuna.Study) -> int:
    """Trials left running by a killed process: queue their architectures again, then mark them
    failed ('interrupted'). In that order, so that a kill in between loses nothing."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        # an enqueued trial keeps its architecture in 'fixed_params' until it is suggested
        params = {**t.system_attrs.get("fixed_params", {}), **t.params}
        study.enqueue_trial(params, skip_if_exists=False)
        set_trial_user_attr(study, t, "interrupted", True)
        set_trial_user_attr(study, t, "error", "interrupted; re-run on resume")
        study.tell(t.number, state=TrialState.FAIL)
    return len(stale)
