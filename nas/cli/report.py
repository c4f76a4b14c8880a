"""``nas report``: one self-contained HTML page about one or more runs."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``nas report`` to the CLI."""
    report = sub.add_parser(
        "report",
        help="write one offline HTML report of one or more runs",
        description="Write one self-contained HTML page (it opens offline): the runs' configs, "
        "the Pareto front and progress plots, the top architectures drawn with their metrics, "
        "Grad-CAM heat maps of those whose trained weights the run kept (evaluator.save_weights: "
        "true, or nas train output), and the alpha history of one-shot searches.",
    )
    report.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s) to report on")
    report.add_argument(
        "--out",
        metavar="FILE",
        help="the page to write (default: RUN/report.html of the first run)",
    )
    report.add_argument(
        "--top", type=int, default=5, metavar="K", help="architectures to draw per run (default: 5)"
    )
    report.add_argument(
        "--images",
        type=int,
        default=8,
        metavar="N",
        help="validation images in the Grad-CAM grid (default: 8)",
    )
    report.add_argument(
        "--no-gradcam", action="store_true", help="leave out the Grad-CAM heat maps"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``nas report``."""
    from nas.results.report import write_report

    path = write_report(
        args.runs, args.out, top=args.top, images=args.images, gradcam=not args.no_gradcam
    )
    print(f"wrote {path}")
    print(f"open in a browser: {path.resolve().as_uri()}")
    return 0
