"""Experiment tracking: every trial and the run's artefacts logged to the tools users already read
(MLflow, TensorBoard), through trackers registered by name.

A config names trackers in its ``tracking`` section, each with its options (a plain value is
the tracker's first option): ``tracking: {mlflow: {tracking_uri: sqlite:///mlflow.db}, tensorboard: tb}``.
A tracker is a :class:`nas.tracking.base.Tracker`, built as ``factory(config, **options)`` before
any file is written; the search loop tells it each finished trial, the runner the run's end.
Third-party trackers register with ``@nas.tracking.register_tracker`` or the ``nas.trackers``
entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nas.config.options import option_parameters, validate_options
from nas.registry import Registry

if TYPE_CHECKING:
    from nas.config import ExperimentConfig
    from nas.tracking.base import Tracker

TRACKERS = Registry(
    "tracker",
    "nas.trackers",
    {
        "mlflow": "nas.tracking.mlflow_tracker:MlflowTracker",
        "tensorboard": "nas.tracking.tensorboard_tracker:TensorBoardTracker",
    },
    bases=("nas.tracking.base:Tracker",),
    decorator="@nas.tracking.register_tracker",
)
register_tracker = TRACKERS.register


def build_trackers(config: ExperimentConfig) -> list[Tracker]:
    """The trackers the config's ``tracking`` section names, options validated (NasError otherwise)."""
    trackers = []
    for name, raw in config.tracking.items():
        factory = TRACKERS.get(name)
        options: Any = raw
        if not isinstance(raw, dict):  # a plain value: the tracker's first option
            first = next(iter(option_parameters(factory)), None)
            options = {first: raw} if first else raw
        trackers.append(
            factory(config, **validate_options(factory, options or {}, f"tracking.{name}"))
        )
    return trackers
