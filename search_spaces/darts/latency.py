"""The latency units of DARTS networks (the protocol of nas/costs/units.py).

A unit is one cell edge's operation at its cell's width and resolution (stride 2 on the edges out
of a reduction cell's inputs). The stem, each cell's two 1x1 preprocessing convolutions, the node
sums, the concatenation and the classifier are the same in every candidate: the profile's fitted
overhead holds them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from torch import nn

from nas.costs.units import LatencyUnit
from search_spaces.darts.network import cell_specs
from search_spaces.darts.ops import make_op


def cell_geometry(
    channels: int, layers: int, input_shape: tuple[int, int, int]
) -> Iterator[tuple[bool, int, int, int]]:
    """(reduction, C, height, width) of each cell's inputs, in order."""
    _, h, w = input_shape
    for spec in cell_specs(channels, layers):
        yield spec.reduction, spec.c, h, w
        if spec.reduction:
            h, w = (h + 1) // 2, (w + 1) // 2


def edge_unit(op: str, c: int, h: int, w: int, reduction: bool, source: int) -> LatencyUnit:
    """The unit of one edge out of state ``source`` (0 and 1: the cell's inputs)."""
    stride = 2 if reduction and source < 2 else 1
    if reduction and source >= 2:
        h, w = (h + 1) // 2, (w + 1) // 2  # intermediate nodes are already reduced
    return LatencyUnit(op, (c, h, w), c, stride)


def network_units(
    normal: Sequence[tuple[str, int]],
    reduce: Sequence[tuple[str, int]],
    channels: int,
    layers: int,
    input_shape: tuple[int, int, int],
) -> list[LatencyUnit]:
    """The units of every edge of every cell."""
    units = []
    for reduction, c, h, w in cell_geometry(channels, layers, input_shape):
        for op, source in reduce if reduction else normal:
            units.append(edge_unit(op, c, h, w, reduction, source))
    return units


def every_unit(
    operations: Sequence[str], channels: int, layers: int, input_shape: tuple[int, int, int]
) -> list[LatencyUnit]:
    """Every operation on every kind of edge of every cell."""
    units = []
    for reduction, c, h, w in cell_geometry(channels, layers, input_shape):
        for source in (0, 2) if reduction else (2,):
            units += [edge_unit(op, c, h, w, reduction, source) for op in operations]
    return list(dict.fromkeys(units))


def build_unit(unit: LatencyUnit) -> nn.Module:
    """The module that runs ``unit``."""
    return make_op(unit.op, unit.channels, unit.stride)
