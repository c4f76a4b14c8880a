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
import math
from collections.abc import Callable, Iterator
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
    """Losses and correct predictions of a run of steps, kept where they were computed and read
    once (no wait for the device per step; per step only the correct count is computed, or what
    ``score(logits, y)`` sums instead: a task's statistics, such as a confusion matrix).

    The mean loss is summed on the host in float64, batch after batch (each batch's mean loss
    times its size), exactly as adding the Python floats of ``loss.item()`` did: on a CPU the
    numbers are the same to the last digit.
    """

    def __init__(
        self,
        device: torch.device,
        score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.device = device
        self.score = score
        self.seen = 0
        self._losses: list[torch.Tensor] = []
        self._weights: list[int] = []
        self._correct: list[torch.Tensor] = []
        self._checked = 0

    def watch(self, loss: torch.Tensor, weight: int = 0) -> None:
        """Keep ``loss`` for the finiteness check, counted ``weight`` times in the mean loss."""
        self._losses.append(loss.detach())
        self._weights.append(weight)

    def add(self, logits: torch.Tensor, y: torch.Tensor, loss: torch.Tensor, *, mean: bool) -> None:
        """Count one batch: its correct predictions and its loss (``mean``: the batch's mean loss,
        counted times the batch size; else the batch's summed loss)."""
        self.seen += len(y)
        self.watch(loss, len(y) if mean else 1)
        if self.score is not None:
            self._correct.append(self.score(logits, y))
        else:
            self._correct.append((logits.argmax(1) == y).sum())

    def non_finite(self) -> float | None:
        """The first non-finite loss watched since the last call, or None (waits for the device)."""
        new, self._checked = self._losses[self._checked :], len(self._losses)
        if not new:
            return None
        with host_sync(self.device):
            values = torch.stack(new).tolist()
        return next((v for v in values if not math.isfinite(v)), None)

    def means(self) -> tuple[float, float]:
        """(accuracy, mean loss) over the batches added (waits for the device)."""
        correct, loss = self.summed()
        return int(correct) / max(1, self.seen), loss

    def summed(self) -> tuple[torch.Tensor, float]:
        """(the batches' scores summed, on the host; mean loss) (waits for the device)."""
        with host_sync(self.device):
            losses = torch.stack(self._losses).tolist() if self._losses else []
            scored = torch.stack(self._correct).sum(0).cpu() if self._correct else torch.tensor(0)
        return scored, self._mean_loss(losses)

    def _mean_loss(self, losses: list[float]) -> float:
        total = 0.0
        for value, weight in zip(losses, self._weights, strict=True):
            total += value * weight  # in order, as the loop's Python floats were (not fsum)
        return total / max(1, self.seen)


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
