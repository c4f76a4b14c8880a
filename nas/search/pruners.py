"""Pruners: Optuna's early-stopping rules, chosen by name in the config's ``pruner:`` section.

An evaluator that trains reports the validation accuracy (%) after every epoch; the pruner
compares it with the other trials' at the same epoch and may stop the candidate, which is then
recorded as pruned with the metrics it reached. Epochs are Optuna's "steps". WilcoxonPruner is
left out: it compares per-instance scores, not a learning curve.

Factory convention: ``factory(*, **options) -> optuna.pruners.BasePruner``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from nas.errors import NasError

if TYPE_CHECKING:
    import optuna

    from nas.config import ExperimentConfig

#: The metric every training evaluator reports each epoch for classification, which pruners compare
#: (another task reports its own: :func:`reported_metric`).
REPORTED_METRIC = "val_accuracy"


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise NasError(message)


def none() -> optuna.pruners.BasePruner:
    """Never stop a candidate early (the default)."""
    import optuna

    return optuna.pruners.NopPruner()


def median(
    *,
    startup_trials: int = 5,
    warmup_epochs: int = 0,
    interval_epochs: int = 1,
    min_trials: int = 1,
) -> optuna.pruners.BasePruner:
    """Stop a candidate whose accuracy is below the median of earlier trials' at the same epoch."""
    return percentile(
        percentile=50.0,
        startup_trials=startup_trials,
        warmup_epochs=warmup_epochs,
        interval_epochs=interval_epochs,
        min_trials=min_trials,
    )


def percentile(
    *,
    percentile: float = 25.0,
    startup_trials: int = 5,
    warmup_epochs: int = 0,
    interval_epochs: int = 1,
    min_trials: int = 1,
) -> optuna.pruners.BasePruner:
    """Keep a candidate only while its best accuracy is in the top percentile of finished trials' at that epoch.

    ``percentile`` is 0-100: 25 keeps the top quarter (stops anything below the 75th percentile);
    50 is :func:`median`.
    """
    import optuna

    _check(
        0 <= percentile <= 100,
        f"config key 'pruner.percentile' must be in [0, 100], got {percentile}",
    )
    _check(
        startup_trials >= 0 and warmup_epochs >= 0,
        "config keys 'pruner.startup_trials' and 'pruner.warmup_epochs' must be >= 0",
    )
    _check(
        interval_epochs >= 1 and min_trials >= 1,
        "config keys 'pruner.interval_epochs' and 'pruner.min_trials' must be >= 1",
    )
    if percentile == 50.0:
        return optuna.pruners.MedianPruner(
            startup_trials, warmup_epochs, interval_epochs, n_min_trials=min_trials
        )
    return optuna.pruners.PercentilePruner(
        percentile, startup_trials, warmup_epochs, interval_epochs, n_min_trials=min_trials
    )


def successive_halving(
    *,
    min_epochs: int = 1,
    reduction_factor: int = 3,
    min_early_stopping_rate: int = 0,
    bootstrap_count: int = 0,
) -> optuna.pruners.BasePruner:
    """Asynchronous successive halving: at epochs min_epochs * rf^k keep the top 1/rf of trials."""
    import optuna

    _check(min_epochs >= 1, f"config key 'pruner.min_epochs' must be at least 1, got {min_epochs}")
    _check(
        reduction_factor >= 2,
        f"config key 'pruner.reduction_factor' must be at least 2, got {reduction_factor}",
    )
    _check(
        min_early_stopping_rate >= 0 and bootstrap_count >= 0,
        "config keys 'pruner.min_early_stopping_rate' and 'pruner.bootstrap_count' must be >= 0",
    )
    return optuna.pruners.SuccessiveHalvingPruner(
        min_epochs, reduction_factor, min_early_stopping_rate, bootstrap_count
    )


def hyperband(
    *,
    min_epochs: int = 1,
    max_epochs: int | None = None,
    reduction_factor: int = 3,
    bootstrap_count: int = 0,
) -> optuna.pruners.BasePruner:
    """Hyperband: successive halving in several brackets of different aggressiveness.

    ``max_epochs`` None takes the epochs of the first trial that finishes.
    """
    import optuna

    _check(min_epochs >= 1, f"config key 'pruner.min_epochs' must be at least 1, got {min_epochs}")
    _check(
        max_epochs is None or max_epochs > min_epochs,
        f"config key 'pruner.max_epochs' must exceed min_epochs={min_epochs}, got {max_epochs}",
    )
    _check(
        reduction_factor >= 2,
        f"config key 'pruner.reduction_factor' must be at least 2, got {reduction_factor}",
    )
    return optuna.pruners.HyperbandPruner(
        min_epochs, "auto" if max_epochs is None else max_epochs, reduction_factor, bootstrap_count
    )


def threshold(
    *,
    lower: float | None = None,
    upper: float | None = None,
    warmup_epochs: int = 0,
    interval_epochs: int = 1,
) -> optuna.pruners.BasePruner:
    """Stop a candidate whose accuracy (%) falls below ``lower`` (or rises above ``upper``)."""
    import optuna

    _check(
        lower is not None or upper is not None,
        "pruner 'threshold' needs 'lower' (e.g. lower: 20) or 'upper'",
    )
    _check(
        warmup_epochs >= 0 and interval_epochs >= 1,
        "config keys 'pruner.warmup_epochs' >= 0 and 'pruner.interval_epochs' >= 1",
    )
    return optuna.pruners.ThresholdPruner(lower, upper, warmup_epochs, interval_epochs)


def patient(
    *,
    patience: int = 3,
    min_delta: float = 0.0,
    wrapped: Literal["none", "median", "successive_halving", "hyperband"] = "none",
) -> optuna.pruners.BasePruner:
    """Stop a candidate whose accuracy has stayed below its earlier best for ``patience`` + 1 epochs.

    Optuna's rule: every one of the last ``patience`` + 1 accuracies is more than ``min_delta``
    below the best before them, so a decline is stopped but a plateau is not. With a ``wrapped``
    pruner (its defaults), such a candidate is stopped only if that pruner agrees.
    """
    import optuna

    _check(
        patience >= 0 and min_delta >= 0,
        "config keys 'pruner.patience' and 'pruner.min_delta' must be >= 0",
    )
    factories: dict[str, Callable[[], optuna.pruners.BasePruner]] = {
        "median": median,
        "successive_halving": successive_halving,
        "hyperband": hyperband,
    }
    inner = None if wrapped == "none" else factories[wrapped]()
    with warnings.catch_warnings():  # experimental in Optuna since 2.8, and stable in use
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.pruners.PatientPruner(inner, patience, min_delta)


def reported_metric(config: ExperimentConfig) -> str:
    """The metric training evaluators report each epoch for the config's task (``val_accuracy``,
    ``val_miou``)."""
    from nas.tasks import task_named

    return task_named(config.task).reported_metric


def make_pruner(config: ExperimentConfig) -> optuna.pruners.BasePruner:
    """The configured pruner, refused when the objectives are not the metric reported each epoch."""
    from nas.registry import PRUNERS

    metric = reported_metric(config)
    if config.pruner.name != "none" and list(config.objectives) != [metric]:
        raise NasError(
            f"pruner {config.pruner.name!r} compares the {metric} reported each epoch, so the "
            f"objectives must be {metric} alone (got {', '.join(config.objectives)}); "
            "set pruner: none or change the objectives"
        )
    return PRUNERS.get(config.pruner.name)(**config.pruner.options)
