"""TensorBoard: the trials as scalars (step = trial number), hparams (one entry per trial:
architecture decisions and state against its metrics) and text, the run's artefacts as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from optuna.trial import FrozenTrial

from nas.config import ExperimentConfig
from nas.tracking.base import Tracker, artefacts_dir, missing_package, numeric, run_artefacts

#: Text artefacts shown in TensorBoard's text dashboard (plots and weights are not text).
TEXT_SUFFIXES = (".yaml", ".csv", ".py")


class TensorBoardTracker(Tracker):
    """Writes TensorBoard event files under ``dir`` (relative paths: from the working folder),
    one sub-folder per run (``<experiment>/<run-id>``)."""

    def __init__(self, config: ExperimentConfig, *, dir: str) -> None:
        super().__init__(config)
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError:
            raise missing_package("tensorboard", "tensorboard", "tensorboard") from None
        self.dir = Path(dir)
        self.writer: Any = None

    def start(self, run_dir: Path) -> None:
        """Open the run's event file."""
        from torch.utils.tensorboard import SummaryWriter

        self.logdir = self.dir / run_dir.parent.name / run_dir.name
        self.writer = SummaryWriter(str(self.logdir))

    def trial_finished(self, trial: FrozenTrial, loop: Any) -> None:
        """Scalars ``trial/<metric>`` at step = trial number, the architecture as text, and an
        hparams entry (decisions, state -> metrics)."""
        row = self.row(trial)
        metrics = numeric(row)
        for key, value in metrics.items():
            self.writer.add_scalar(f"trial/{key}", value, trial.number)
        text = f"state: {row['state']}  \narch: {row['arch']}  \narch_id: {row['arch_id']}"
        if row.get("error"):
            text += f"  \nerror: {row['error']}"
        self.writer.add_text("trial", text, trial.number)
        hparams = {
            k: (v if isinstance(v, (int, float, str, bool)) else str(v))
            for k, v in row["decisions"].items()
        }
        hparams["state"] = row["state"]
        self.writer.add_hparams(
            hparams,
            {f"hparam/{k}": v for k, v in metrics.items()},
            run_name=f"trial-{trial.number}",
            global_step=trial.number,
        )
        self.writer.flush()

    def run_finished(self, run_dir: Path, frame: pd.DataFrame, error: str | None = None) -> None:
        """The config, Pareto front and best module as text; close the event file."""
        with artefacts_dir() as tmp:
            for path in run_artefacts(run_dir, Path(tmp)):
                if path.suffix in TEXT_SUFFIXES:
                    body = path.read_text(encoding="utf-8", errors="replace")
                    self.writer.add_text(f"artefacts/{path.name}", f"```\n{body}\n```")
        if error is not None:
            self.writer.add_text("error", error)
        self.writer.close()
