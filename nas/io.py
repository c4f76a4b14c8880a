"""Writing files atomically: a reader (or a resumed run after a kill) sees the old file or the
new one, never a torn one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; it replaces ``path`` when the block succeeds.

    Example:
        >>> with replacing(Path("table.csv")) as tmp:  # doctest: +SKIP
        ...     frame.to_csv(tmp)
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8)."""
    with replacing(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")


def save_torch_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` ``obj`` (tensors, plain containers) to ``path`` atomically."""
    import torch

    with replacing(path) as tmp:
        torch.save(obj, tmp)
