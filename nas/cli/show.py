"""``nas show``: print the trial tables of one or more runs."""

from __future__ import annotations

import argparse
import sys

from nas.results.kinds import FORMATS


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``nas show`` to the CLI."""
    show = sub.add_parser(
        "show",
        help="print the trial table of one or more runs, best first",
        description="Print the trials of finished or running searches, best first by the "
        "first objective; several runs are merged with a 'run' column.",
    )
    show.add_argument(
        "runs", nargs="+", metavar="RUN", help="run folder(s), results/<experiment>/<run-id>"
    )
    show.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="rows to print (0 for all; default 20 for table/markdown, all for csv/json)",
    )
    show.add_argument(
        "--pareto",
        action="store_true",
        help="only the Pareto front of the objectives (feasible, non-dominated trials)",
    )
    show.add_argument(
        "--sort",
        metavar="COLUMN[:asc|:desc]",
        help="sort by a column (objectives best first, other columns ascending by default)",
    )
    show.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="output format (csv and json print every column)",
    )
    show.add_argument("--all-columns", action="store_true", help="print every metric column")


def run(args: argparse.Namespace) -> int:
    """Run ``nas show``."""
    from nas.results.show import load_runs, render, sort_frame, table_columns

    frame, objectives = load_runs(args.runs, pareto=args.pareto)
    frame = sort_frame(frame, args.sort, objectives)
    machine = args.format in ("csv", "json")
    limit = args.limit if args.limit is not None else (0 if machine else 20)
    if limit:
        frame = frame.head(limit)
    if not (args.all_columns or machine) and not frame.empty:
        frame = frame[table_columns(list(objectives), frame.columns)]
    sys.stdout.write(render(frame, args.format) + "\n")
    return 0
