"""What keeps an accelerator busy, checked where it can be on a CPU: running totals kept as
tensors add up exactly as Python floats did, deferred finiteness, data placement, memory layout,
threads. (The GPU side, no host sync inside a step, is proven by experiments/benchmarks/gpu_smoke.py.)"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nas import NasError
from nas.config import TrainingConfig, resolve_config
from nas.data import iterate_batches
from nas.data.digits import digits
from nas.training.device import DeviceTotals, keeps_data, to_device
from nas.training.loop import evaluate_model, train_model

CPU = torch.device("cpu")


def test_totals_add_up_exactly_as_python_floats() -> None:
    """The loop's totals moved from Python floats to float64 tensors: the same numbers to the last digit."""
    generator = torch.Generator().manual_seed(0)
    totals = DeviceTotals(CPU)
    loss_sum, correct, seen = 0.0, 0, 0
    for n in (64, 64, 17, 64, 3):
        logits = torch.randn(n, 10, generator=generator)
        y = torch.randint(0, 10, (n,), generator=generator)
        loss = nn.functional.cross_entropy(logits, y) * 1.37
        totals.add(logits, y, loss, mean=True)
        loss_sum += loss.item() * n
        correct += int((logits.argmax(1) == y).sum().item())
        seen += n
    assert totals.means() == (correct / seen, loss_sum / seen)


def test_evaluation_matches_a_loop_of_python_floats() -> None:
    data = digits()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    cfg = TrainingConfig(eval_batch_size=100)
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for x, y in iterate_batches(data.val, 100, mean=data.mean, std=data.std, device=CPU):
            logits = model(x)
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            correct += int((logits.argmax(1) == y).sum().item())
    n = len(data.val)
    assert evaluate_model(model, data.val, data, cfg, CPU) == (correct / n, loss_sum / n)


def test_deferred_finiteness_keeps_the_first_bad_loss() -> None:
    totals = DeviceTotals(CPU)
    totals.watch(torch.tensor(2.5))
    assert totals.non_finite() is None
    totals.watch(torch.tensor(float("inf")))
    totals.watch(torch.tensor(1.0))
    totals.watch(torch.tensor(float("nan")))
    assert totals.non_finite() == float("inf")
    assert totals.non_finite() is None  # each check reads only the losses added since the last


def test_data_stays_on_the_host_for_a_cpu_and_moves_whole_when_asked() -> None:
    data = digits()
    assert not keeps_data("auto", CPU, [data.train]) and not keeps_data(True, CPU, [data.train])
    raw = {"name": "x", "trials": 1, "space": "nb201", "strategy": "random", "evaluator": "partial"}
    assert resolve_config({**raw, "training": {"data_on_device": True}}).training.data_on_device
    with pytest.raises(NasError, match="training.data_on_device"):
        resolve_config({**raw, "training": {"data_on_device": "sometimes"}})
    moved = to_device(data.val, CPU)
    assert torch.equal(moved.x, data.val.x) and torch.equal(moved.y, data.val.y)


def test_channels_last_trains_the_same_network_in_nhwc() -> None:
    data = digits()

    def trained(channels_last: bool) -> tuple[nn.Module, float]:
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(32, 10),
        )
        cfg = TrainingConfig(channels_last=channels_last, lr=0.1)
        return model, train_model(model, data, cfg, epochs=2, seed=0, device=CPU).train_loss

    nhwc, loss = trained(True)
    nchw, reference = trained(False)
    assert nhwc[3].weight.is_contiguous(memory_format=torch.channels_last)
    assert not nchw[3].weight.is_contiguous(memory_format=torch.channels_last)
    # other kernels, other rounding: the same training up to float32 noise
    assert loss == pytest.approx(reference, rel=1e-5)
    for a, b in zip(nhwc.parameters(), nchw.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-4)


@pytest.mark.usefixtures("one_thread")
def test_training_runs_on_the_configured_threads() -> None:
    """In-process trials train on ``training.threads`` (Ray trials get ``cpus_per_trial`` there)."""
    torch.set_num_threads(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    train_model(model, digits(), TrainingConfig(threads=1), epochs=1, seed=0, device=CPU)
    assert torch.get_num_threads() == 1
