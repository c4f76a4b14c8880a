"""Trained weights kept in a run folder: ``weights/<arch_id>.pt``, one file per architecture.

Each file is a ``torch.save`` of plain data (the state dict, the number of classes and the input
shape the network was built for), so that it loads with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.arch import Choice, arch_id
from nas.errors import NasError
from nas.io import save_torch_atomic

WEIGHTS_DIR = "weights"


@dataclass(frozen=True)
class SavedWeights:
    """A trained network's state dict and what it was built for."""

    state_dict: dict[str, torch.Tensor]
    num_classes: int
    input_shape: tuple[int, int, int]


def weights_path(run_dir: str | Path, arch: Mapping[str, Choice]) -> Path:
    """Where the weights of ``arch`` are kept in a run folder."""
    return Path(run_dir) / WEIGHTS_DIR / f"{arch_id(arch)}.pt"


def save_weights(
    run_dir: str | Path,
    arch: Mapping[str, Choice],
    model: nn.Module,
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
) -> Path:
    """Write the weights of ``model`` (trained on ``arch``) into the run folder; returns the file."""
    path = weights_path(run_dir, arch)
    payload = {
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "num_classes": int(num_classes),
        "input_shape": [int(d) for d in input_shape],
    }
    save_torch_atomic(payload, path)
    return path


def read_plain(
    path: str | Path, map_location: Any = "cpu", fix: str = "use a file nas wrote"
) -> Any:
    """``torch.load(path, weights_only=True)``; a file that holds anything but tensors and plain
    values (whose unpickling could run code) is refused in one line, never loaded."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        named = re.search(r"GLOBAL ([\w.]+)", str(exc))
        why = (
            f"it names {named.group(1)}, which loading would call"
            if named
            else "it is damaged, or names code that loading would call"
        )
        raise NasError(
            f"refusing {str(path)!r}: it is not tensors and plain values only ({why}); {fix}"
        ) from None


def load_weights(path: str | Path) -> SavedWeights:
    """Read weights written by ``save_weights`` (tensors and plain values only)."""
    try:
        payload = read_plain(path)
    except NasError:
        raise
    except Exception as exc:
        raise NasError(f"cannot read weights {str(path)!r} ({type(exc).__name__}: {exc})") from None
    state = payload.get("state_dict") if isinstance(payload, dict) else None
    classes = payload.get("num_classes") if isinstance(payload, dict) else None
    shape = payload.get("input_shape") if isinstance(payload, dict) else None
    if (
        not isinstance(state, dict)
        or not all(isinstance(v, torch.Tensor) for v in state.values())
        or type(classes) is not int
        or not isinstance(shape, list)
        or len(shape) != 3
        or not all(type(d) is int for d in shape)
    ):
        raise NasError(
            f"{str(path)!r} is not a weights file of a nas run (state_dict, num_classes, input_shape)"
        )
    return SavedWeights(state, classes, (shape[0], shape[1], shape[2]))


def load_state_checked(model: nn.Module, state_dict: Mapping[str, torch.Tensor], what: str) -> None:
    """Load ``state_dict`` into ``model`` exactly, or raise one line saying ``what`` does not fit."""
    try:
        model.load_state_dict(dict(state_dict))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise NasError(
            f"{what} do not fit the network ({first[1].strip() if len(first) > 1 else first[0]})"
        ) from None
