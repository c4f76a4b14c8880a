"""Report benchmark: the size of a ``nas report`` page (plotly.js once) against the separate
``nas plot`` pages, the time to build a report of a 40-trial run, and Grad-CAM time per image for
the networks of every shipped space.

    python experiments/benchmarks/report_page.py     # writes results/benchmarks/report_page.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from command_line import command_line  # a sibling script (this folder is on sys.path)

import nas
from nas.config import resolve_config
from nas.results.plots import write_plots
from nas.results.report import write_report
from nas.results.runs import load_run
from nas.search.runner import run_search

#: Networks timed with Grad-CAM: (space, options, input shape).
NETWORKS = [
    ("nb201", {"channels": 16, "cells_per_stage": 2}, (1, 8, 8)),
    ("darts", {"channels": 8, "layers": 5, "auxiliary": False}, (1, 8, 8)),
    ("mbconv", {"width_coefficient": 0.25}, (1, 8, 8)),
    ("nb201", {}, (3, 32, 32)),
    ("darts", {}, (3, 32, 32)),
    ("mbconv", {}, (3, 32, 32)),
]


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=40)
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3, help="report builds and Grad-CAM runs timed")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--output", default=str(ROOT / "results" / "benchmarks" / "report_page.md"))
    return p.parse_args(argv)


def search(root: Path, trials: int) -> Path:
    """A quickstart-like search (small cells, one epoch each) that keeps its weights."""
    config = {
        "name": "report_bench",
        "seed": 0,
        "trials": trials,
        "space": {"name": "nb201", "channels": 8, "cells_per_stage": 1},
        "dataset": {"name": "digits"},
        "strategy": {"name": "evolution", "population_size": 10, "sample_size": 3},
        "evaluator": {"name": "partial", "epochs": 1, "save_weights": True},
        "training": {"batch_size": 64, "threads": 1},
        "output": str(root / "results"),
    }
    return run_search(resolve_config(config), progress=False).run.path


def report_figures(run: Path, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Page sizes and build times (in process, and the command end to end)."""
    plots = write_plots([load_run(run)], root / "plots", static=False)
    inprocess, command = [], []
    for i in range(args.repeats):
        start = time.perf_counter()
        page = write_report([run], root / f"report{i}.html", top=args.top, images=args.images)
        inprocess.append(time.perf_counter() - start)
        start = time.perf_counter()
        cli = [sys.executable, "-m", "nas", "report", str(run), "--out", str(root / "cli.html"),
               "--top", str(args.top), "--images", str(args.images)]  # fmt: skip
        subprocess.run(
            cli, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
        )
        command.append(time.perf_counter() - start)
    frame = load_run(run).frame
    figures = {p.name: p.read_text(encoding="utf-8").count("Plotly.newPlot(") for p in plots}
    return {
        "report": page.stat().st_size,
        "report_figures": page.read_text(encoding="utf-8").count("Plotly.newPlot("),
        "plots": {p.name: p.stat().st_size for p in plots},
        "figures": figures,
        "evaluated": int(frame["duplicate_of"].isna().sum()),
        "inprocess": statistics.median(inprocess),
        "command": statistics.median(command),
        "trials": len(frame),
    }


def gradcam_times(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Seconds per image of ``nas.gradcam`` on a batch of ``--images`` images, per network."""
    rows = []
    for name, options, shape in NETWORKS:
        space = nas.create_space(name, **options)
        torch.manual_seed(0)
        model = space.build(
            space.sample(np.random.default_rng(0)), num_classes=10, input_shape=shape
        )
        images = torch.randn(args.images, *shape, generator=torch.Generator().manual_seed(0))
        nas.gradcam(model, images)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            cam = nas.gradcam(model, images)
            times.append(time.perf_counter() - start)
        params = sum(p.numel() for p in model.parameters())
        rows.append({"space": name, "options": options, "shape": shape, "params": params,
                     "layer": cam.layer, "per_image": statistics.median(times) / args.images})  # fmt: skip
    return rows


def write(
    args: argparse.Namespace, sizes: dict[str, Any], cams: list[dict[str, Any]], load: tuple
) -> None:
    """The markdown report."""
    plots_total = sum(sizes["plots"].values())
    lines = [
        "# The report page: size and build time, Grad-CAM time",
        "",
        f"Command: `{command_line('report_page.py', args)}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs (load average "
        f"{load[0]:.2f} before, {load[1]:.2f} after), torch {torch.__version__}, {args.threads} torch thread(s).",
        "",
        f"## Page size ({sizes['trials']} trials: {sizes['evaluated']} evaluated, the rest duplicates; "
        f"top {args.top}, {args.images} Grad-CAM images)",
        "",
        "| page | plotly figures | bytes |",
        "| --- | ---: | ---: |",
        *(
            f"| `nas plot`: {name} | {sizes['figures'][name]} | {size:,} |"
            for name, size in sizes["plots"].items()
        ),
        f"| `nas plot`: all pages together | {sum(sizes['figures'].values())} | {plots_total:,} |",
        f"| `nas report`: report.html (plotly.js once; also {args.top} drawings and "
        f"{args.images * (args.top + 1)} image tiles) | {sizes['report_figures']} | {sizes['report']:,} |",
        "",
        f"The report holds every figure of the `nas plot` pages and more in {sizes['report'] / plots_total:.0%} "
        "of their combined size: each separate page carries its own copy of plotly.js "
        f"({len(__import__('plotly.offline', fromlist=['x']).get_plotlyjs()):,} bytes).",
        "",
        "## Time to build the report",
        "",
        "| how | seconds (median of repeats) |",
        "| --- | ---: |",
        f"| `write_report` in a warm process | {sizes['inprocess']:.2f} |",
        f"| `nas report RUN` end to end (a new Python process: imports included) | {sizes['command']:.2f} |",
        "",
        "## Grad-CAM time per image",
        "",
        f"`nas.gradcam(model, images)` on a batch of {args.images} random images (one forward and one "
        "backward pass), CPU, median of the repeats divided by the batch size; randomly sampled architectures.",
        "",
        "| space | options | input | params | layer | ms per image |",
        "| --- | --- | --- | ---: | --- | ---: |",
        *(
            f"| {r['space']} | {r['options'] or 'defaults'} | {'x'.join(map(str, r['shape']))} | "
            f"{r['params']:,} | `{r['layer']}` | {1000 * r['per_image']:.1f} |"
            for r in cams
        ),
        "",
    ]
    Path(args.output).write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and write its report."""
    args = _args(argv)
    torch.set_num_threads(args.threads)
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        run = search(Path(tmp), args.trials)
        sizes = report_figures(run, Path(tmp), args)
    cams = gradcam_times(args)
    write(args, sizes, cams, (before, os.getloadavg()[0]))
    print(Path(args.output).read_text())


if __name__ == "__main__":
    main()
