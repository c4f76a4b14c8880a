"""A one-shot search's history: choice weights per decision per epoch, epoch statistics, plots.

``alphas.csv`` (long format: epoch, decision, choice, weight) holds the softmax weights of the
architecture parameters for DARTS (epoch 0 is the initialisation) and the controller's choice
frequencies for ENAS; ``epochs.csv`` one row of statistics per epoch; ``alphas.html`` plots the
weights, one panel per decision (or edge), as a self-contained plotly page.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nas.oneshot.base import write_atomic

ALPHAS_FILE = "alphas.csv"
EPOCHS_FILE = "epochs.csv"
PLOT_FILE = "alphas.html"


def weight_rows(epoch: int, weights: Mapping[str, Mapping[str, float]]) -> list[dict[str, Any]]:
    """Long-format rows of one epoch's weights: one per (decision, choice)."""
    return [{"epoch": epoch, "decision": name, "choice": str(choice), "weight": float(w)}
            for name, row in weights.items() for choice, w in row.items()]


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_history(folder: Path, alphas: Sequence[Mapping[str, Any]], epochs: Sequence[Mapping[str, Any]]) -> None:
    """Rewrite ``alphas.csv`` and ``epochs.csv`` from the whole history so far."""
    write_atomic(folder / ALPHAS_FILE, _csv(alphas))
    if epochs:
        write_atomic(folder / EPOCHS_FILE, _csv(epochs))


def write_plot(folder: Path, alphas: Sequence[Mapping[str, Any]], title: str) -> Path:
    """Write ``alphas.html``: the weights' history as a self-contained plotly page (plotly.js inside)."""
    path = folder / PLOT_FILE
    write_atomic(path, alpha_figure(alphas, title).to_html(include_plotlyjs=True, full_html=True))
    return path


def alpha_figure(rows: Sequence[Mapping[str, Any]], title: str) -> Any:
    """A plotly figure: one panel per decision, one line per choice (its weight over the epochs)."""
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    decisions = list(dict.fromkeys(r["decision"] for r in rows))
    choices = list(dict.fromkeys(r["choice"] for r in rows))
    colors = {c: qualitative.Plotly[i % len(qualitative.Plotly)] for i, c in enumerate(choices)}
    cols = min(len(decisions), 7) or 1
    nrows = max(1, math.ceil(len(decisions) / cols))
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=decisions, shared_yaxes=True,
                        vertical_spacing=min(0.12, 0.5 / nrows), horizontal_spacing=0.02)
    series: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
    for r in rows:
        xs, ys = series.setdefault((r["decision"], r["choice"]), ([], []))
        xs.append(int(r["epoch"]))
        ys.append(float(r["weight"]))
    shown: set[str] = set()
    for (decision, choice), (xs, ys) in series.items():
        k = decisions.index(decision)
        fig.add_scatter(x=xs, y=ys, mode="lines", name=choice, legendgroup=choice,
                        line={"color": colors[choice]}, showlegend=choice not in shown,
                        row=k // cols + 1, col=k % cols + 1)
        shown.add(choice)
    fig.update_yaxes(range=[0, 1])
    fig.update_layout(title=title, height=max(320, 220 * nrows), template="plotly_white",
                      legend={"title": "choice"})
    return fig
