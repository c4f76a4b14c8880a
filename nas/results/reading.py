"""Reading a run folder's trials back (for ``nas show`` and Python users)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd

from nas.config import read_yaml
from nas.errors import NasError
from nas.results.run_folder import JOURNAL_FILE, RunFolder
from nas.results.trials import rows_frame, trial_row


def run_objectives(path: str | Path) -> dict[str, str]:
    """The objectives of a run (name -> direction), from its saved config."""
    run = RunFolder.open(path)
    raw = read_yaml(run.config_path)
    missing = [
        key for key in ("name", "space", "strategy", "evaluator", "objectives") if key not in raw
    ]
    if missing:  # a run folder's config is the resolved one: every section is written out
        raise NasError(
            f"{str(path)!r} is not a nas run folder (its {run.config_path.name} has no "
            f"{missing[0]!r}); pass results/<experiment>/<run-id>"
        )
    objectives = raw["objectives"]
    if not isinstance(objectives, dict):
        raise NasError(
            f"{str(run.config_path)!r} has malformed objectives; is this a nas run folder?"
        )
    return objectives


def load_trials(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """All trials of a run (running ones included), best first, and the objective names."""
    run = RunFolder.open(path)
    raw = read_yaml(run.config_path)
    objectives = run_objectives(path)
    storage_url = raw.get("storage")
    if not storage_url and not (run.path / JOURNAL_FILE).exists():
        run.check_journal_kept()  # no journal yet, unless it was lost: trials.csv then says so
        return pd.DataFrame(), list(objectives)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=run.study_name, storage=run.storage(storage_url))
    except KeyError:
        return pd.DataFrame(), list(objectives)
    except ValueError as exc:
        if storage_url:
            raise NasError(f"cannot read the trials of {str(path)!r}: {exc}") from None
        raise run.corrupt_journal_error(exc) from None
    except NasError:
        raise
    except Exception as exc:
        raise NasError(f"cannot read the trials of {str(path)!r}: {exc}") from None
    rows = [trial_row(t, objectives) for t in study.get_trials(deepcopy=False)]
    return rows_frame(rows, objectives), list(objectives)


def best_arch_text(path: str | Path) -> str | None:
    """The architecture (in the space's notation) of the run's best completed trial, or None."""
    frame, _ = load_trials(path)
    if frame.empty:
        return None
    done = frame[frame["state"] == "complete"]
    if "duplicate_of" in done:
        done = done[done["duplicate_of"].isna()]
    return None if done.empty else str(done.iloc[0]["arch"])
