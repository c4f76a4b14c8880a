"""A per-trial time limit: a candidate that runs too long is stopped and recorded as failed.

Two mechanisms together, because neither covers every case alone:

- in the main thread, a ``SIGALRM`` timer interrupts whatever the evaluator is doing (a plugin
  that sleeps or loops in Python); the exception is raised between Python bytecodes, never inside
  a torch kernel, and is held back while the trial writes to the study (see :func:`shielded`);
- everywhere (also in worker threads, where signals cannot be delivered), the training loop calls
  :func:`check_deadline` after every batch.
"""

from __future__ import annotations

import contextvars
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import torch

_DEADLINE: contextvars.ContextVar[tuple[float, float] | None] = contextvars.ContextVar(
    "nas_deadline", default=None
)
_shield = threading.local()


class TrialTimeout(Exception):
    """A candidate's evaluation ran past the per-trial time limit."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"exceeded the per-trial time limit of {seconds:g} s "
            "(raise trial_time_limit, or make candidates cheaper)"
        )
        self.seconds = seconds


def check_deadline() -> None:
    """Raise :class:`TrialTimeout` if the current trial's time limit has passed."""
    limit = _DEADLINE.get()
    if limit is not None and time.monotonic() > limit[0] and not getattr(_shield, "depth", 0):
        raise TrialTimeout(limit[1])


@contextmanager
def shielded() -> Iterator[None]:
    """Hold a timeout back while the body runs (a storage write must not be cut in half)."""
    _shield.depth = getattr(_shield, "depth", 0) + 1
    try:
        yield
    finally:
        _shield.depth -= 1
    if not _shield.depth and getattr(_shield, "pending", False):
        _shield.pending = False
        check_deadline()


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    limit = _DEADLINE.get()
    if limit is None:
        return
    if getattr(_shield, "depth", 0):
        _shield.pending = True
        return
    raise TrialTimeout(limit[1])


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Run the body under a time limit of ``seconds`` (None: no limit)."""
    if seconds is None:
        yield
        return
    token = _DEADLINE.set((time.monotonic() + seconds, seconds))
    grad = torch.is_grad_enabled()  # an interrupt inside no_grad's __enter__ would leave it off
    alarm = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    previous = None
    if alarm:
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        _shield.pending = False
        _DEADLINE.reset(token)
        torch.set_grad_enabled(grad)


@contextmanager
def paused() -> Iterator[None]:
    """Run the body outside the time limit (a run's one-time set-up, such as training a
    supernet, is not any one candidate's cost); the limit restarts in full afterwards."""
    limit = _DEADLINE.get()
    if limit is None:
        yield
        return
    token = _DEADLINE.set(None)
    alarm = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if alarm:
        signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        _DEADLINE.reset(token)
        _DEADLINE.set((time.monotonic() + limit[1], limit[1]))
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, limit[1])
