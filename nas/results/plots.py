"""Interactive plots of one or more runs: plotly HTML pages with plotly.js embedded (work offline).

Each kind of plot is a function ``(runs, options) -> list of figures`` in ``PLOTS``; ``write_plots``
writes one page per kind that has figures (``pareto.html``, ``progress.html``, and for one-shot
runs ``alphas.html``: the alpha history of every search). A new kind is one more function there.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nas.errors import NasError
from nas.io import write_atomic
from nas.pareto import non_dominated
from nas.results.kinds import COLOR_BY, PLOT_KINDS
from nas.results.runs import PlotOptions, RunTrials, completed, direction

#: Metrics that are costs (minimised) and make good x axes against accuracy, in order of preference.
COST_METRICS = (
    "params",
    "flops",
    "latency_ms",
    "predicted_latency_ms",
    "activation_bytes",
    "int8_size_bytes",
    "int8_latency_ms",
)
#: Legends go below the plot: run labels are long.
LEGEND = {"orientation": "h", "yanchor": "top", "y": -0.15, "xanchor": "left", "x": 0}
#: Columns of the trial table that are not metrics.
BOOKKEEPING = {
    "trial",
    "state",
    "arch_id",
    "arch",
    "duplicate_of",
    "error",
    "started",
    "duration_s",
}


def hover_text(row: pd.Series, run: str) -> str:
    """Trial, run, architecture and every metric of one row, as plotly hover HTML (escaped)."""
    lines = [
        f"<b>trial {int(row['trial'])}</b> · {html.escape(run)}",
        html.escape(str(row.get("arch", ""))),
    ]
    for key, value in row.items():
        if key in BOOKKEEPING or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isnan(value):
            shown = f"{int(value):,}" if float(value).is_integer() else f"{value:.4g}"
            lines.append(f"{html.escape(str(key))}: {shown}")
    return "<br>".join(lines)


def _groups(runs: Sequence[RunTrials], color: str) -> dict[str, list[RunTrials]]:
    if color not in COLOR_BY:
        raise NasError(f"--color must be one of {', '.join(COLOR_BY)}, got {color!r}")
    groups: dict[str, list[RunTrials]] = {}
    for run in runs:
        groups.setdefault(run.label if color == "run" else run.strategy, []).append(run)
    return groups


def default_axes(runs: Sequence[RunTrials]) -> tuple[list[str], str]:
    """x metrics and the y metric to plot when none are given: the first objective against the
    other objectives, or against the cost metrics the trials have."""
    objectives = list(runs[0].objectives)
    y = objectives[0]
    others = objectives[1:]
    if others:
        return others, y
    columns = set().union(*(set(r.frame.columns) for r in runs))
    return [m for m in COST_METRICS if m in columns], y


def pareto_figures(runs: Sequence[RunTrials], options: PlotOptions) -> list:
    """One figure per x metric: every trial as a point, each group's Pareto front as a line."""
    import plotly.graph_objects as go

    xs, y = options.x, options.y
    if not xs or y is None:
        default_x, default_y = default_axes(runs)
        xs, y = xs or default_x, y or default_y
    figures = []
    for x in xs:
        fig = go.Figure()
        dirs = [direction(x, runs[0].objectives), direction(y, runs[0].objectives)]
        for index, (group, members) in enumerate(_groups(runs, options.color).items()):
            _add_pareto_traces(fig, group, members, x, y, dirs, index)
        if not fig.data:
            raise NasError(
                f"no completed trial has both {x!r} and {y!r}; pick metrics with --x / --y "
                "(nas show RUN --all-columns lists them)"
            )
        fig.update_layout(
            title=f"Pareto front: {y} ({dirs[1]}) vs {x} ({dirs[0]})",
            xaxis_title=x,
            yaxis_title=y,
            hovermode="closest",
            template="plotly_white",
            legend=LEGEND,
        )
        if x in COST_METRICS:
            fig.update_xaxes(type="log")
        figures.append(fig)
    return figures


