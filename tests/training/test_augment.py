"""Batch augmentation and the weight EMA of the shared training loop."""

from __future__ import annotations

import torch
from torch import nn

from nas.config import AugmentConfig, TrainingConfig
from nas.data.digits import digits
from nas.training.augment import augment, cutout, random_crop, random_flip
from nas.training.loop import WeightEMA, evaluate_model, train_model


def batch(n: int = 64) -> torch.Tensor:
    return torch.arange(n * 2 * 6 * 6, dtype=torch.float32).reshape(n, 2, 6, 6) + 1.0


def test_random_crop_shifts_each_image_within_the_padding() -> None:
    x = batch()
    out = random_crop(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    padded = nn.functional.pad(x, (2, 2, 2, 2))
    shifts = set()
    for i in range(len(x)):
        found = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if torch.equal(out[i], padded[i, :, dy : dy + 6, dx : dx + 6])
        ]
        assert found, "every crop is a window of the padded image"
        shifts.add(found[0])
    assert len(shifts) > 5
    assert torch.equal(random_crop(x, 0, torch.Generator()), x)


def test_flip_mirrors_about_half_and_cutout_blanks_a_square() -> None:
    x = batch(200)
    flipped = random_flip(x, torch.Generator().manual_seed(0))
    mirrored = [torch.equal(flipped[i], x[i].flip(2)) for i in range(len(x))]
    assert all(m or torch.equal(flipped[i], x[i]) for i, m in enumerate(mirrored))
    assert 60 < sum(mirrored) < 140
    holes = cutout(x, 3, torch.Generator().manual_seed(0))
    zeros = (holes == 0).all(1).sum((1, 2))  # blank pixels per image (x has no zeros)
    assert zeros.max() == 9 and zeros.min() >= 2  # clipped at the borders, never gone entirely
    assert torch.equal(holes[holes != 0], x[holes != 0])


def test_augment_is_seeded_and_off_by_default() -> None:
    x = batch()
    cfg = AugmentConfig(crop_padding=1, flip=True, cutout=2)
    first = augment(x, cfg, torch.Generator().manual_seed(3))
    assert torch.equal(first, augment(x, cfg, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, augment(x, cfg, torch.Generator().manual_seed(4)))
    assert torch.equal(augment(x, AugmentConfig(), torch.Generator()), x)


def test_weight_ema_follows_the_warmed_up_decay() -> None:
    model = nn.Linear(2, 1)
    ema = WeightEMA(model, decay=0.9)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)  # decay min(0.9, 2 / 11)
    d = 2 / 11
    assert torch.allclose(ema.module.weight, d * start + (1 - d) * (start + 1.0))
    assert not ema.module.weight.requires_grad


def test_training_with_ema_hands_back_the_averaged_weights() -> None:
    data = digits()
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    cfg = TrainingConfig(ema_decay=0.9, augment=AugmentConfig(cutout=2), device="cpu", threads=1)
    result = train_model(model, data, cfg, epochs=2, seed=0, device=torch.device("cpu"))
    assert 50 < 100 * result.val_accuracy <= 100
    accuracy, _ = evaluate_model(model, data.val, data, cfg, torch.device("cpu"))
    assert accuracy == result.val_accuracy  # the weights handed back are the ones validated
