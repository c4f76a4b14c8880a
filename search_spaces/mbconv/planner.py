"""From a validated MBConv architecture to its ``NetworkPlan``, with the space's scaling values.

Shared by ``MBConvSpace`` and its supernet, which is built from these plain values rather than from
the space. Kept apart from ``plan.py``, which exported networks inline: that one may import only
torch and the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nas.arch import Choice
from search_spaces.mbconv.plan import NUM_STAGES, NetworkPlan, StageChoice, make_plan

#: The decisions of each stage, in order; decision names are ``s{stage}_{field}``.
FIELDS: tuple[str, ...] = ("kernel", "expand", "layers", "channels", "se")


def stage_choices(arch: Mapping[str, Choice]) -> list[StageChoice]:
    """The per-stage choices of an architecture already validated by its space."""
    stages = []
    for i in range(1, NUM_STAGES + 1):
        values: list[Any] = [arch[f"s{i}_{f}"] for f in FIELDS]
        stages.append(StageChoice(*values))
    return stages


@dataclass(frozen=True)
class Planner:
    """The values besides the architecture that fix a network's blocks: compound scaling
    (``width``, ``depth``, ``resolution``), SE ratio, dropout, drop path and BN momentum."""

    width: float
    depth: float
    resolution: int | None
    se_ratio: float
    dropout: float
    drop_path_rate: float
    bn_momentum: float

    def plan(self, arch: Mapping[str, Choice], input_shape: tuple[int, int, int]) -> NetworkPlan:
        """The concrete, scaled blocks of a validated ``arch`` for a checked ``input_shape``."""
        return make_plan(
            stage_choices(arch),
            input_shape=input_shape,
            width=self.width,
            depth=self.depth,
            resolution=self.resolution,
            se_ratio=self.se_ratio,
            dropout=self.dropout,
            drop_path_rate=self.drop_path_rate,
            bn_momentum=self.bn_momentum,
        )
