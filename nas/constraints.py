"""Constraints on metrics (``params: "<= 1e6"``): parsed from the config, checked per trial.

A constraint's violation follows Optuna's convention: a value ``<= 0`` means satisfied, and
the size of a positive value says by how much it is missed. The runner stores each trial's
violations as the user attribute ``constraints`` (for the trial table) and hands them to
Optuna with ``Trial.set_constraint``, where Optuna's constraint-aware samplers read them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nas.errors import NasError

#: The trial user attribute that holds the violations, one per constraint.
VIOLATIONS_ATTR = "constraints"

_SPEC = re.compile(r"^\s*(<=|>=)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` or ``metric >= bound``."""

    metric: str
    op: str
    bound: float

    def violation(self, metrics: Mapping[str, Any]) -> float:
        """How far ``metrics`` miss the constraint (``<= 0`` when it holds; inf if the metric is absent)."""
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(float(value)):
            return math.inf
        gap = float(value) - self.bound
        return gap if self.op == "<=" else -gap

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


def parse_constraints(spec: Mapping[str, Any]) -> list[Constraint]:
    """Parse the config's ``constraints: {metric: "<= bound"}`` (a list of such strings per metric
    is allowed for a range, e.g. ``["<= 10", ">= 2"]``)."""
    out = []
    for metric, raw in spec.items():
        for text in raw if isinstance(raw, (list, tuple)) else [raw]:
            match = _SPEC.match(str(text))
            bound = _number(match.group(2)) if match else None
            if bound is None:
                raise NasError(
                    f"constraint {metric}: {text!r} must read '<= NUMBER' or '>= NUMBER' "
                    f'(e.g. params: "<= 1e6")'
                )
            assert match is not None  # a bound was parsed from it
            out.append(Constraint(str(metric), match.group(1), bound))
    return out


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def violations(constraints: Sequence[Constraint], metrics: Mapping[str, Any]) -> list[float]:
    """The violation of each constraint for one trial's metrics."""
    return [c.violation(metrics) for c in constraints]
