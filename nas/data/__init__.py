"""Data sets: in-memory train / validation / test splits and a fast batch iterator.

The names are imported lazily (they need torch), so that the processes decoding an image folder
(nas.data.decode: Pillow and numpy only) start in a fraction of a second.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["DataSplits", "Split", "iterate_batches", "resize", "stratified_split", "subset"]

if TYPE_CHECKING:
    from nas.data.splits import (
        DataSplits,
        Split,
        iterate_batches,
        resize,
        stratified_split,
        subset,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("nas.data.splits"), name)
    raise AttributeError(f"module 'nas.data' has no attribute {name!r}")
