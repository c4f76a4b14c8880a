"""The tracker interface, and the run artefacts every tracker logs."""

from __future__ import annotations

import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from optuna.trial import FrozenTrial

from nas.config import ExperimentConfig
from nas.errors import NasError
from nas.results.trials import trial_row

if TYPE_CHECKING:
    from nas.search.loop import SearchLoop


class Tracker(ABC):
    """Logs a search to a tracking tool: :meth:`start` once, :meth:`trial_finished` for every
    trial the search loop records, :meth:`run_finished` at the end (also after an error)."""

    def __init__(self, config: ExperimentConfig) -> None:
        self.config = config

    @abstractmethod
    def start(self, run_dir: Path) -> None:
        """Open the tool's run for the search in ``run_dir``."""

    @abstractmethod
    def trial_finished(self, trial: FrozenTrial, loop: SearchLoop) -> None:
        """Log one finished trial: its architecture, metrics, state and duration."""

    @abstractmethod
    def run_finished(self, run_dir: Path, frame: pd.DataFrame, error: str | None = None) -> None:
        """Log the run's artefacts and close the tool's run (``error``: why the search stopped)."""

    def row(self, trial: FrozenTrial) -> dict[str, Any]:
        """The trial as its trials.csv row, plus its architecture's decisions (``decisions``)."""
        return {**trial_row(trial, self.config.objectives), "decisions": dict(trial.params)}


def numeric(row: dict[str, Any]) -> dict[str, float]:
    """The row's numbers (metrics, objective values, duration), for the tools' metric logs."""
    skip = {"trial", "duplicate_of", "decisions", "feasible"}
    return {
        k: float(v)
        for k, v in row.items()
        if k not in skip and isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
    }


def missing_package(tracker: str, package: str, extra: str) -> NasError:
    """The one-line error for a tracker whose package is not installed."""
    return NasError(
        f"tracking.{tracker} needs the {package!r} package; install it with pip install 'nas[{extra}]' "
        f"(or remove tracking.{tracker} from the config)"
    )


def run_artefacts(run_dir: Path, out: Path) -> list[Path]:
    """The run's artefacts to log: its config and Pareto front, and (where they can be made) the
    Pareto plot and the exported best module, written under ``out``."""
    files = [p for p in (run_dir / "config.yaml", run_dir / "pareto.csv") if p.is_file()]
    from nas.results.plots import write_plots
    from nas.results.runs import load_run

    try:
        files += write_plots([load_run(run_dir)], out / "plots", kinds=("pareto",), static=False)
    except NasError:  # nothing to plot (no completed trial)
        pass
    from nas.deploy.export_run import export_run

    try:
        for module, _ in export_run(run_dir, out / "best", best=True):
            files += sorted(module.parent.iterdir())
    except NasError:  # no completed trial, or no data set to size the network for
        pass
    return files


def artefacts_dir() -> tempfile.TemporaryDirectory:
    """A scratch folder for the artefacts made at a run's end (logged, then removed)."""
    return tempfile.TemporaryDirectory(prefix="nas-tracking-")
