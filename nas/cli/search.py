"""``nas search``: run (or resume) a search from an experiment config."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from nas.errors import NasError

if TYPE_CHECKING:
    from nas.config import ExperimentConfig
    from nas.search.runner import SearchResult

#: Keys a resumed run may change (and every ``executor.*`` key); the rest define the search.
RESUME_OVERRIDABLE = {
    "trials",
    "max_consecutive_failures",
    "trial_time_limit",
    "executor",
    "tracking",
    "heartbeat_interval",
}
#: The argument that collects KEY=VALUE overrides.
OVERRIDES = "items"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``nas search`` to the CLI."""
    search = sub.add_parser(
        "search",
        help="run a search from an experiment YAML file",
        description="Run a search from an experiment config; any config key can be overridden "
        "as key.subkey=value (e.g. strategy.population_size=20 seed=3).",
    )
    search.add_argument(
        "items",
        nargs="*",
        metavar="CONFIG [KEY=VALUE ...]",
        help="experiment YAML file, then config overrides",
    )
    search.add_argument(
        "--resume",
        metavar="RUN",
        help="continue the run in folder RUN "
        "(no CONFIG; only trials=, max_consecutive_failures= and executor.* may be overridden)",
    )
    search.add_argument(
        "--output",
        metavar="DIR",
        help="parent folder for runs (default: the config's output, 'results')",
    )
    search.add_argument(
        "--storage",
        metavar="URL",
        help="keep the study in this database (postgresql://user@host/db or sqlite:///file.db) "
        "instead of the run folder's journal (the config's storage)",
    )
    search.add_argument(
        "--study",
        metavar="NAME",
        help="join study NAME in the database as one more worker (the first to start creates it); "
        "start the same command on every machine (see docs/cluster.md)",
    )
    search.add_argument("--quiet", action="store_true", help="no progress bar")
    search.add_argument(
        "--top", type=int, default=10, metavar="N", help="rows of the final table (default 10)"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``nas search``."""
    from nas.config import apply_overrides, load_config, parse_override, resolve_config
    from nas.results.run_folder import RunFolder
    from nas.search.runner import run_search

    items = list(args.items)
    resume = None
    if args.resume:
        resume = RunFolder.open(args.resume)
        for item in items:
            key = ".".join(parse_override(item)[0])
            if key not in RESUME_OVERRIDABLE and not key.startswith("executor."):
                raise NasError(
                    f"cannot change {key!r} of an existing run (only {', '.join(sorted(RESUME_OVERRIDABLE))}); "
                    "start a new search instead"
                )
        if args.storage or args.study:
            raise NasError(
                "--storage and --study start or join a search; a resumed run keeps its own"
            )
        config = resolve_config(apply_overrides(resume.load_config().to_yaml_dict(), items))
    else:
        if not items or "=" in items[0]:
            raise NasError(
                "nas search needs a config file first, e.g. nas search experiments/quickstart.yaml"
            )
        config = load_config(items[0], items[1:])
        if args.output:
            config = config.model_copy(update={"output": args.output})
        if args.storage:
            config = config.model_copy(update={"storage": args.storage})

    started: list[RunFolder] = []

    def on_run(run: RunFolder) -> None:
        started.append(run)
        if config.storage and not args.quiet and resume is None:
            print(_join_hint(items[0], config.storage, run.study_name), file=sys.stderr)

    try:
        result = run_search(
            config, resume=resume, progress=not args.quiet, on_run=on_run, study=args.study
        )
    except KeyboardInterrupt:
        if started:
            print(
                f"interrupted; resume with: nas search --resume {started[0].path}", file=sys.stderr
            )
        raise
    _summary(config, result, args.top)
    return 0


def _join_hint(config_file: str, url: str, study: str) -> str:
    """How to start more workers on this study (the URL's password hidden)."""
    from sqlalchemy.engine import make_url

    shown = make_url(url).render_as_string(hide_password=True)
    return f"study {study!r}; more workers join with: nas search {config_file} --storage {shown} --study {study}"


def _summary(config: ExperimentConfig, result: SearchResult, top: int) -> None:
    from nas.results.show import table_columns
    from nas.results.trials import format_table

    print(
        f"\nBest architectures of {config.name} ({result.evaluated} evaluated, {result.wall_seconds:.1f} s):"
    )
    frame = result.frame
    if "duplicate_of" in frame:  # each architecture once: its first evaluation
        frame = frame[frame["duplicate_of"].isna()]
    print(format_table(frame, top, table_columns(list(config.objectives), frame.columns)))
    if result.stopped_early:
        print(f"note: stopped at {result.evaluated} trials: {result.stopped_early}")
    for plot in sorted(result.run.path.glob("oneshot/*/alphas.html")):
        print(f"alpha history: {plot}")
    print(f"\nrun folder: {result.run.path}")
