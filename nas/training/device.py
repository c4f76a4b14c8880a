"""Keeping an accelerator busy: no host synchronisation inside a training step, the data set kept
on the device when it fits, and running totals that stay on the device until the epoch ends.

On a GPU every ``.item()``, ``bool(tensor)`` or blocking copy makes the host wait until the
device has finished all queued work; for the small networks a search trains, such waits cost a
large share of each step. The training loop therefore reads results from the device only
through :func:`host_sync` (once per epoch, and a finiteness check every ``FINITE_CHECK_STEPS``),
which ``torch.cuda.set_sync_debug_mode("error")`` leaves alone: any other sync in a training
epoch raises (experiments/benchmarks/gpu_smoke.py proves there is none).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch

from nas.data import Split

#: On a GPU, the finiteness of the loss is read every this many steps (and at each epoch's end).
FINITE_CHECK_STEPS = 100
#: "auto" keeps the data on a CUDA device when it takes at most this share of its free memory.
DEVICE_DATA_SHARE = 0.25


@contextlib.contextmanager
def host_sync(device: torch.device) -> Iterator[None]:
    """Mark a deliberate wait for the device (reading a result): allowed under torch's sync debug mode."""
    if device.type != "cuda":
        yield
        return
    mode = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode(0)
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(mode)


class DeviceTotals:
    """Loss, correct predictions and finiteness of a run of steps, summed where the tensors live.

    The loss is summed in float64 (each batch's mean loss times its size), exactly as adding the
    Python floats of ``loss.item()`` would: on a CPU the numbers are the same to the last digit.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seen = 0
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.finite = torch.ones((), dtype=torch.bool, device=device)
        self.first_bad = torch.zeros((), dtype=torch.float32, device=device)

    def add(self, logits: torch.Tensor, y: torch.Tensor, loss: torch.Tensor, *, mean: bool) -> None:
        """Count one batch: its correct predictions and its loss (``mean``: the batch's mean loss,
        counted times the batch size; else the batch's summed loss)."""
        self.seen += len(y)
        loss = loss.detach().double()
        self.loss_sum += loss * len(y) if mean else loss
        self.correct += (logits.argmax(1) == y).sum()

    def watch(self, loss: torch.Tensor) -> None:
        """Remember whether ``loss`` is finite (and the first value that is not), without waiting."""
        loss = loss.detach().float()
        self.first_bad = torch.where(self.finite, loss, self.first_bad)
        self.finite &= torch.isfinite(loss)

    def non_finite(self) -> float | None:
        """The first non-finite loss watched, or None if all were finite (waits for the device)."""
        with host_sync(self.device):
            if bool(self.finite):
                return None
            return float(self.first_bad)

    def means(self) -> tuple[float, float]:
        """(accuracy, mean loss) over the batches added (waits for the device)."""
        with host_sync(self.device):
            correct, loss_sum = int(self.correct), float(self.loss_sum)
        return correct / max(1, self.seen), loss_sum / max(1, self.seen)


def keeps_data(setting: bool | Literal["auto"], device: torch.device, splits: list[Split]) -> bool:
    """Whether to copy ``splits`` to ``device`` once instead of copying every batch: never on a CPU;
    with "auto" on CUDA when they take at most ``DEVICE_DATA_SHARE`` of the device's free memory."""
    if device.type == "cpu" or setting is False:
        return False
    if setting is True:
        return True
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    size = sum(s.x.nbytes + s.y.nbytes for s in splits)
    return size <= DEVICE_DATA_SHARE * free


def to_device(split: Split, device: torch.device) -> Split:
    """The split with its images (as stored: uint8 stays uint8) and labels on ``device``."""
    return Split(split.x.to(device, non_blocking=True), split.y.to(device, non_blocking=True))
