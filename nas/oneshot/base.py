"""The one-shot strategy interface and what every one-shot search shares.

A black-box strategy is an Optuna sampler; a one-shot strategy (DARTS, ENAS) is a
:class:`OneShot`: its factory takes the same arguments as a sampler's and returns an object
whose ``search`` trains a supernet of the space and derives one architecture. The runner hands
that architecture to the configured evaluator and records it as a trial like any other.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from nas.arch import Arch
from nas.data import DataSplits, Split, iterate_batches, stratified_split
from nas.errors import NasError
from nas.io import write_atomic
from nas.seeds import derive_seed
from nas.space import SearchSpace

RESULT_FILE = "result.json"


@dataclass(frozen=True)
class SearchJob:
    """The ``index``-th one-shot search of a run: its folder (checkpoint, history, result) and seed."""

    index: int
    folder: Path
    seed: int

    def failed(self, reason: str) -> NasError:
        """The error that stops the run when this search fails (a diverged search would diverge again)."""
        return NasError(
            f"one-shot search {self.index} failed: {reason}; lower the strategy's lr or "
            f"arch_lr, or delete {str(self.folder)!r} and resume"
        )


@dataclass(frozen=True)
class SearchEnv:
    """Where and with what one one-shot search runs; ``folder`` holds its checkpoint and history."""

    data: DataSplits
    folder: Path
    seed: int
    device: torch.device
    eval_batch_size: int = 512
    progress: bool = False


@dataclass
class OneShotResult:
    """The derived architecture and what the search measured (supernet accuracy, timings)."""

    arch: Arch
    metrics: dict[str, float] = field(default_factory=dict)

    def save(self, folder: Path) -> None:
        """Write ``result.json`` atomically: a search with this file has finished."""
        write_atomic(
            folder / RESULT_FILE,
            json.dumps({"arch": self.arch, "metrics": self.metrics}, indent=2) + "\n",
        )

    @classmethod
    def load(cls, folder: Path) -> OneShotResult | None:
        """The result a finished search left in ``folder``, or None."""
        path = folder / RESULT_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            return cls(dict(data["arch"]), dict(data["metrics"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise NasError(
                f"one-shot result {str(path)!r} is unreadable ({exc}); delete it to search again"
            ) from None


class OneShot(ABC):
    """A one-shot strategy over one space: ``search`` trains a supernet and derives an architecture.

    ``search`` resumes from the checkpoint in ``env.folder`` when there is one, at the last
    finished epoch, and gives the same result as an uninterrupted search.
    """

    space: SearchSpace

    @abstractmethod
    def search(self, env: SearchEnv) -> OneShotResult:
        """Train the supernet (resuming from ``env.folder``) and derive one architecture."""


def split_train(train: Split, portion: float, seed: int) -> tuple[Split, Split]:
    """Split the training data in two, class-stratified: (weights part, architecture part)."""
    if not 0 < portion < 1:
        raise NasError(f"train_portion must be in (0, 1), got {portion}")
    weights, arch = stratified_split(train.y.numpy(), [portion], seed)
    if len(weights) == 0 or len(arch) == 0:
        raise NasError(
            f"train_portion {portion} leaves one part of the {len(train)} training examples empty"
        )
    return _take(train, weights), _take(train, arch)


def _take(split: Split, index: np.ndarray) -> Split:
    rows = torch.from_numpy(index)
    return Split(split.x[rows], split.y[rows])


def batches(
    split: Split,
    data: DataSplits,
    batch_size: int,
    device: torch.device,
    seed: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled, normalised batches of ``split`` in an order fixed by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return iterate_batches(
        split, batch_size, mean=data.mean, std=data.std, device=device, generator=generator
    )


def cycle(
    split: Split,
    data: DataSplits,
    batch_size: int,
    device: torch.device,
    seed: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled batches of ``split`` without end (a fresh order each pass), for the architecture step."""
    for rounds in range(1 << 30):
        yield from batches(split, data, batch_size, device, derive_seed(seed, rounds, 1))


def steps_per_epoch(split: Split, batch_size: int) -> int:
    """Number of batches in one pass over ``split``."""
    return math.ceil(len(split) / batch_size)
