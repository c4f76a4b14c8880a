"""The Task interface, and looking tasks up by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from nas.errors import NasError

if TYPE_CHECKING:
    from nas.config import TrainingConfig
    from nas.data import DataSplits


class Task(ABC):
    """A kind of problem: its loss, its scores (all maximised fractions) and its output shape.

    Scores are summed batch by batch as tensors on the device (:meth:`batch_score`, no wait for the
    device per step) and turned into fractions once per epoch (:meth:`scores`). Trial rows carry
    them in percent as ``val_<score>`` / ``train_<score>``; the first score is the one a training
    evaluator reports each epoch (pruners compare it) and the default objective.
    """

    name: ClassVar[str] = ""
    #: score names, the first reported each epoch (``accuracy`` -> ``val_accuracy``)
    score_names: ClassVar[tuple[str, ...]] = ()

    @property
    def reported_metric(self) -> str:
        """The trial-row metric reported each epoch (pruners compare it), e.g. ``val_accuracy``."""
        return f"val_{self.score_names[0]}"

    def default_objectives(self) -> dict[str, str]:
        """What a config without ``objectives:`` optimises."""
        return {self.reported_metric: "maximize"}

    def metric_directions(self) -> dict[str, str]:
        """Every metric the task adds to a trial row, with its direction."""
        out = {f"{split}_{s}": "maximize" for split in ("val", "train") for s in self.score_names}
        return {**out, "val_loss": "minimize", "train_loss": "minimize"}

    def metric_row(self, scores: dict[str, float], prefix: str) -> dict[str, float]:
        """``scores`` (fractions) as trial-row metrics in percent: ``{prefix}_{name}``."""
        return {f"{prefix}_{name}": 100.0 * value for name, value in scores.items()}

    def check_training(self, cfg: TrainingConfig) -> None:  # noqa: B027 - a hook: most tasks train with any setting
        """Raise NasError if the training settings cannot train this task."""

    @abstractmethod
    def check_data(self, data: DataSplits) -> None:
        """Raise NasError if ``data``'s labels are not this task's."""

    @abstractmethod
    def criterion(self, cfg: TrainingConfig) -> nn.Module:
        """The training loss (``loss(logits, labels)``)."""

    @abstractmethod
    def summed_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The batch's validation loss (plain cross-entropy), summed over its inputs."""

    @abstractmethod
    def batch_score(self, logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
        """Summable statistics of one batch, left on the device."""

    @abstractmethod
    def scores(self, total: torch.Tensor, seen: int) -> dict[str, float]:
        """The scores (fractions, by :attr:`score_names`) of summed batch statistics over ``seen`` inputs."""

    @abstractmethod
    def output_shape(self, num_classes: int, input_shape: tuple[int, int, int]) -> tuple[int, ...]:
        """The shape of a network's output for one input (no batch dimension)."""


def task_named(name: str) -> Task:
    """The registered task called ``name`` (NasError naming the known ones otherwise)."""
    from nas.registry import TASKS

    task = TASKS.get(name)()
    if not isinstance(task, Task):
        raise NasError(f"task {name!r} is not a nas.tasks.Task; register a Task subclass")
    return task


def metric_direction(metric: str) -> str | None:
    """The direction a registered task gives ``metric`` (e.g. ``val_miou``: maximize), or None."""
    from nas.registry import TASKS

    for name in TASKS.names():
        directions = task_named(name).metric_directions()
        if metric in directions:
            return directions[metric]
    return None


def check_space(task: Task, space: Any) -> None:
    """NasError if ``space`` (a SearchSpace) builds networks for another task than ``task``."""
    built_for = getattr(space, "task", "classification")
    if built_for != task.name:
        raise NasError(
            f"space {getattr(space, 'name', '') or type(space).__name__!r} builds {built_for} "
            f"networks but the config's task is {task.name!r}; set task: {built_for} or choose "
            f"a {task.name} space"
        )


def check_output(
    task: Task, out: torch.Tensor, num_classes: int, input_shape: tuple[int, int, int]
) -> None:
    """NasError if a network's output (batch first) does not have the task's shape."""
    want = task.output_shape(num_classes, input_shape)
    if tuple(out.shape[1:]) != want:
        raise NasError(
            f"the network's output has shape {tuple(out.shape[1:])} per input, but task "
            f"{task.name!r} needs {want}; use a space built for {task.name}"
        )
