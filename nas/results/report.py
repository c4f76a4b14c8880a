"""A run report (``nas report``): one self-contained, offline HTML page per run or set of runs.

It holds the runs' configs side by side, the Pareto front and progress plots of ``nas plot``,
the top architectures drawn (cells as graphs, networks as stage diagrams: ``diagram`` of the
space, see ``nas.diagrams``) with their metrics, Grad-CAM heat maps of those whose
trained weights the run kept, and the alpha history of one-shot searches. plotly.js is embedded
once, in the page's head, for every figure.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from nas.diagrams import diagram_of
from nas.errors import NasError
from nas.io import write_atomic
from nas.results.cam_views import Candidate, cam_section
from nas.results.drawing import render
from nas.results.plots import COST_METRICS, alpha_figures, pareto_figures, progress_figures
from nas.results.run_folder import RunFolder
from nas.results.runs import PlotOptions, RunTrials, load_run
from nas.space import SearchSpace

REPORT_FILE = "report.html"
STYLE = """
body { font-family: sans-serif; margin: 0 auto; max-width: 1280px; padding: 0 16px 40px; color: #222; }
h1 { font-size: 24px; } h2 { margin-top: 36px; border-bottom: 1px solid #ddd; }
nav a { margin-right: 14px; }
table.summary { border-collapse: collapse; font-size: 13px; }
table.summary th, table.summary td { border: 1px solid #ddd; padding: 4px 8px; text-align: left;
  vertical-align: top; }
table.summary th { background: #f5f5f5; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 10px 14px; margin: 14px 0; }
.card h3 { margin: 0 0 4px; font-size: 16px; } .metrics { margin: 4px 0; }
code.arch { display: block; word-break: break-all; font-size: 12px; color: #444; }
.parts { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.part { overflow-x: auto; max-width: 100%; } .part h4 { margin: 8px 0 2px; font-size: 13px; }
svg.nas-diagram { max-width: 100%; height: auto; }
table.nas-decisions { border-collapse: collapse; font-size: 12px; }
table.nas-decisions th, table.nas-decisions td { border: 1px solid #ddd; padding: 2px 6px; }
.camrow { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 4px; margin: 6px 0; }
.camlabel { width: 130px; font-size: 13px; }
figure.tile { margin: 0; text-align: center; font-size: 12px; }
figure.tile img { image-rendering: pixelated; display: block; }
figure.right figcaption { color: #1a7f37; } figure.wrong figcaption { color: #c62828; }
.note { color: #666; font-size: 13px; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 8px; }
"""


def write_report(
    runs: Sequence[str | Path],
    out: str | Path | None = None,
    *,
    top: int = 5,
    images: int = 8,
    gradcam: bool = True,
    options: PlotOptions | None = None,
) -> Path:
    """Write the report of ``runs`` to ``out`` (default: ``report.html`` in the first run folder)."""
    if not runs:
        raise NasError("nas report needs at least one run folder")
    if top < 1 or images < 1:
        raise NasError(f"--top and --images must be at least 1, got {top} and {images}")
    loaded = [load_run(path) for path in runs]
    target = Path(out) if out is not None else loaded[0].path / REPORT_FILE
    if target.is_dir():
        raise NasError(
            f"--out {str(target)!r} is a folder; name the page, e.g. {target / REPORT_FILE}"
        )
    options = options or PlotOptions(color="run" if len(loaded) > 1 else "strategy")
    title = "nas report: " + ", ".join(r.label for r in loaded)
    sections = [("runs", "Runs", summary_table(loaded))]
    sections.append(
        ("plots", "Search", figures_html(loaded, options, (pareto_figures, progress_figures)))
    )
    for i, run in enumerate(loaded):
        sections.append(
            (f"top-{i}", f"Best architectures: {run.label}", top_section(run, top, images, gradcam))
        )
    alphas = figures_html(loaded, options, (alpha_figures,), missing="", css="wide")
    if alphas:
        sections.append(("alphas", "One-shot search: alpha history", alphas))
    write_atomic(target, page(title, sections))
    return target


def page(title: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """The whole HTML page: plotly.js once in the head, a table of contents, the sections."""
    from plotly.offline import get_plotlyjs

    nav = "".join(f'<a href="#{a}">{html.escape(h)}</a>' for a, h, _ in sections)
    body = "".join(
        f'<section id="{a}"><h2>{html.escape(h)}</h2>{b}</section>' for a, h, b in sections
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
        f"<style>{STYLE}</style>\n"
        f'<script type="text/javascript">{get_plotlyjs()}</script>\n</head>\n<body>\n'
        f"<h1>{html.escape(title)}</h1>\n<nav>{nav}</nav>\n{body}\n</body>\n</html>\n"
    )


def figures_html(
    runs: Sequence[RunTrials],
    options: PlotOptions,
    makers: Sequence[Callable[[Sequence[RunTrials], PlotOptions], list]],
    missing: str = '<p class="note">No completed trial to plot yet.</p>',
    css: str = "figures",
) -> str:
    """The figures of ``nas plot`` as divs that use the page's one plotly.js."""
    parts = []
    for make in makers:
        try:
            figures = make(runs, options)
        except NasError as exc:  # e.g. no completed trial has the metrics: say so, draw the rest
            parts.append(f'<p class="note">{html.escape(str(exc))}</p>')
            continue
        parts += [
            f.to_html(
                full_html=False,
                include_plotlyjs=False,
                default_width="100%",
                default_height="440px",
                config={"responsive": True},
            )
            for f in figures
        ]
    return f'<div class="{css}">{"".join(parts)}</div>' if parts else missing


def summary_table(runs: Sequence[RunTrials]) -> str:
    """The runs' configs and outcomes side by side, one column per run."""
    columns = [run_summary(run) for run in runs]
    keys = list(dict.fromkeys(k for c in columns for k in c))
    head = "".join(f"<th>{html.escape(r.label)}</th>" for r in runs)
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th>"
        + "".join(f"<td>{html.escape(c.get(k, ''))}</td>" for c in columns)
        + "</tr>"
        for k in keys
    )
    return f'<table class="summary"><tr><th></th>{head}</tr>{rows}</table>'


def run_summary(run: RunTrials) -> dict[str, str]:
    """What a reader wants to know about one run, as text."""
    folder = RunFolder.open(run.path)
    config, meta = folder.load_config(), folder.meta()
    states = run.frame["state"].value_counts().to_dict() if not run.frame.empty else {}
    first = next(iter(run.objectives))
    done = completed_rows(run.frame)
    best = (
        f"{metric_text(done.iloc[0][first])} (trial {int(done.iloc[0]['trial'])})"
        if not done.empty
        else "-"
    )
    return {
        "experiment": config.name,
        "created": str(meta.get("created", "")),
        "device": str(meta.get("device", "")),
        "seed": str(config.seed),
        "trials (budget)": str(config.trials),
        "trials run": ", ".join(f"{n} {s}" for s, n in states.items()) or "none yet",
        "space": component(config.space),
        "dataset": component(config.dataset) if config.dataset else "-",
        "strategy": component(config.strategy),
        "evaluator": component(config.evaluator),
        "pruner": component(config.pruner),
        "executor": component(config.executor),
        "objectives": ", ".join(f"{k} ({v})" for k, v in config.objectives.items()),
        "constraints": ", ".join(f"{k} {v}" for k, v in config.constraints.items()) or "-",
        f"best {first}": best,
    }


def component(section: Any) -> str:
    """``name (key=value, ...)`` of a config section naming a plugin."""
    options = ", ".join(f"{k}={v}" for k, v in section.options.items() if v is not None)
    return f"{section.name} ({options})" if options else section.name


def metric_text(value: Any) -> str:
    """A metric as text: integers with thousands separators, other numbers to 4 digits."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "-"
    return f"{int(number):,}" if number.is_integer() and abs(number) >= 1 else f"{number:.4g}"


def completed_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Completed first evaluations, in the frame's order (best first)."""
    if frame.empty:
        return frame
    done = frame[frame["state"] == "complete"]
    return done[done["duplicate_of"].isna()] if "duplicate_of" in done else done


def metrics_line(row: pd.Series, objectives: dict[str, str]) -> str:
    """The objectives, then the cost metrics the trial has, as one line."""
    names = list(objectives) + [m for m in COST_METRICS if m not in objectives]
    shown = [f"{n} <b>{metric_text(row[n])}</b>" for n in names if n in row and pd.notna(row[n])]
    return " &middot; ".join(shown)


def top_section(run: RunTrials, top: int, images: int, gradcam: bool) -> str:
    """The run's best ``top`` architectures drawn, with their metrics, then their Grad-CAM views."""
    from nas.registry import SPACES

    config = RunFolder.open(run.path).load_config()
    space: SearchSpace = SPACES.get(config.space.name)(**config.space.options)
    done = completed_rows(run.frame).head(top)
    if done.empty:
        return '<p class="note">No completed trial yet.</p>'
    candidates, cards = [], []
    for rank, (_, row) in enumerate(done.iterrows(), start=1):
        arch = space.parse(str(row["arch"]))
        line = metrics_line(row, run.objectives)
        candidates.append(Candidate(rank, int(row["trial"]), arch))
        parts = "".join(
            f'<div class="part"><h4>{html.escape(p.title)}</h4>{render(p)}</div>'
            for p in diagram_of(space, arch)
        )
        cards.append(
            f'<div class="card"><h3>#{rank} &middot; trial {int(row["trial"])}</h3>'
            f'<p class="metrics">{line}</p><code class="arch">{html.escape(str(row["arch"]))}</code>'
            f'<div class="parts">{parts}</div></div>'
        )
    if gradcam and config.task != "classification":  # Grad-CAM explains one class score per image
        note = f'<p class="note">No Grad-CAM views: they explain classifiers, this is {config.task}.</p>'
        return "".join(cards) + note
    cams = cam_section(run.path, space, config, candidates, images) if gradcam else ""
    heading = "<h3>Grad-CAM: where each network looks, on validation images</h3>" if gradcam else ""
    return "".join(cards) + heading + cams