def _add_pareto_traces(
    fig, group: str, runs: Sequence[RunTrials], x: str, y: str, dirs: list[str], index: int
) -> None:
    import plotly.colors
    import plotly.graph_objects as go

    color = plotly.colors.qualitative.Plotly[index % len(plotly.colors.qualitative.Plotly)]
    rows = [(run.label, row) for run in runs for _, row in completed(run.frame, x, y).iterrows()]
    if not rows:
        return
    xv = [float(r[x]) for _, r in rows]
    yv = [float(r[y]) for _, r in rows]
    text = [hover_text(r, label) for label, r in rows]
    fig.add_trace(
        go.Scatter(
            x=xv,
            y=yv,
            mode="markers",
            name=f"{group}: all trials",
            legendgroup=group,
            text=text,
            hovertemplate="%{text}<extra></extra>",
            marker={"color": color, "opacity": 0.45, "size": 8},
        )
    )
    front = np.flatnonzero(non_dominated(list(zip(xv, yv, strict=False)), dirs))
    front = front[np.argsort([xv[i] for i in front], kind="stable")]
    fig.add_trace(
        go.Scatter(
            x=[xv[i] for i in front],
            y=[yv[i] for i in front],
            mode="lines+markers",
            name=f"{group}: Pareto front",
            legendgroup=group,
            text=[text[i] for i in front],
            hovertemplate="%{text}<extra></extra>",
            line={"color": color, "shape": "hv"},
            marker={"color": color, "size": 12, "line": {"color": "black", "width": 1.5}},
        )
    )


def progress_figures(runs: Sequence[RunTrials], options: PlotOptions) -> list:
    """Best-so-far of the first objective against the trial number and against elapsed time."""
    import plotly.graph_objects as go

    metric = options.y or next(iter(runs[0].objectives))
    best = direction(metric, runs[0].objectives)
    figures = []
    for against in ("trial", "time"):
        fig = go.Figure()
        for index, (group, members) in enumerate(_groups(runs, options.color).items()):
            for run in members:
                _add_progress_traces(fig, group, run, metric, best, against, index)
        x_title = "trial" if against == "trial" else "seconds since the run started"
        fig.update_layout(
            title=f"Best {metric} so far ({best}) vs {x_title}",
            xaxis_title=x_title,
            yaxis_title=metric,
            hovermode="closest",
            template="plotly_white",
            legend=LEGEND,
        )
        figures.append(fig)
    return figures


def _progress_x(frame: pd.DataFrame, against: str) -> pd.Series:
    if against == "trial":
        return frame["trial"].astype(float)
    started = pd.to_datetime(frame["started"], errors="coerce")
    finished = started + pd.to_timedelta(
        pd.to_numeric(frame["duration_s"], errors="coerce"), unit="s"
    )
    return (finished - started.min()).dt.total_seconds()


def _add_progress_traces(
    fig, group: str, run: RunTrials, metric: str, best: str, against: str, index: int
) -> None:
    import plotly.colors
    import plotly.graph_objects as go

    frame = run.frame
    if frame.empty or metric not in frame:
        return
    done = frame[frame["state"] == "complete"].copy()
    done = done[np.isfinite(pd.to_numeric(done[metric], errors="coerce").to_numpy(dtype=float))]
    done["_x"] = _progress_x(done, against)
    done = done[np.isfinite(done["_x"].to_numpy(dtype=float))].sort_values(
        ["_x", "trial"], kind="stable"
    )
    if done.empty:
        return
    values = done[metric].astype(float)
    running = values.cummax() if best == "maximize" else values.cummin()
    color = plotly.colors.qualitative.Plotly[index % len(plotly.colors.qualitative.Plotly)]
    text = [hover_text(r, run.label) for _, r in done.iterrows()]
    name = run.label if group == run.label else f"{group} · {run.label}"
    fig.add_trace(
        go.Scatter(
            x=done["_x"].tolist(),
            y=values.tolist(),
            mode="markers",
            name=f"{name}: trials",
            legendgroup=name,
            text=text,
            hovertemplate="%{text}<extra></extra>",
            marker={"color": color, "opacity": 0.35, "size": 7},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=done["_x"].tolist(),
            y=running.tolist(),
            mode="lines",
            name=f"{name}: best so far",
            legendgroup=name,
            line={"color": color, "shape": "hv", "width": 2.5},
            hoverinfo="skip",
        )
    )


