from __future__ import annotations

from torch import nn

from nas.costs import count_flops, count_params


def test_params_and_flops_of_a_hand_computed_network() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),   # 3*8*9 = 216 params; 216 * 16*16 MACs
        nn.BatchNorm2d(8),                           # 16 params, no MACs counted
        nn.ReLU(),
        nn.Conv2d(8, 4, 1, stride=2),                # 8*4 + 4 = 36 params; 32 * 8*8 MACs
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 10),                            # 50 params; 40 MACs
    )
    assert count_params(model) == 216 + 16 + 36 + 50
    assert count_flops(model, (3, 16, 16)) == 216 * 256 + 32 * 64 + 40


def test_flops_leave_the_training_mode_alone() -> None:
    model = nn.Sequential(nn.Linear(4, 2))
    model.train()
    assert count_flops(model, (1, 1, 4)) == 8
    assert model.training


def test_params_leave_auxiliary_heads_out_unless_asked() -> None:
    class WithAux(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(4, 3)            # 15 params
            self.auxiliary_head = nn.Linear(4, 3)  # 15 params, used in training only

    assert count_params(WithAux()) == 15
    assert count_params(WithAux(), auxiliary=True) == 30
