"""Image classification: one label per image, cross-entropy, accuracy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from nas.errors import NasError
from nas.tasks.base import Task

if TYPE_CHECKING:
    from nas.config import TrainingConfig
    from nas.data import DataSplits


class Classification(Task):
    """A class per image: cross-entropy (with label smoothing), accuracy; the default task."""

    name = "classification"
    score_names = ("accuracy",)

    def check_data(self, data: DataSplits) -> None:
        """Labels are one class index per image."""
        if data.train.y.ndim != 1:
            raise NasError(
                f"data set {data.name!r} has a label per pixel, not per image; set task: "
                "segmentation in the config"
            )

    def criterion(self, cfg: TrainingConfig) -> nn.Module:
        """Cross-entropy with the configured label smoothing."""
        return nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

    def summed_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy summed over the images."""
        return nn.functional.cross_entropy(logits, y, reduction="sum")

    def batch_score(self, logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
        """The number of correct predictions."""
        return (logits.argmax(1) == y).sum()

    def scores(self, total: torch.Tensor, seen: int) -> dict[str, float]:
        """Accuracy: correct predictions over inputs."""
        return {"accuracy": int(total) / max(1, seen)}

    def output_shape(self, num_classes: int, input_shape: tuple[int, int, int]) -> tuple[int, ...]:
        """One logit per class."""
        return (num_classes,)
