"""A toy space and evaluator used by the runner tests through 'module:attribute' paths, and a
factory function that is not registered (so that a config may not name it)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.arch import Choice
from nas.evaluators import Budget, EvalContext, Evaluator
from nas.space import SearchSpace


class ToySpace(SearchSpace):
    """Three decisions (widths x 2 x depths architectures); builds a one-layer network."""

    name = "toy"

    def __init__(self, *, widths: int = 3, depths: int = 1) -> None:
        self.widths = widths
        self.depths = depths

    def decisions(self) -> dict[str, tuple[Choice, ...]]:
        """'a' picks a width, 'b' an activation."""
        return {
            "a": tuple(range(self.widths)),
            "b": ("relu", "tanh"),
            "c": tuple(range(self.depths)),
        }

    def build(
        self,
        arch: Mapping[str, Choice],
        *,
        num_classes: int,
        input_shape: tuple[int, int, int] = (3, 32, 32),
    ) -> nn.Module:
        """Flatten, linear, activation, linear."""
        arch = self.validate(arch)
        c, h, w = input_shape
        hidden = 4 * (int(arch["a"]) + 1)
        act = nn.ReLU() if arch["b"] == "relu" else nn.Tanh()
        return nn.Sequential(
            nn.Flatten(), nn.Linear(c * h * w, hidden), act, nn.Linear(hidden, num_classes)
        )


class ToyEvaluator(Evaluator):
    """Scores a + (b == 'tanh') + c / 10; raises, returns NaN, runs out of memory or hangs for
    chosen values of 'a'."""

    def __init__(
        self,
        context: EvalContext,
        *,
        fail_when_a: int = -1,
        nan_when_a: int = -1,
        oom_when_a: int = -1,
        hang_when_a: int = -1,
        sleep: float = 0.0,
        hold_while: str = "",
    ) -> None:
        self.fail_when_a = fail_when_a
        self.nan_when_a = nan_when_a
        self.oom_when_a = oom_when_a
        self.hang_when_a = hang_when_a
        self.sleep = sleep
        self.hold_while = hold_while  # a file: each evaluation waits for as long as it exists

    def evaluate(
        self,
        arch: Mapping[str, Choice],
        space: SearchSpace,
        budget: Budget | None = None,
        report: Any = None,
    ) -> dict[str, Any]:
        """The toy score, or a failure."""
        time.sleep(self.sleep)
        while self.hold_while and Path(self.hold_while).exists():
            time.sleep(0.02)
        if arch["a"] == self.hang_when_a:
            time.sleep(3600)
        if arch["a"] == self.oom_when_a:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        if arch["a"] == self.fail_when_a:
            raise RuntimeError(f"candidate a={arch['a']} crashed")
        value = (
            float("nan")
            if arch["a"] == self.nan_when_a
            else float(arch["a"]) + (arch["b"] == "tanh") + arch["c"] / 10
        )
        return {"val_accuracy": value, "params": 10 * (int(arch["a"]) + 1)}


def unregistered_toy_space(*, widths: int = 3) -> ToySpace:
    """A ToySpace built by a plain function that no registry knows: a config naming it is refused."""
    return ToySpace(widths=widths)
