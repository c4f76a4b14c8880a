from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nas import NasError
from nas.config import TrainingConfig
from nas.data import subset
from nas.data.digits import digits
from nas.training.loop import CandidateError, evaluate_model, resolve_device, train_model
from nas.training.optim import lr_factor

CPU = torch.device("cpu")


def small_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, 10),
    )


def test_training_learns_digits_and_reports_every_epoch() -> None:
    data = digits()
    reports: list[tuple[int, float]] = []
    before, _ = evaluate_model(small_net(), data.val, data, TrainingConfig(), CPU)
    result = train_model(
        small_net(),
        data,
        TrainingConfig(lr=0.1),
        epochs=3,
        seed=0,
        device=CPU,
        report=lambda e, acc: reports.append((e, acc)),
    )
    assert [e for e, _ in reports] == [1, 2, 3]
    assert result.val_accuracy == reports[-1][1] == result.history[-1]
    assert result.val_accuracy > 0.6 > before
    assert result.train_loss < math.log(10)


def test_same_seed_same_weights_different_seed_different_weights() -> None:
    data = digits()
    cfg = TrainingConfig(label_smoothing=0.1)

    def run(seed: int) -> torch.Tensor:
        torch.manual_seed(0)
        model = small_net()
        train_model(model, data, cfg, epochs=1, seed=seed, device=CPU)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


def test_nan_loss_raises_candidate_error() -> None:
    class Exploding(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(64, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x.flatten(1)) * float("nan")

    with pytest.raises(CandidateError, match="loss became nan at epoch 1"):
        train_model(Exploding(), digits(), TrainingConfig(), epochs=1, seed=0, device=CPU)


def test_adamw_and_constant_schedule_train_too() -> None:
    cfg = TrainingConfig(optimizer="adamw", lr=0.01, schedule="constant", grad_clip=None)
    assert train_model(small_net(), digits(), cfg, epochs=1, seed=0, device=CPU).val_accuracy > 0.3


def test_cosine_schedule_with_warmup() -> None:
    f = lr_factor(TrainingConfig(warmup_epochs=1), steps_per_epoch=10, epochs=5)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert (
        f(10) == pytest.approx(1.0) and f(30) == pytest.approx(0.5) and f(50) == pytest.approx(0.0)
    )
    assert lr_factor(TrainingConfig(schedule="constant"), 10, 5)(40) == 1.0


def test_device_resolution() -> None:
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type in {"cpu", "cuda"}
    with pytest.raises(NasError, match="is not a device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(NasError, match="CUDA is not available"):
            resolve_device("cuda")


class AuxNet(nn.Module):
    """A network with a training-only auxiliary classifier, as DARTS networks have."""

    def __init__(self) -> None:
        super().__init__()
        self.body = small_net()
        self.auxiliary_head = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward_with_auxiliary(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.body(x), self.auxiliary_head(x) if self.training else None


@pytest.mark.parametrize("weight", [0.0, 0.4])
def test_auxiliary_heads_are_trained_with_their_loss_weight(weight: float) -> None:
    torch.manual_seed(0)
    model = AuxNet()
    before = [p.detach().clone() for p in model.auxiliary_head.parameters()]
    cfg = TrainingConfig(auxiliary_weight=weight, weight_decay=0.0)
    data = digits()
    train_model(
        model, data, cfg, epochs=1, seed=0, device=CPU, train_split=subset(data.train, 0.2, 0)
    )
    changed = any(
        not torch.equal(b, p)
        for b, p in zip(before, model.auxiliary_head.parameters(), strict=False)
    )
    assert changed == (weight > 0)
