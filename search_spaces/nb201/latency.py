"""The latency units of NAS-Bench-201 networks (the protocol of nas/costs/units.py).

A unit is one cell edge's operation at its stage's width and resolution, or one of the sums that
join a node's inputs ("add"), or the zeros a node with no live input gives ("zeros"). The stem,
the two residual reduction blocks and the head are the same in every candidate: the profile's
fitted overhead holds them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nas.costs.units import LatencyUnit
from search_spaces.nb201.network import EDGE_NODES
from search_spaces.nb201.ops import OPS, make_op


class Add(nn.Module):
    """The sum of two feature maps (here the input with itself), as a cell node adds its inputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x


class Zeros(nn.Module):
    """The zeros a node with no live input gives."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def stages(channels: int, input_shape: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """(width, height, width-in-pixels) of the three stages' cells."""
    _, h, w = input_shape
    return [(channels * 2**i, h // 2**i, w // 2**i) for i in range(3)]


def cell_units(ops: Sequence[str], shape: tuple[int, int, int]) -> list[LatencyUnit]:
    """The units of one cell with edge operations ``ops`` on feature maps of ``shape``."""
    units = [LatencyUnit(op, shape, shape[0]) for op in ops if op != "none"]
    for node in (1, 2, 3):
        live = sum(
            1 for op, (dst, _) in zip(ops, EDGE_NODES, strict=False) if dst == node and op != "none"
        )
        units += [LatencyUnit("add", shape, shape[0])] * max(live - 1, 0)
        if live == 0:
            units.append(LatencyUnit("zeros", shape, shape[0]))
    return units


def network_units(
    ops: Sequence[str], channels: int, cells_per_stage: int, input_shape: tuple[int, int, int]
) -> list[LatencyUnit]:
    """The units of a whole network: every cell of every stage."""
    units: list[LatencyUnit] = []
    for shape in stages(channels, input_shape):
        units += cell_units(ops, shape) * cells_per_stage
    return units


def every_unit(channels: int, input_shape: tuple[int, int, int]) -> list[LatencyUnit]:
    """Every unit some candidate runs: each operation, sum and zeros at each stage."""
    names = [op for op in OPS if op != "none"] + ["add", "zeros"]
    return [LatencyUnit(op, s, s[0]) for s in stages(channels, input_shape) for op in names]


def build_unit(unit: LatencyUnit) -> nn.Module:
    """The module that runs ``unit``."""
    if unit.op == "add":
        return Add()
    if unit.op == "zeros":
        return Zeros()
    return make_op(unit.op, unit.channels)
