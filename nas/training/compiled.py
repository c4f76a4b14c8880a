"""A candidate's training forward pass, optionally through ``torch.compile`` (``training.compile``),
falling back to eager execution for good when compiling fails."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

Forward = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]

log = logging.getLogger(__name__)


def compile_forward(forward: Forward, backend: str) -> Forward:
    """``forward`` compiled by ``backend`` (compilation itself happens at the first call)."""
    # each candidate is a new network for the same code objects: start from empty caches, so that
    # dynamo's recompilation limit never silently sends later candidates to eager execution
    torch.compiler.reset()
    return torch.compile(forward, backend=backend)


class CandidateForward:
    """(logits, auxiliary logits or None) of a batch: compiled while compiling works, else eager.

    ``error`` says why compiling failed (None while compiled or when compiling is off).
    """

    def __init__(self, eager: Forward, compile: bool, backend: str = "inductor") -> None:
        self.eager = eager
        self.compiled = compile_forward(eager, backend) if compile else None
        self.requested = compile
        self.error: str | None = None

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The forward pass, compiled or eager."""
        return (self.compiled or self.eager)(x)

    @property
    def is_compiled(self) -> bool:
        """True while the compiled forward pass is in use."""
        return self.compiled is not None

    def fall_back(self, exc: BaseException) -> bool:
        """After ``exc`` was raised by a compiled step: switch to eager and return True (the caller
        repeats the step eagerly); False when already eager (the error is the network's own)."""
        if self.compiled is None:
            return False
        self.compiled = None
        self.error = describe(exc)
        log.warning("torch.compile failed, training this candidate eagerly: %s", self.error)
        return True


def describe(exc: BaseException) -> str:
    """One line naming a compile failure and, for torch's wrapped errors, the error inside."""
    inner = getattr(exc, "inner_exception", None) or exc.__cause__
    text = f"{type(exc).__name__}"
    if inner is not None and inner is not exc:
        text += f": {type(inner).__name__}"
        exc = inner
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{text}: {lines[0]}"[:300] if lines else text
