"""The command line that reproduces a benchmark run, for its report."""

from __future__ import annotations

import argparse
from collections.abc import Iterable


def command_line(script: str, args: argparse.Namespace, keys: Iterable[str] | None = None) -> str:
    """``python experiments/benchmarks/SCRIPT --key value ...`` for ``keys`` (default: every option
    but ``output``), so that a report names exactly the settings it was made with."""
    keys = [k for k in vars(args) if k != "output"] if keys is None else list(keys)
    return f"python experiments/benchmarks/{script} " + " ".join(
        f"--{k.replace('_', '-')} {getattr(args, k)}" for k in keys
    )
