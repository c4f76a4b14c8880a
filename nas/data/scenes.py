"""Digit scenes: a small segmentation data set composed from scikit-learn's bundled digits.

Each scene is a blank canvas with a few of scikit-learn's 8x8 handwritten digits pasted at
random places (upscaled, later digits covering earlier ones); each pixel a digit covers (its ink
above ``ink``) is labelled with that digit's class plus one, the rest is background (class 0).
It is synthetic, not a real segmentation benchmark: a self-contained default that needs no
download and has real handwriting in it. Validation and test scenes are composed from digit
images that no training scene uses.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from nas.data.splits import DataSplits, Split, channel_stats, stratified_split
from nas.errors import NasError

#: background plus the ten digits
NUM_CLASSES = 11


def compose(
    digits: torch.Tensor,
    labels: torch.Tensor,
    count: int,
    rng: np.random.Generator,
    *,
    size: int,
    scale: int,
    per_scene: tuple[int, int],
    ink: float,
) -> Split:
    """``count`` scenes of ``size`` x ``size`` from ``digits`` (N, 8, 8 in [0, 1]) and their labels."""
    big = F.interpolate(digits[:, None], scale_factor=scale, mode="bilinear", align_corners=False)
    big = big[:, 0].clamp(0, 1)
    side = big.shape[-1]
    x = torch.zeros(count, 1, size, size)
    y = torch.zeros(count, size, size, dtype=torch.int64)
    for n in range(count):
        for _ in range(int(rng.integers(per_scene[0], per_scene[1] + 1))):
            k = int(rng.integers(len(big)))
            top, left = (int(v) for v in rng.integers(0, size - side + 1, size=2))
            patch = big[k]
            on = patch > ink
            area = (slice(top, top + side), slice(left, left + side))
            x[n, 0][area] = torch.where(on, patch, x[n, 0][area])
            y[n][area] = torch.where(on, int(labels[k]) + 1, y[n][area])
    return Split(x, y)


def digit_scenes(
    *,
    scenes: int = 1000,
    size: int = 32,
    scale: int = 2,
    digits_per_scene: tuple[int, int] = (1, 3),
    ink: float = 0.25,
    validation_fraction: float = 0.2,
    test_fraction: float = 0.2,
    split_seed: int = 0,
) -> DataSplits:
    """Segmentation scenes of scikit-learn's handwritten digits on a blank canvas, 11 classes
    (background + 10 digits), 1x32x32 by default; synthetic, no download."""
    from sklearn.datasets import load_digits

    lo, hi = digits_per_scene
    if scenes < 3 or size < 8 * scale or scale < 1 or not 1 <= lo <= hi or not 0 <= ink < 1:
        raise NasError(
            "digit_scenes needs scenes >= 3, scale >= 1, size >= 8 * scale, "
            "1 <= digits_per_scene[0] <= digits_per_scene[1] and 0 <= ink < 1"
        )
    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32) / 16.0
    labels = torch.tensor(bunch.target, dtype=torch.int64)
    pools = stratified_split(bunch.target, [validation_fraction, test_fraction], split_seed)
    counts = [round(scenes * validation_fraction), round(scenes * test_fraction)]
    counts.append(scenes - sum(counts))
    rng = np.random.default_rng(split_seed)
    val, test, train = (
        compose(
            images[torch.from_numpy(pool)],
            labels[torch.from_numpy(pool)],
            max(1, count),
            rng,
            size=size,
            scale=scale,
            per_scene=(lo, hi),
            ink=ink,
        )
        for pool, count in zip(pools, counts, strict=True)
    )
    mean, std = channel_stats(train.x)
    return DataSplits("digit_scenes", train, val, test, NUM_CLASSES, mean, std, task="segmentation")
