"""Zero-cost proxies on dense outputs: every registered proxy scores U-Nets on segmentation masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nas.data.scenes import digit_scenes
from nas.evaluators.proxies import PROXIES, score
from nas.evaluators.zero_cost import proxy_batch
from nas.factories import create_space
from nas.training.loop import seeded


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    data = digit_scenes(scenes=30, size=16, scale=1)
    return proxy_batch(data, 8, 0, torch.device("cpu"))


@pytest.mark.parametrize("name", sorted(PROXIES))
def test_every_proxy_scores_a_unet_with_masks_and_tells_architectures_apart(
    name: str, batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    # grad_norm and snip take the pixel cross-entropy (masks of shape N, H, W; the ignored label is
    # cross-entropy's default ignore_index); synflow, jacob_cov and naswot read the whole output
    x, y = batch
    assert y.shape == (8, 16, 16)
    space = create_space("unet", levels=2, base_width=4)
    rng = np.random.default_rng(3)
    scores = set()
    for _ in range(3):
        with seeded(0):
            model = space.build(space.sample(rng), num_classes=11, input_shape=(1, 16, 16))
        value = score(name, model, x, y)
        assert math.isfinite(value)
        scores.add(value)
    assert len(scores) > 1
