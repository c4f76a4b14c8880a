"""In-memory splits of a data set, deterministic splitting, and batch iteration."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nas.errors import NasError


@dataclass(frozen=True)
class Split:
    """Images ``x`` (N, C, H, W; uint8 or float) and integer labels ``y``: (N,) for a class per
    image, or (N, H, W) masks for a class per pixel (segmentation)."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        masks = self.y.ndim == 3 and self.x.ndim == 4 and self.y.shape[1:] == self.x.shape[2:]
        if self.x.ndim != 4 or not (self.y.ndim == 1 or masks) or len(self.x) != len(self.y):
            raise ValueError(
                f"a split needs x of shape (N, C, H, W) and y of shape (N,) or (N, H, W), got "
                f"{tuple(self.x.shape)} and {tuple(self.y.shape)}"
            )

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class DataSplits:
    """Train / validation / test splits with the per-channel normalisation to apply to batches."""

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: the task its labels are for (a name in nas.registry.TASKS)
    task: str = "classification"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one input."""
        c, h, w = self.train.x.shape[1:]
        return int(c), int(h), int(w)


def stratified_split(labels: np.ndarray, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Split indices into parts of the given fractions (the last part takes the rest), per class.

    The same labels, fractions and seed always give the same indices.
    """
    if any(f < 0 for f in fractions) or sum(fractions) >= 1:
        raise NasError(f"split fractions {list(fractions)} must be >= 0 and sum to less than 1")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(len(fractions) + 1)]
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        bounds = np.cumsum([round(f * len(idx)) for f in fractions])
        for part, chunk in zip(parts, np.split(idx, bounds), strict=False):
            part.extend(chunk.tolist())
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def subset(split: Split, fraction: float, seed: int) -> Split:
    """A deterministic fraction of a split, class-stratified for image labels (the whole split for 1.0)."""
    if not 0 < fraction <= 1:
        raise NasError(f"data fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return split
    labels = split.y.numpy() if split.y.ndim == 1 else np.zeros(len(split), dtype=np.int64)
    keep, _ = stratified_split(labels, [fraction], seed)
    index = torch.from_numpy(keep)
    return Split(split.x[index], split.y[index])


def resized_shape(shape: tuple[int, int], side: int) -> tuple[int, int]:
    """(height, width) scaled so that the shorter side becomes ``side``, keeping the aspect ratio."""
    h, w = shape
    short = min(h, w)
    return max(1, round(h * side / short)), max(1, round(w * side / short))


def resize(split: Split, side: int, chunk: int = 2048) -> Split:
    """The split's images resized (bilinear, antialiased) so their shorter side is ``side``;
    uint8 images stay uint8 (rounded), so a resized copy costs no more memory than the original.
    Masks (segmentation labels) are resized with the nearest pixel."""
    if side < 1:
        raise NasError(f"resolution must be at least 1 pixel, got {side}")
    size = resized_shape((split.x.shape[2], split.x.shape[3]), side)
    if size == tuple(split.x.shape[2:]):
        return split
    parts = []
    for start in range(0, len(split), chunk):
        x = torch.nn.functional.interpolate(
            split.x[start : start + chunk].float(),
            size=size,
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        parts.append(
            x.round().clamp(0, 255).to(torch.uint8)
            if split.x.dtype == torch.uint8
            else x.to(split.x.dtype)
        )
    y = split.y
    if y.ndim == 3:
        y = torch.nn.functional.interpolate(y[:, None].float(), size=size, mode="nearest")
        y = y[:, 0].to(split.y.dtype)
    return Split(torch.cat(parts), y)


def iterate_batches(
    split: Split,
    batch_size: int,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield normalised float batches on ``device``; shuffled when a generator is given.

    A split already on ``device`` is indexed there; nothing waits for the device (every copy to it
    is non-blocking), so that a GPU's queue never drains between batches.
    """
    n = len(split)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    resident = split.x.device.type != "cpu"  # kept on an accelerator: index it there
    if resident:
        order = order.to(split.x.device, non_blocking=True)
    scale = 255.0 if split.x.dtype == torch.uint8 else 1.0
    m = torch.tensor(mean).to(device, non_blocking=True).view(1, -1, 1, 1) * scale
    s = torch.tensor(std).to(device, non_blocking=True).view(1, -1, 1, 1) * scale
    for start in range(0, n, batch_size):
        index = order[start : start + batch_size]
        x = split.x.index_select(0, index) if resident else split.x[index]
        y = split.y.index_select(0, index) if resident else split.y[index]
        x = x.to(device, non_blocking=True).float()
        yield (x - m) / s, y.to(device, non_blocking=True)


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of images scaled to [0, 1] (uint8 images are divided by 255)."""
    xf = x.float() / (255.0 if x.dtype == torch.uint8 else 1.0)
    mean = xf.mean(dim=(0, 2, 3))
    std = xf.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist())


def make_splits(
    name: str,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    validation_fraction: float,
    test_fraction: float,
    split_seed: int,
    num_classes: int,
) -> DataSplits:
    """Split one pool of images into train / validation / test, normalised by the train statistics."""
    val_idx, test_idx, train_idx = stratified_split(
        y.numpy(), [validation_fraction, test_fraction], split_seed
    )

    def take(idx: np.ndarray) -> Split:
        return Split(x[torch.from_numpy(idx)], y[torch.from_numpy(idx)])

    train = take(train_idx)
    mean, std = channel_stats(train.x)
    return DataSplits(name, train, take(val_idx), take(test_idx), num_classes, mean, std)
