"""``nas list``: what is registered (spaces, strategies, evaluators, data sets, pruners, executors)."""

from __future__ import annotations

import argparse

from nas.errors import NasError
from nas.registry import REGISTRIES


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``nas list`` to the CLI."""
    lst = sub.add_parser(
        "list",
        help=f"list registered {', '.join(REGISTRIES)}",
        description="List what is registered, one line each.",
    )
    lst.add_argument(
        "kind", nargs="?", choices=list(REGISTRIES), help="what to list (default: everything)"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``nas list``."""
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
