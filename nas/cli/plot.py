"""``nas plot``: write interactive HTML plots of one or more runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from nas.results.kinds import COLOR_BY, PLOT_KINDS


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``nas plot`` to the CLI."""
    plot = sub.add_parser(
        "plot",
        help="write interactive HTML plots of one or more runs",
        description="Write self-contained plotly HTML pages (they open offline): "
        "pareto.html (every trial, each run's Pareto front highlighted) and "
        "progress.html (best so far against trials and time).",
    )
    plot.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s) to plot together")
    plot.add_argument(
        "--x",
        action="append",
        metavar="METRIC",
        help="x axis of a Pareto plot, repeatable (default: the other objectives, else "
        "params, flops, latency_ms where measured)",
    )
    plot.add_argument("--y", metavar="METRIC", help="y axis (default: the first objective)")
    plot.add_argument(
        "--color",
        choices=COLOR_BY,
        help="colour points by run or by strategy (default: run when several)",
    )
    plot.add_argument(
        "--kind",
        action="append",
        choices=PLOT_KINDS,
        help="which page to write, repeatable (default: all)",
    )
    plot.add_argument(
        "--out", metavar="DIR", help="folder for the pages (default: RUN/plots of the first run)"
    )
    plot.add_argument(
        "--no-static",
        action="store_true",
        help="skip the PNG copies (written only where kaleido is installed)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``nas plot``."""
    from nas.results.plots import write_plots
    from nas.results.runs import PlotOptions, load_run

    runs = [load_run(path) for path in args.runs]
    color = args.color or ("run" if len(runs) > 1 else "strategy")
    out = Path(args.out) if args.out else runs[0].path / "plots"
    written = write_plots(
        runs,
        out,
        kinds=args.kind or list(PLOT_KINDS),
        static=not args.no_static,
        options=PlotOptions(x=args.x or [], y=args.y, color=color),
    )
    for path in written:
        print(f"wrote {path}")
    print(f"open in a browser: {written[0].resolve().as_uri()}")
    return 0
