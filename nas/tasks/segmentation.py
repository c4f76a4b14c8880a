"""Semantic segmentation: a class per pixel, pixel cross-entropy that skips ignored pixels, mIoU."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from nas.errors import NasError
from nas.tasks.base import Task

if TYPE_CHECKING:
    from nas.config import TrainingConfig
    from nas.data import DataSplits

#: The label of pixels that count in neither loss nor scores (data loaders map their own
#: ``ignore_index`` to it); PyTorch's cross-entropy default.
IGNORE_INDEX = -100


def confusion(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The (true, predicted) pixel-count matrix of ``num_classes`` classes, ignored pixels left out."""
    cells = num_classes * num_classes
    # no boolean indexing nor bincount: both wait for the device (ignored pixels go to a spare cell)
    index = torch.where(y != IGNORE_INDEX, y * num_classes + pred, cells).flatten()
    counts = torch.zeros(cells + 1, dtype=torch.int64, device=y.device)
    counts.scatter_add_(0, index, torch.ones_like(index))
    return counts[:cells].view(num_classes, num_classes)


def iou_scores(matrix: torch.Tensor) -> dict[str, float]:
    """Mean intersection over union (over the classes present in labels or predictions) and pixel
    accuracy, of a confusion matrix."""
    m = matrix.double()
    hits = m.diag()
    union = m.sum(0) + m.sum(1) - hits
    present = union > 0
    miou = float((hits[present] / union[present]).mean()) if bool(present.any()) else 0.0
    total = float(m.sum())
    return {"miou": miou, "pixel_accuracy": float(hits.sum()) / total if total else 0.0}


class Segmentation(Task):
    """A class per pixel: pixel cross-entropy skipping ``IGNORE_INDEX``, mean IoU and pixel accuracy."""

    name = "segmentation"
    score_names = ("miou", "pixel_accuracy")

    def check_training(self, cfg: TrainingConfig) -> None:
        """Augmentation and distillation move or read images without their masks: refused."""
        aug = cfg.augment
        if aug.crop_padding or aug.flip or aug.cutout:
            raise NasError(
                "training.augment would move images without their masks; turn it off for "
                "task: segmentation"
            )
        if cfg.distill is not None:
            raise NasError(
                "training.distill supports classification only; remove it for task: segmentation"
            )

    def check_data(self, data: DataSplits) -> None:
        """Labels are one class index per pixel, within ``num_classes`` or ``IGNORE_INDEX``."""
        y = data.train.y
        if y.ndim != 3:
            raise NasError(
                f"data set {data.name!r} has one label per image, not a mask per image; use a "
                "segmentation data set (digit_scenes, masks_folder) or task: classification"
            )
        valid = y[y != IGNORE_INDEX]
        if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= data.num_classes):
            raise NasError(
                f"data set {data.name!r} has mask values outside 0..{data.num_classes - 1}; "
                "give the right num_classes or ignore_index"
            )

    def criterion(self, cfg: TrainingConfig) -> nn.Module:
        """Cross-entropy over pixels, ignored pixels left out."""
        return nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX, label_smoothing=cfg.label_smoothing)

    def summed_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each image's mean pixel cross-entropy (ignored pixels left out), summed over the images."""
        pixels = nn.functional.cross_entropy(logits, y, ignore_index=IGNORE_INDEX, reduction="none")
        counted = (y != IGNORE_INDEX).flatten(1).sum(1).clamp_min(1)
        return (pixels.flatten(1).sum(1) / counted).sum()

    def batch_score(self, logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
        """The batch's confusion matrix."""
        return confusion(logits.argmax(1), y, num_classes)

    def scores(self, total: torch.Tensor, seen: int) -> dict[str, float]:
        """mIoU and pixel accuracy of the summed confusion matrix."""
        return iou_scores(total)

    def output_shape(self, num_classes: int, input_shape: tuple[int, int, int]) -> tuple[int, ...]:
        """One logit per class and pixel."""
        return (num_classes, input_shape[1], input_shape[2])
