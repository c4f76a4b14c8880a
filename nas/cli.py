"""The ``nas`` command line: search, show, list."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from nas.errors import NasError

RESUME_OVERRIDABLE = {"trials", "max_consecutive_failures"}
TABLE_COLUMNS = ["trial", "state", "params", "flops", "epochs", "test_accuracy", "feasible", "duration_s",
                 "duplicate_of", "arch", "error"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nas", description="Neural architecture search: search spaces, strategies, evaluators.",
        epilog="Run 'nas COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"nas {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    search = sub.add_parser(
        "search", help="run a search from an experiment YAML file",
        description="Run a search from an experiment config; any config key can be overridden "
                    "as key.subkey=value (e.g. strategy.population_size=20 seed=3).",
    )
    search.add_argument("items", nargs="*", metavar="CONFIG [KEY=VALUE ...]",
                        help="experiment YAML file, then config overrides")
    search.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN "
                        "(no CONFIG; only trials= and max_consecutive_failures= may be overridden)")
    search.add_argument("--output", metavar="DIR", help="parent folder for runs (default: the config's output, 'results')")
    search.add_argument("--quiet", action="store_true", help="no progress bar")
    search.add_argument("--top", type=int, default=10, metavar="N", help="rows of the final table (default 10)")

    show = sub.add_parser("show", help="print the trial table of a run, best first",
                          description="Print the trials of a finished or running search, best first.")
    show.add_argument("run", metavar="RUN", help="run folder, results/<experiment>/<run-id>")
    show.add_argument("--limit", type=int, default=20, metavar="N", help="rows to print (0 for all; default 20)")
    show.add_argument("--all-columns", action="store_true", help="print every metric column")
    show.add_argument("--pareto", action="store_true",
                      help="only the Pareto front of the objectives (feasible, non-dominated trials)")

    lst = sub.add_parser("list", help="list registered spaces, strategies, evaluators or data sets",
                         description="List what is registered, one line each.")
    lst.add_argument("kind", nargs="?", choices=["spaces", "strategies", "evaluators", "datasets"],
                     help="what to list (default: everything)")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nas")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nas`` console script."""
    args = _parser().parse_args(argv)
    try:
        return {"search": _cmd_search, "show": _cmd_show, "list": _cmd_list}[args.command](args)
    except NasError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure: one line unless --debug
        if args.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1


def _cmd_search(args: argparse.Namespace) -> int:
    from nas.config import apply_overrides, load_config, parse_override, resolve_config
    from nas.run_folder import RunFolder
    from nas.runner import run_search

    items = list(args.items)
    run = None
    if args.resume:
        run = RunFolder.open(args.resume)
        for item in items:
            key = ".".join(parse_override(item)[0])
            if key not in RESUME_OVERRIDABLE:
                raise NasError(f"cannot change {key!r} of an existing run (only {', '.join(sorted(RESUME_OVERRIDABLE))}); "
                               "start a new search instead")
        config = resolve_config(apply_overrides(run.load_config().to_yaml_dict(), items))
        run.save_config(config)
    else:
        if not items or "=" in items[0]:
            raise NasError("nas search needs a config file first, e.g. nas search experiments/quickstart.yaml")
        config = load_config(items[0], items[1:])
        if args.output:
            config = config.model_copy(update={"output": args.output})

    started: list[RunFolder] = []
    try:
        result = run_search(config, resume=run, progress=not args.quiet, on_run=started.append)
    except KeyboardInterrupt:
        if started:
            print(f"interrupted; resume with: nas search --resume {started[0].path}", file=sys.stderr)
        raise
    from nas.trials import format_table

    objectives = list(config.objectives)
    print(f"\nBest architectures of {config.name} ({result.evaluated} evaluated, "
          f"{result.wall_seconds:.1f} s):")
    frame = result.frame
    if "duplicate_of" in frame:  # each architecture once: its first evaluation
        frame = frame[frame["duplicate_of"].isna()]
    print(format_table(frame, args.top, _columns(objectives, frame.columns)))
    if result.stopped_early:
        print(f"note: stopped at {result.evaluated} trials: {result.stopped_early}")
    print(f"\nrun folder: {result.run.path}")
    return 0


def _columns(objectives: list[str], available: Sequence[str]) -> list[str]:
    head = ["trial", "state", *objectives]
    return head + [c for c in TABLE_COLUMNS if c not in head and c in available]


def _cmd_show(args: argparse.Namespace) -> int:
    from nas.results import load_trials
    from nas.trials import format_table

    frame, objectives = load_trials(Path(args.run))
    if args.pareto:
        from nas.results import run_objectives
        from nas.trials import pareto_front

        frame = pareto_front(frame, run_objectives(Path(args.run)))
    columns = None if args.all_columns else _columns(objectives, frame.columns)
    print(format_table(frame, args.limit or None, columns))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from nas.registry import REGISTRIES

    kinds = [args.kind] if args.kind else list(REGISTRIES)
    for kind in kinds:
        registry = REGISTRIES[kind]
        if len(kinds) > 1:
            print(f"{kind}:")
        names = registry.names()
        width = max(len(n) for n in names) if names else 0
        for name in names:
            try:
                summary = registry.summary(name)
            except NasError as exc:
                summary = f"(cannot load: {exc})"
            print(f"{'  ' if len(kinds) > 1 else ''}{name:<{width}}  {summary}")
    return 0
