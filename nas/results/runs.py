"""The runs a plot or a report shows: each run's trials, objectives and label, loaded once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class RunTrials:
    """One run's trials and what the plots need to know about the run."""

    label: str
    strategy: str
    objectives: dict[str, str]
    frame: pd.DataFrame
    path: Path


@dataclass
class PlotOptions:
    """Which metrics to plot and how to colour the points."""

    x: list[str] = field(default_factory=list)
    y: str | None = None
    color: str = "run"


def run_label(path: str | Path) -> str:
    """``experiment/run-id`` for a run folder."""
    resolved = Path(path).resolve()
    return f"{resolved.parent.name}/{resolved.name}"


def load_run(path: str | Path) -> RunTrials:
    """A run's trials, for plotting."""
    from nas.results.reading import load_trials, run_objectives
    from nas.results.run_folder import RunFolder

    run = RunFolder.open(path)
    frame, _ = load_trials(run.path)
    strategy = run.load_config().strategy.name
    return RunTrials(run_label(run.path), strategy, run_objectives(run.path), frame, run.path)


def direction(metric: str, objectives: dict[str, str]) -> str:
    """'maximize' or 'minimize': the objective's direction, else the one a task gives the metric
    (``val_miou``: maximize), else maximise accuracies and minimise the rest."""
    from nas.tasks import metric_direction

    if metric in objectives:
        return objectives[metric]
    known = metric_direction(metric)
    if known is not None:
        return known
    return "maximize" if "accuracy" in metric and not metric.endswith("_drop") else "minimize"


def completed(frame: pd.DataFrame, *metrics: str) -> pd.DataFrame:
    """Completed first evaluations with finite values of ``metrics``."""
    if frame.empty or any(m not in frame for m in metrics):
        return frame.iloc[0:0]
    done = frame[frame["state"] == "complete"]
    if "duplicate_of" in done:
        done = done[done["duplicate_of"].isna()]
    for metric in metrics:
        values = pd.to_numeric(done[metric], errors="coerce")
        done = done[np.isfinite(values.to_numpy(dtype=float))]
    return done
