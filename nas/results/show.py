"""Trial tables of one or more runs (what ``nas show`` prints): merged, sorted, as text, CSV, JSON
or Markdown."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from nas.errors import NasError, did_you_mean
from nas.results.kinds import FORMATS

TABLE_COLUMNS = [
    "trial",
    "state",
    "params",
    "flops",
    "predicted_latency_ms",
    "epochs",
    "test_accuracy",
    "feasible",
    "duration_s",
    "duplicate_of",
    "arch",
    "error",
]


def table_columns(objectives: Sequence[str], available: Sequence[str]) -> list[str]:
    """The short column set: run (when several), trial, state, objectives, then the usual extras."""
    head = ["run", "trial", "state", *objectives]
    return [c for c in head if c in available] + [
        c for c in TABLE_COLUMNS if c not in head and c in available
    ]


def load_runs(
    paths: Sequence[str | Path], pareto: bool = False
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The trials of several runs in one frame (with a ``run`` column when there are several),
    and the first run's objectives; with ``pareto``, only each run's Pareto front."""
    from nas.results.reading import load_trials, run_objectives
    from nas.results.runs import run_label
    from nas.results.trials import pareto_front

    objectives = run_objectives(paths[0])
    frames = []
    for path in paths:
        frame, _ = load_trials(path)
        if pareto:
            frame = pareto_front(frame, run_objectives(path))
        if len(paths) > 1:
            frame.insert(0, "run", run_label(path))
        frames.append(frame)
    frames = [f for f in frames if not f.empty]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), objectives


def sort_frame(frame: pd.DataFrame, spec: str | None, objectives: dict[str, str]) -> pd.DataFrame:
    """Sort by ``COLUMN[:asc|:desc]`` (objectives best first by default, other columns ascending);
    without a spec, by the first objective, best first. Missing values go last."""
    if frame.empty:
        return frame
    column, _, order = (spec or next(iter(objectives))).partition(":")
    if column not in frame:
        if spec is None:
            return frame
        raise NasError(
            f"cannot sort by {column!r}: no such column{did_you_mean(column, frame.columns)}; "
            f"columns: {', '.join(frame.columns)}"
        )
    if order not in ("", "asc", "desc"):
        raise NasError(f"--sort {spec!r}: the order after ':' must be asc or desc")
    descending = order == "desc" if order else objectives.get(column) == "maximize"
    keys = pd.to_numeric(frame[column], errors="coerce") if column != "arch" else frame[column]
    if keys.isna().all() and not frame[column].isna().all():
        keys = frame[column].astype(str)
    ties = ["run", "trial"] if "run" in frame else ["trial"]
    ordered = frame.assign(_key=keys).sort_values(
        ["_key", *ties],
        ascending=[not descending] + [True] * len(ties),
        na_position="last",
        kind="stable",
    )
    return ordered.drop(columns="_key").reset_index(drop=True)


def format_markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned, '|' escaped)."""
    from nas.results.trials import column_cells

    if frame.empty:
        return "(no finished trials yet)"
    cells = {c: [v.replace("|", "\\|") for v in column_cells(frame[c])] for c in frame.columns}
    numeric = {c: pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns}
    lines = [
        "| " + " | ".join(map(str, frame.columns)) + " |",
        "| " + " | ".join("---:" if numeric[c] else "---" for c in frame.columns) + " |",
    ]
    lines += [
        "| " + " | ".join(cells[c][i] for c in frame.columns) + " |" for i in range(len(frame))
    ]
    return "\n".join(lines)


def render(frame: pd.DataFrame, fmt: str) -> str:
    """The frame as ``table``, ``csv``, ``json`` (a list of records) or ``markdown``."""
    if fmt not in FORMATS:
        raise NasError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    from nas.results.trials import format_table

    if fmt == "table":
        return format_table(frame, None)
    if fmt == "markdown":
        return format_markdown(frame)
    if fmt == "csv":
        return frame.to_csv(index=False).rstrip("\n")
    records = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]
    return json.dumps(records, indent=2, default=str)
