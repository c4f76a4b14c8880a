"""A one-shot search's history: choice weights per decision per epoch, epoch statistics, plots.

``alphas.csv`` (long format: epoch, decision, choice, weight) holds the softmax weights of the
architecture parameters for DARTS (epoch 0 is the initialisation) and the controller's choice
frequencies for ENAS; ``epochs.csv`` one row of statistics per epoch; ``alphas.html`` plots the
weights, one panel per decision (or edge), as a self-contained plotly page.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nas.io import write_atomic

ALPHAS_FILE = "alphas.csv"
EPOCHS_FILE = "epochs.csv"
PLOT_FILE = "alphas.html"


def weight_rows(epoch: int, weights: Mapping[str, Mapping[str, float]]) -> list[dict[str, Any]]:
    """Long-format rows of one epoch's weights: one per (decision, choice)."""
    return [
        {"epoch": epoch, "decision": name, "choice": str(choice), "weight": float(w)}
        for name, row in weights.items()
        for choice, w in row.items()
    ]


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_history(
    folder: Path, alphas: Sequence[Mapping[str, Any]], epochs: Sequence[Mapping[str, Any]]
) -> None:
    """Rewrite ``alphas.csv`` and ``epochs.csv`` from the whole history so far."""
    write_atomic(folder / ALPHAS_FILE, _csv(alphas))
    if epochs:
        write_atomic(folder / EPOCHS_FILE, _csv(epochs))


def write_plot(folder: Path, alphas: Sequence[Mapping[str, Any]], title: str) -> Path:
    """Write ``alphas.html``: the weights' history as a self-contained plotly page (plotly.js inside)."""
    import pandas as pd

    from nas.results.plots import alpha_history_figure, write_page

    return write_page(
        [alpha_history_figure(pd.DataFrame(list(alphas)), title)], folder / PLOT_FILE, title
    )
