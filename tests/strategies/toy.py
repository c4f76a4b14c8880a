"""A toy space with a known optimum and a cheap, deterministic evaluator for the strategy suite.

Used through 'module:attribute' paths (``tests.strategies.toy:GridSpace``), so nothing is added
to the registries that other suites iterate over.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from nas.arch import Choice
from nas.evaluators import Budget, EvalContext, Evaluator
from nas.space import SearchSpace

#: Choice -> score of a decision; the optimum takes "d" everywhere.
VALUE = {"a": 0.0, "b": 1.0, "c": 2.0, "d": 4.0}
#: Choice -> cost of a decision, the second objective (minimised): "d" is the most expensive.
COST = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 6.0}


class GridSpace(SearchSpace):
    """``n`` decisions, each one of four letters (4**n architectures)."""

    name = "grid"

    def __init__(self, *, n: int = 4) -> None:
        self.n = n

    def decisions(self) -> dict[str, tuple[Choice, ...]]:
        """Decisions x0..x{n-1}, each choosing a, b, c or d."""
        return {f"x{i}": ("a", "b", "c", "d") for i in range(self.n)}

    def build(
        self,
        arch: Mapping[str, Choice],
        *,
        num_classes: int,
        input_shape: tuple[int, int, int] = (3, 32, 32),
    ) -> nn.Module:
        """A linear layer (the suite never trains it)."""
        c, h, w = input_shape
        return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, num_classes))


def score(arch: Mapping[str, Choice]) -> float:
    """The toy objective: additive, plus a bonus when the first two decisions agree."""
    values = [VALUE[str(v)] for v in arch.values()]
    return sum(values) + (0.5 if values[0] == values[1] else 0.0)


def cost(arch: Mapping[str, Choice]) -> float:
    """The toy cost, conflicting with the score."""
    return sum(COST[str(v)] for v in arch.values())


class ToyScore(Evaluator):
    """Returns ``val_accuracy`` = :func:`score` and ``params`` = :func:`cost`; counts its calls."""

    def __init__(self, context: EvalContext) -> None:
        self.calls = 0

    def evaluate(
        self,
        arch: Mapping[str, Choice],
        space: SearchSpace,
        budget: Budget | None = None,
        report: Any = None,
    ) -> dict[str, Any]:
        """Score and cost of ``arch``."""
        self.calls += 1
        return {"val_accuracy": score(arch), "params": cost(arch)}


def optimum(n: int) -> float:
    """The best score in a GridSpace of ``n`` decisions."""
    return score({f"x{i}": "d" for i in range(n)})
