"""scikit-learn's bundled 8x8 handwritten digits: the default data set, no download needed."""

from __future__ import annotations

import torch

from nas.data.splits import DataSplits, make_splits


def digits(
    *, validation_fraction: float = 0.2, test_fraction: float = 0.2, split_seed: int = 0
) -> DataSplits:
    """Handwritten digits, 1,797 images of 1x8x8 in 10 classes, bundled with scikit-learn."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.int64)
    return make_splits(
        "digits",
        x,
        y,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        split_seed=split_seed,
        num_classes=10,
    )
