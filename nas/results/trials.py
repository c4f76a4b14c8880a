"""Trial rows: one flat record per Optuna trial, the trials.csv log and the best-first table."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from nas.constraints import VIOLATIONS_ATTR
from nas.io import replacing
from nas.pareto import non_dominated

LEAD_COLUMNS = ["trial", "state", "arch_id", "arch"]
TAIL_COLUMNS = ["feasible", "duplicate_of", "error", "started", "duration_s"]
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def trial_row(trial: FrozenTrial, objectives: Mapping[str, str]) -> dict[str, Any]:
    """Flatten a trial: number, state, architecture, objective values, metrics, timings."""
    attrs = trial.user_attrs
    row: dict[str, Any] = {
        "trial": trial.number,
        "state": trial.state.name.lower(),
        "arch_id": attrs.get("arch_id", ""),
        "arch": attrs.get("arch", ""),
    }
    metrics = attrs.get("metrics") or {}
    for i, name in enumerate(objectives):
        row[name] = trial.values[i] if trial.values else metrics.get(name)
    for key, value in metrics.items():
        row.setdefault(key, value)
    if VIOLATIONS_ATTR in attrs:
        row["feasible"] = all(v <= 0 for v in attrs[VIOLATIONS_ATTR])
    row["duplicate_of"] = attrs.get("duplicate_of")
    row["error"] = attrs.get("error")
    row["started"] = (
        trial.datetime_start.isoformat(timespec="seconds") if trial.datetime_start else None
    )
    duration = trial.duration
    row["duration_s"] = round(duration.total_seconds(), 3) if duration is not None else None
    return row


def rows_frame(rows: Iterable[Mapping[str, Any]], objectives: Mapping[str, str]) -> pd.DataFrame:
    """Rows as a DataFrame, best first by the first objective (unfinished and failed trials last)."""
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        return frame
    key, direction = next(iter(objectives.items()))
    if key in frame:
        frame[key] = pd.to_numeric(frame[key], errors="coerce")
        frame = frame.sort_values(
            [key, "trial"],
            ascending=[direction == "minimize", True],
            na_position="last",
            kind="stable",
        )
    return frame.reset_index(drop=True)


def pareto_front(frame: pd.DataFrame, objectives: Mapping[str, str]) -> pd.DataFrame:
    """The rows of ``frame`` on the Pareto front: completed, first evaluations (no duplicates),
    feasible, and dominated by no other such row; in the frame's order (best first)."""
    if frame.empty:
        return frame
    keep = frame["state"] == "complete"
    if "duplicate_of" in frame:
        keep &= frame["duplicate_of"].isna()
    if "feasible" in frame:
        keep &= frame["feasible"].astype(str).str.lower() == "true"
    candidates = frame[keep]
    values = candidates[list(objectives)].to_numpy(dtype=float)
    return candidates[non_dominated(values, list(objectives.values()))].reset_index(drop=True)


def write_pareto(path: Path, frame: pd.DataFrame, objectives: Mapping[str, str]) -> pd.DataFrame:
    """Write the Pareto front of a run's trials to ``path`` (CSV); returns it."""
    front = pareto_front(frame, objectives)
    with replacing(path) as tmp:
        front.to_csv(tmp, index=False)
    return front


class TrialLog:
    """Keeps ``trials.csv`` in step with finished trials: appends rows, rewrites when columns grow."""

    def __init__(self, path: Path, objectives: Mapping[str, str]) -> None:
        self.path = path
        self.objectives = dict(objectives)
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = []

    def rewrite(self, trials: Iterable[FrozenTrial]) -> None:
        """Write the whole file from the study's finished trials."""
        self.rows = [trial_row(t, self.objectives) for t in trials if t.state in FINISHED]
        self.columns = self._columns_for(self.rows)
        self._rewrite_rows()

    def append(self, trial: FrozenTrial) -> None:
        """Add one finished trial (rewriting the file if it brings a new column)."""
        row = trial_row(trial, self.objectives)
        self.rows.append(row)
        if not self.path.exists() or any(k not in self.columns for k in row):
            self.columns = self._columns_for(self.rows)
            self._rewrite_rows()
            return
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, self.columns).writerow(_clean(row))

    def _rewrite_rows(self) -> None:
        with replacing(self.path) as tmp, tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, self.columns)
            writer.writeheader()
            writer.writerows(_clean(r) for r in self.rows)

    def _columns_for(self, rows: list[dict[str, Any]]) -> list[str]:
        middle: list[str] = list(self.objectives)
        for row in rows:
            middle.extend(
                k for k in row if k not in middle and k not in LEAD_COLUMNS + TAIL_COLUMNS
            )
        return LEAD_COLUMNS + middle + TAIL_COLUMNS


def _clean(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else v)
        for k, v in row.items()
    }


def format_table(
    frame: pd.DataFrame, limit: int | None = 10, columns: list[str] | None = None
) -> str:
    """A plain-text table of the first ``limit`` rows: numbers right-aligned and rounded, text left."""
    if frame.empty:
        return "(no finished trials yet)"
    shown = frame.head(limit) if limit else frame
    if columns:
        shown = shown[[c for c in columns if c in shown]]
    cells = {col: column_cells(shown[col]) for col in shown.columns}
    numeric = {col: pd.api.types.is_numeric_dtype(shown[col]) for col in shown.columns}
    widths = {col: max([len(col), *map(len, vals)]) for col, vals in cells.items()}

    def line(values: dict[str, str]) -> str:
        parts = [
            v.rjust(widths[c]) if numeric[c] else v.ljust(widths[c]) for c, v in values.items()
        ]
        return "  ".join(parts).rstrip()

    lines = [line({c: c for c in shown.columns})]
    lines += [line({c: cells[c][i] for c in shown.columns}) for i in range(len(shown))]
    return "\n".join(lines)


def column_cells(column: pd.Series) -> list[str]:
    """Display strings of a column: whole numbers with thousands separators, others to 2 decimals."""
    values = list(column)
    numbers = [
        v
        for v in values
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not pd.isna(v)
    ]
    whole = all(float(v).is_integer() for v in numbers)
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append("")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(f"{int(v):,}" if whole else f"{v:.2f}")
        else:
            out.append(str(v))
    return out
