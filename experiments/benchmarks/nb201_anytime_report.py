"""The report of nb201_anytime.py: markdown tables, a JSON of the cells and a plotly page of the curves."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

DATASETS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet16-120"}
BUDGETS = ("25", "50", "100", "200")
METRICS = {
    "found_share": ("share finding the validation-optimal architecture (%)", 100.0, "{:.0f}"),
    "test_mean": ("mean 200-epoch test accuracy (%)", 1.0, "{:.2f}"),
    "regret_mean": ("mean validation regret (percentage points)", 1.0, "{:.3f}"),
}


def _header(datasets: list[str]) -> list[str]:
    short = {"cifar10": "C10", "cifar100": "C100", "imagenet16": "IN16"}
    cols = [f"{short[d]} {b}" for d in datasets for b in BUDGETS]
    return ["| strategy | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]


def metric_table(table: dict, labels: list[str], datasets: list[str], metric: str) -> list[str]:
    """One markdown table: a row per strategy, a column per data set and budget."""
    _, scale, fmt = METRICS[metric]
    lines = _header(datasets)
    for label in labels:
        cells = []
        for d in datasets:
            for b in BUDGETS:
                cell = table.get(label, {}).get(d, {}).get(b)
                cells.append("—" if cell is None else fmt.format(scale * cell[metric]))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def cost_table(table: dict, labels: list[str], datasets: list[str]) -> list[str]:
    """Strategy CPU seconds per query at the largest budget, mean and worst search, and the seeds."""
    lines = [
        "| strategy | CPU s / query at 200 (mean) | of which the pool's zero-cost scores | worst "
        "search | seeds per data set |",
        "|---|---:|---:|---:|---|",
    ]
    for label in labels:
        cells = [table.get(label, {}).get(d, {}).get("200") for d in datasets]
        got = [c for c in cells if c is not None]
        if not got:
            continue
        mean = np.mean([c["cpu_per_query"] for c in got])
        proxy = np.mean([c.get("proxy_cpu_per_query", 0.0) for c in got])
        worst = max(c["cpu_per_query_max"] for c in got)
        seeds = "/".join(str(c["seeds"]) if c else "0" for c in cells)
        lines.append(f"| {label} | {mean:.4f} | {proxy:.4f} | {worst:.4f} | {seeds} |")
    return lines


def targets_table(table: dict, labels: list[str], datasets: list[str]) -> list[str]:
    """The issue's targets against each strategy's numbers (met: yes / no)."""
    lines = [
        "| strategy | found at 100 (≥ 95 % each) | found at 50 (≥ 60 % each) | CIFAR-10 test at 100 "
        "(≥ 94.33) | at 50 (≥ 94.25) | CPU s / query at 200, worst search (≤ 1) |",
        "|---|---|---|---|---|---|",
    ]

    def get(label: str, d: str, b: str, key: str) -> float | None:
        cell = table.get(label, {}).get(d, {}).get(b)
        return None if cell is None else cell[key]

    def mark(ok: bool) -> str:
        return "yes" if ok else "**no**"

    for label in labels:
        cells = []
        for b, goal in (("100", 0.95), ("50", 0.60)):
            shares = [get(label, d, b, "found_share") for d in datasets]
            text = "/".join("—" if v is None else f"{100 * v:.0f}" for v in shares)
            cells.append(f"{text}: {mark(all(v is not None and v >= goal for v in shares))}")
        for b, goal in (("100", 94.33), ("50", 94.25)):
            v = get(label, "cifar10", b, "test_mean")
            cells.append("—" if v is None else f"{v:.2f}: {mark(v >= goal)}")
        worst = [get(label, d, "200", "cpu_per_query_max") for d in datasets]
        got = [w for w in worst if w is not None]
        cells.append(f"{max(got):.3f}: {mark(max(got) <= 1.0)}" if got else "—")
        seeds = [get(label, d, "200", "seeds") for d in datasets]
        fewest = min((int(n) for n in seeds if n is not None), default=0)
        name = label if fewest >= 100 else f"{label} (only {fewest} seeds: not a verdict)"
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def figures(table: dict, labels: list[str], datasets: list[str]):  # noqa: ANN201 - plotly figure
    """One figure: a row per metric, a column per data set, a line per strategy."""
    from plotly.subplots import make_subplots

    titles = [f"{DATASETS[d]}: {METRICS[m][0]}" for m in METRICS for d in datasets]
    fig = make_subplots(rows=len(METRICS), cols=len(datasets), subplot_titles=titles)
    palette = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
        "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#aec7e8",
    ]  # fmt: skip
    for k, label in enumerate(labels):
        for row, metric in enumerate(METRICS, start=1):
            scale = METRICS[metric][1]
            for col, d in enumerate(datasets, start=1):
                by_b = table.get(label, {}).get(d, {})
                xs = [int(b) for b in BUDGETS if b in by_b]
                ys = [scale * by_b[str(b)][metric] for b in xs]
                fig.add_scatter(
                    x=xs,
                    y=ys,
                    mode="lines+markers",
                    name=label,
                    legendgroup=label,
                    showlegend=row == 1 and col == 1,
                    line={"color": palette[k % len(palette)]},
                    row=row,
                    col=col,
                )
                fig.update_xaxes(type="log", tickvals=[int(b) for b in BUDGETS], row=row, col=col)
    fig.update_layout(
        height=330 * len(METRICS),
        title="NAS-Bench-201 anytime curves (queries on the x axis)",
        legend={"orientation": "h", "yanchor": "top", "y": -0.06, "xanchor": "left", "x": 0},
    )
    return fig


def write_outputs(args: argparse.Namespace, table: dict, meta: dict) -> str:
    """Write the markdown report, its JSON and the plotly page; return the markdown."""
    out = Path(args.output)
    labels = [label for label in args.strategies if label in table]
    datasets = list(args.datasets)
    per_search = [x for x in meta["loadavg_per_search"] if x is not None]
    load = (
        f"1-minute load average over the searches: mean {np.mean(per_search):.2f}, "
        f"max {np.max(per_search):.2f}"
        if per_search
        else "no searches run in this invocation"
    )
    lines = [
        "# NAS-Bench-201 anytime curves: predictor-guided search against the baselines",
        "",
        f"Command: `python experiments/benchmarks/nb201_anytime.py --seeds {meta['seeds']}` "
        f"(first seed {meta['first_seed']}, one {meta['budget']}-query search per strategy, data set "
        f"and seed, every smaller budget read off the same search; {meta['workers']} worker "
        f"process(es) on a shared 2-core machine). Finished searches are kept in "
        f"`{Path(args.runs).name}`; running the command again runs only the missing ones.",
        "",
        "The returned architecture at budget B is the one with the best 12-epoch validation "
        "accuracy among the first B queried (re-proposals are free and not counted); strategies "
        "never see test accuracies. *Found*: it is the validation-optimal architecture of the whole "
        f"space (validation accuracies within 1e-4 are tied: CIFAR-100 has two architectures at "
        f"61.32). Optima: validation {', '.join(f'{DATASETS[d]} {v:.3f}' for d, v in meta['val_optimum'].items())}; "
        f"best test accuracy {', '.join(f'{DATASETS[d]} {v:.2f}' for d, v in meta['test_optimum'].items())}.",
        "",
        f"Machine: {load}; before this invocation {', '.join(f'{x:.2f}' for x in meta['loadavg_before'])} "
        f"(1, 5, 15 min), after {', '.join(f'{x:.2f}' for x in meta['loadavg_after'])}. "
        f"Python {meta['python']}, {meta['machine']}.",
    ]
    if meta.get("note"):
        lines += ["", meta["note"]]
    if labels:
        lines += ["", "## The issue's targets", ""]
        lines += targets_table(table, labels, datasets)
    for metric, (title, _, _) in METRICS.items():
        lines += ["", f"## {title[0].upper() + title[1:]}", ""]
        lines += metric_table(table, labels, datasets, metric)
    lines += ["", "## Strategy CPU seconds per query", ""]
    if meta.get("synflow_cpu_s_per_network"):
        lines += [
            "Process CPU time inside the sampler (fitting, candidates, acquisition), plus, for the "
            "pre-filter rows, the synflow scores of the whole pool: the benchmark reads them from "
            "`nb201_synflow.csv.gz` (or `nb201_synflow_small.csv.gz`), but a search without that "
            "file computes them, at "
            + ", ".join(
                f"{v:.4f} CPU s per network ({k})"
                for k, v in meta["synflow_cpu_s_per_network"].items()
            )
            + " (building and scoring 30 random networks, one thread, measured by this "
            "invocation), charged in full to every search. The synflow *feature* of a predictor "
            "is not charged (it scores every candidate the predictor rates).",
            "",
        ]
    lines += cost_table(table, labels, datasets)
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "cells": table}, indent=1) + "\n")
    if labels:
        page = out.with_suffix(".html")
        page.write_text(
            figures(table, labels, datasets).to_html(include_plotlyjs="cdn", default_width="100%")
        )
    return text
