"""The Evaluator interface and the context every evaluator is built with."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import optuna
import torch

from nas.arch import Choice, arch_id
from nas.config import Component, CostsConfig, TrainingConfig
from nas.data import DataSplits
from nas.errors import NasError
from nas.registry import DATASETS
from nas.search.time_limit import paused
from nas.space import SearchSpace
from nas.tasks import Task, task_named
from nas.training.loop import EpochReport
from nas.training.supernet import SupernetRecipe, TrainedSupernet


@dataclass(frozen=True)
class Budget:
    """How much an evaluation may spend; a field left None takes the evaluator's own setting."""

    epochs: int | None = None
    data_fraction: float | None = None
    resolution: int | None = None  # shorter image side to train at


@dataclass
class EvalContext:
    """What the runner hands an evaluator factory: data (loaded on first use), training, seed,
    device, which hardware costs to measure and the task (a name in nas.registry.TASKS)."""

    dataset: Component | None
    training: TrainingConfig
    seed: int
    device: torch.device
    costs: CostsConfig = field(default_factory=lambda: CostsConfig())
    task_name: str = "classification"

    @cached_property
    def task(self) -> Task:
        """The experiment's task (its training settings checked)."""
        task = task_named(self.task_name)
        task.check_training(self.training)
        return task

    @cached_property
    def data(self) -> DataSplits:
        """The configured data set, loaded once (and checked to be for the experiment's task)."""
        if self.dataset is None:
            raise NasError(
                "this evaluator trains networks and needs a data set: add a 'dataset:' "
                "section to the config (e.g. dataset: {name: cifar10})"
            )
        with paused():  # loading the data is the run's cost, not the first candidate's
            data = DATASETS.get(self.dataset.name)(**self.dataset.options)
        if data.task != self.task_name:
            raise NasError(
                f"data set {self.dataset.name!r} is for task {data.task!r} but the config's task "
                f"is {self.task_name!r}; set task: {data.task} in the config"
            )
        self.task.check_data(data)
        return data


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


class ExecutorServices(Protocol):
    """What an evaluator may ask of the executor that runs its trials (every
    :class:`nas.executors.base.Executor` offers it)."""

    def train_supernet(self, recipe: SupernetRecipe, run_dir: Path) -> TrainedSupernet | None:
        """Train the run's supernet on the executor's workers, or None to have it trained in process."""
        ...


class Evaluator(ABC):
    """Scores architectures. Implementations are built as ``factory(context, **options)``.

    The runner calls :meth:`check` when it builds the evaluator (before any file is written),
    :meth:`prepare` once the run folder exists (in every process that evaluates: the driver and
    each Ray worker), then :meth:`evaluate` for each new architecture.
    """

    #: The run folder, where an evaluator keeps artefacts (weights); None outside a run.
    run_dir: Path | None = None

    def check(self, space: SearchSpace) -> None:  # noqa: B027 - a hook: by default every space will do
        """Raise NasError if this evaluator cannot score ``space``'s architectures (before a run starts)."""

    def prepare(self, space: SearchSpace, run_dir: Path | None, executor: ExecutorServices) -> None:
        """Get ready for a run in ``run_dir`` whose trials ``executor`` runs (one-time work such as
        training a supernet belongs here). The default remembers the run folder."""
        self.run_dir = run_dir

    @abstractmethod
    def evaluate(
        self,
        arch: Mapping[str, Choice],
        space: SearchSpace,
        budget: Budget | None = None,
        report: EpochReport | None = None,
    ) -> dict[str, Any]:
        """Return the metrics of ``arch`` (floats; the objectives among them)."""
