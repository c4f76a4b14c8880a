"""MLflow: one MLflow run per search, one nested run per trial, the run's artefacts on the parent.

Uses ``MlflowClient`` only (no fluent API, no global active run). Any tracking URI MLflow takes
works; no server is needed for ``sqlite:///mlflow.db`` (MLflow 3 keeps its plain-folder store in
maintenance mode).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from nas.config import ExperimentConfig
from nas.tracking.base import Tracker, artefacts_dir, missing_package, numeric, run_artefacts

#: MLflow's statuses of a finished run, by trial state.
STATUS = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "KILLED", TrialState.FAIL: "FAILED"}
PARENT_TAG, NAME_TAG = "mlflow.parentRunId", "mlflow.runName"


def param_key(decision: str) -> str:
    """A decision's name as an MLflow param key (MLflow refuses some characters, such as NAS-Bench-201's
    '1<-0': each becomes '_'; the architecture's own notation is in the run's 'arch' tag)."""
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", decision)


class MlflowTracker(Tracker):
    """Logs to MLflow: each trial a nested run (params: the architecture's decisions; metrics; tags:
    state, arch, arch_id, error), the search's run holding config, Pareto front, plot and best module.

    ``tracking_uri``: MLflow's (default: its own, e.g. ``MLFLOW_TRACKING_URI``); ``experiment``:
    default the config's name; ``artifact_location``: where a new experiment keeps artefacts
    (default MLflow's, ``./mlruns`` for a SQLite store).
    """

    def __init__(
        self,
        config: ExperimentConfig,
        *,
        tracking_uri: str | None = None,
        experiment: str | None = None,
        run_name: str | None = None,
        artifact_location: str | None = None,
    ) -> None:
        super().__init__(config)
        try:
            import mlflow  # noqa: F401
        except ImportError:
            raise missing_package("mlflow", "mlflow", "mlflow") from None
        self.tracking_uri, self.experiment = tracking_uri, experiment or config.name
        self.run_name, self.artifact_location = run_name, artifact_location
        self.client: Any = None
        self.parent = ""

    def start(self, run_dir: Path) -> None:
        """Open (or, on resume, reopen) the search's MLflow run."""
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        found = self.client.get_experiment_by_name(self.experiment)
        exp = (
            found.experiment_id
            if found
            else self.client.create_experiment(
                self.experiment, artifact_location=self.artifact_location
            )
        )
        name = self.run_name or f"{run_dir.parent.name}/{run_dir.name}"
        folder = str(run_dir.resolve())
        runs = self.client.search_runs(
            [exp], filter_string=f"tags.`nas.run_dir` = '{folder}'", max_results=1
        )
        if runs:
            self.parent = runs[0].info.run_id
            self.client.update_run(self.parent, status="RUNNING")
        else:
            tags = {
                NAME_TAG: name,
                "nas.run_dir": folder,
                "nas.strategy": self.config.strategy.name,
            }
            self.parent = self.client.create_run(exp, run_name=name, tags=tags).info.run_id
            params = {
                "strategy": self.config.strategy.name,
                "space": self.config.space.name,
                "evaluator": self.config.evaluator.name,
                "trials": self.config.trials,
                "seed": self.config.seed,
            }
            for key, value in params.items():
                self.client.log_param(self.parent, key, value)
        self.exp = exp

    def trial_finished(self, trial: FrozenTrial, loop: Any) -> None:
        """A nested run for the trial: the architecture as params, its numbers as metrics."""
        from mlflow.entities import Metric, Param

        row = self.row(trial)
        start = trial.datetime_start.timestamp() if trial.datetime_start else time.time()
        end = trial.datetime_complete.timestamp() if trial.datetime_complete else time.time()
        tags = {
            PARENT_TAG: self.parent,
            NAME_TAG: f"trial-{trial.number}",
            "state": row["state"],
            "arch": str(row["arch"]),
            "arch_id": str(row["arch_id"]),
            "trial": str(trial.number),
        }
        for key in ("error", "duplicate_of", "feasible"):
            if row.get(key) is not None:
                tags[key] = str(row[key])[:5000]
        run = self.client.create_run(self.exp, start_time=int(start * 1000), tags=tags)
        stamp = int(end * 1000)
        self.client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, stamp, 0) for k, v in numeric(row).items()],
            params=[Param(param_key(k), str(v)) for k, v in row["decisions"].items()],
        )
        self.client.set_terminated(run.info.run_id, STATUS.get(trial.state, "FAILED"), stamp)
        best = loop.best()
        if best is not None:
            objective = next(iter(self.config.objectives))
            self.client.log_metric(self.parent, f"best_{objective}", best, step=trial.number)

    def run_finished(self, run_dir: Path, frame: pd.DataFrame, error: str | None = None) -> None:
        """Log config, Pareto front and plot, and the exported best module; close the search's run."""
        with artefacts_dir() as tmp:
            for path in run_artefacts(run_dir, Path(tmp)):
                where = (
                    path.parent.relative_to(tmp).as_posix() if path.is_relative_to(tmp) else None
                )
                self.client.log_artifact(self.parent, str(path), artifact_path=where)
        if error is not None:
            self.client.set_tag(self.parent, "error", error[:5000])
        self.client.set_terminated(self.parent, "FAILED" if error else "FINISHED")