def alpha_history_figure(rows: pd.DataFrame, title: str):
    """One panel per decision (or DARTS edge), one line per choice: its weight over the epochs.

    ``rows``: a one-shot search's ``alphas.csv`` (columns epoch, decision, choice, weight).
    """
    import plotly.colors
    from plotly.subplots import make_subplots

    decisions = list(dict.fromkeys(rows["decision"]))
    choices = list(dict.fromkeys(rows["choice"].astype(str)))
    palette = plotly.colors.qualitative.Plotly
    cols = min(len(decisions), 7) or 1
    nrows = max(1, math.ceil(len(decisions) / cols))
    fig = make_subplots(
        rows=nrows,
        cols=cols,
        subplot_titles=decisions,
        shared_yaxes=True,
        vertical_spacing=min(0.12, 0.5 / nrows),
        horizontal_spacing=0.02,
    )
    shown: set[str] = set()
    for (decision, choice), line in rows.groupby(
        ["decision", rows["choice"].astype(str)], sort=False
    ):
        k, c = decisions.index(decision), choices.index(choice)
        fig.add_scatter(
            x=line["epoch"].tolist(),
            y=line["weight"].tolist(),
            mode="lines",
            name=choice,
            legendgroup=choice,
            line={"color": palette[c % len(palette)]},
            showlegend=choice not in shown,
            row=k // cols + 1,
            col=k % cols + 1,
        )
        shown.add(choice)
    fig.update_yaxes(range=[0, 1])
    fig.update_layout(
        title=title, height=max(360, 220 * nrows), template="plotly_white", legend=LEGEND
    )
    return fig


def alpha_figures(runs: Sequence[RunTrials], options: PlotOptions) -> list:
    """The alpha history of every one-shot search of the runs (none for black-box runs)."""
    figures = []
    for run in runs:
        for path in sorted(
            (run.path / "oneshot").glob("search-*/alphas.csv"),
            key=lambda p: int(p.parent.name.rpartition("-")[2]),
        ):
            title = f"{run.label} {path.parent.name}: {run.strategy} choice weights per epoch"
            figures.append(alpha_history_figure(pd.read_csv(path), title))
    return figures


#: Each kind of plot: the page it is written to, and the function that makes its figures.
PLOTS: dict[str, tuple[str, Callable[[Sequence[RunTrials], PlotOptions], list]]] = {
    "pareto": ("pareto.html", pareto_figures),
    "progress": ("progress.html", progress_figures),
    "alphas": ("alphas.html", alpha_figures),
}
assert tuple(PLOTS) == PLOT_KINDS, "every kind of plot is named in nas.results.kinds"


def write_page(figures: Sequence, path: Path, title: str) -> Path:
    """One self-contained HTML page holding ``figures`` (plotly.js embedded once, no network needed)."""
    parts = [
        fig.to_html(
            full_html=False, include_plotlyjs=(i == 0), default_width="100%", default_height="640px"
        )
        for i, fig in enumerate(figures)
    ]
    page = (
        f'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
        f'</head>\n<body>\n<h2 style="font-family: sans-serif">{html.escape(title)}</h2>\n'
        + "\n".join(parts)
        + "\n</body>\n</html>\n"
    )
    write_atomic(path, page)
    return path


def write_static(figures: Sequence, path: Path) -> list[Path]:
    """PNG files of the figures where a renderer (kaleido) is installed; none otherwise."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return []
    written: list[Path] = []
    for i, fig in enumerate(figures):
        target = path.with_name(f"{path.stem}_{i + 1}.png")
        try:
            fig.write_image(str(target), width=1000, height=650)
        except Exception:  # kaleido present but unable to render here (no browser for it): skip
            return written
        written.append(target)
    return written


def write_plots(
    runs: Sequence[RunTrials],
    out_dir: str | Path,
    *,
    kinds: Sequence[str] = tuple(PLOTS),
    options: PlotOptions | None = None,
    static: bool = True,
) -> list[Path]:
    """Write one page per kind of plot into ``out_dir``; returns the files written."""
    if not runs:
        raise NasError("nas plot needs at least one run folder")
    options = options or PlotOptions(color="run" if len(runs) > 1 else "strategy")
    title_runs = ", ".join(r.label for r in runs)
    written: list[Path] = []
    for kind in kinds:
        if kind not in PLOTS:
            raise NasError(f"unknown plot {kind!r}; choose from {', '.join(PLOTS)}")
        filename, make = PLOTS[kind]
        figures = make(runs, options)
        if not figures:  # e.g. no alpha history in a black-box run
            continue
        path = write_page(figures, Path(out_dir) / filename, f"{kind}: {title_runs}")
        written.append(path)
        if static:
            written.extend(write_static(figures, path))
    if not written:
        raise NasError(
            f"nothing to plot: {', '.join(kinds)} found no data in {title_runs} "
            "(the alpha history needs a one-shot run: strategy darts or enas)"
        )
    return written
