"""The Evaluator interface and the context every evaluator is built with."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import optuna
import torch

from nas.arch import Choice, arch_id
from nas.config import Component, CostsConfig, TrainingConfig
from nas.data import DataSplits
from nas.errors import NasError
from nas.registry import DATASETS
from nas.space import SearchSpace
from nas.time_limit import paused
from nas.training import EpochReport


@dataclass(frozen=True)
class Budget:
    """How much an evaluation may spend; a field left None takes the evaluator's own setting."""

    epochs: int | None = None
    data_fraction: float | None = None
    resolution: int | None = None  # shorter image side to train at


@dataclass
class EvalContext:
    """What the runner hands an evaluator factory: data (loaded on first use), training, seed,
    device, which hardware costs to measure, and the run folder (None outside a run; the runner
    fills it in once the folder exists, before the first evaluation)."""

    dataset: Component | None
    training: TrainingConfig
    seed: int
    device: torch.device
    costs: CostsConfig = field(default_factory=CostsConfig)
    #: The run folder, set by the runner once it exists; evaluators keep artifacts (weights) there.
    output: Path | None = None

    @cached_property
    def data(self) -> DataSplits:
        """The configured data set, loaded once."""
        if self.dataset is None:
            raise NasError("this evaluator trains networks and needs a data set: add a 'dataset:' "
                           "section to the config (e.g. dataset: {name: cifar10})")
        with paused():  # loading the data is the run's cost, not the first candidate's
            return DATASETS.get(self.dataset.name)(**self.dataset.options)


def candidate_seed(seed: int, arch: Mapping[str, Choice]) -> int:
    """A seed for training one candidate: the same run seed and architecture give the same seed."""
    digest = hashlib.sha256(f"{seed}:{arch_id(arch)}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


class Pruned(optuna.TrialPruned):
    """A candidate stopped early because its ``report`` callback said so (a pruner's decision).

    A report callback raises it; the evaluator that was training adds the metrics the candidate
    reached (costs, last validation accuracy, epochs) on the way out, and the runner records the
    trial as pruned with them. Being an ``optuna.TrialPruned``, it is what Optuna code expects.
    """

    def __init__(self, epoch: int, metrics: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"pruned after epoch {epoch}")
        self.epoch = epoch
        self.metrics: dict[str, Any] = dict(metrics or {})


class Evaluator(ABC):
    """Scores architectures. Implementations are built as ``factory(context, **options)``."""

    def check(self, space: SearchSpace) -> None:
        """Raise NasError if this evaluator cannot score ``space``'s architectures (before a run starts)."""

    @abstractmethod
    def evaluate(
        self, arch: Mapping[str, Choice], space: SearchSpace, budget: Budget | None = None,
        report: EpochReport | None = None,
    ) -> dict[str, Any]:
        """Return the metrics of ``arch`` (floats; the objectives among them)."""
