"""The ``nas`` command line: one module per sub-command, each with ``add_parser`` and ``run``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from nas.cli import export, listing, plot, profile, report, scale, search, show, train
from nas.errors import NasError

#: Sub-command name -> its module.
COMMANDS: dict[str, ModuleType] = {
    "search": search,
    "show": show,
    "plot": plot,
    "report": report,
    "export": export,
    "train": train,
    "list": listing,
    "scale": scale,
    "profile": profile,
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="nas",
        description="Neural architecture search: search spaces, strategies, evaluators.",
        epilog="Run 'nas COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"nas {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nas")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nas`` console script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    command = COMMANDS[args.command]
    # KEY=VALUE overrides may also follow the options (nas train RUN --recipe r.yaml epochs=5)
    field = getattr(command, "OVERRIDES", None)
    if extra and field and all("=" in e and not e.startswith("-") for e in extra):
        setattr(args, field, [*getattr(args, field), *extra])
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(command.run(args))
    except NasError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a path the user gave that cannot be read or written (a file, no permission, disk full)
        if args.debug:
            raise
        where = f" {exc.filename!r}" if exc.filename else ""
        print(
            f"error: cannot use{where}: {exc.strerror or exc}; check the path (or the disk)",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:  # an unexpected failure: one line unless --debug
        if args.debug:
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
