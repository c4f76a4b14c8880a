from __future__ import annotations

from torch import nn

from nas.config import CostsConfig
from nas.costs.measure import (
    cost_metrics,
    count_flops,
    count_params,
    measure_latency,
    peak_activation_bytes,
)


def test_params_and_flops_of_a_hand_computed_network() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),  # 3*8*9 = 216 params; 216 * 16*16 MACs
        nn.BatchNorm2d(8),  # 16 params, no MACs counted
        nn.ReLU(),
        nn.Conv2d(8, 4, 1, stride=2),  # 8*4 + 4 = 36 params; 32 * 8*8 MACs
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 10),  # 50 params; 40 MACs
    )
    assert count_params(model) == 216 + 16 + 36 + 50
    assert count_flops(model, (3, 16, 16)) == 216 * 256 + 32 * 64 + 40


def test_flops_leave_the_training_mode_alone() -> None:
    model = nn.Sequential(nn.Linear(4, 2))
    model.train()
    assert count_flops(model, (1, 1, 4)) == 8
    assert model.training


def test_peak_activation_memory_of_a_hand_computed_network() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 4, 3, padding=1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
    # conv1's output (8x16x16 floats, 8 KiB) and the ReLU's copy of it are alive at once: 16 KiB;
    # later steps hold less (ReLU out + conv2 out = 12 KiB)
    assert peak_activation_bytes(model, (3, 16, 16)) == 2 * 8 * 16 * 16 * 4
    inplace = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True))
    assert peak_activation_bytes(inplace, (3, 16, 16)) == 8 * 16 * 16 * 4
    assert peak_activation_bytes(inplace, (3, 16, 16), batch_size=4) == 4 * 8 * 16 * 16 * 4


def test_cost_metrics_follow_the_costs_config() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    assert set(cost_metrics(model, (3, 2, 2), CostsConfig(memory=False))) == {"params", "flops"}
    metrics = cost_metrics(
        model, (3, 2, 2), CostsConfig(latency=True, latency_batch_sizes=[1, 8], latency_repeats=3)
    )
    assert set(metrics) == {"params", "flops", "activation_bytes", "latency_ms", "latency_ms_b8"}
    assert metrics["latency_ms"] > 0 and metrics["latency_ms_b8"] > 0
    assert measure_latency(model, (3, 2, 2), repeats=3, warmup=0) > 0


def test_params_leave_auxiliary_heads_out_unless_asked() -> None:
    class WithAux(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(4, 3)  # 15 params
            self.auxiliary_head = nn.Linear(4, 3)  # 15 params, used in training only

    assert count_params(WithAux()) == 15
    assert count_params(WithAux(), auxiliary=True) == 30
