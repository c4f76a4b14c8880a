"""The latency units of MBConv networks (the protocol of nas/costs/units.py).

A unit is one MBConv block as built (input channels and resolution, output channels, stride,
kernel, expansion, SE), or the head's 1x1 convolution from the last block's width. The input
resize and the stem are the same in every candidate: the profile's fitted overhead holds them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from torch import nn

from nas.arch import Arch, Choice
from nas.costs.units import LatencyUnit
from search_spaces.mbconv.blocks import MBConv, batch_norm
from search_spaces.mbconv.plan import BlockSpec, NetworkPlan


def plan_units(plan: NetworkPlan, input_shape: tuple[int, int, int]) -> list[LatencyUnit]:
    """The units of one planned network: every block, then the head."""
    h, w = plan.resize_to or input_shape[1:]
    if plan.stem_stride == 2:
        h, w = (h + 1) // 2, (w + 1) // 2
    units = []
    for b in plan.blocks:
        extra = (("expand", b.expand), ("kernel", b.kernel), ("se", b.se))
        units.append(LatencyUnit("mbconv", (b.c_in, h, w), b.c_out, b.stride, extra))
        if b.stride == 2:
            h, w = (h + 1) // 2, (w + 1) // 2
    head = (("se_ratio", plan.se_ratio),)
    units.append(LatencyUnit("head", (plan.blocks[-1].c_out, h, w), plan.head_channels, 1, head))
    return units


def covering_archs(decisions: Mapping[str, tuple[Choice, ...]], stages: int) -> list[Arch]:
    """Architectures that together run every unit: for each stage, every combination of its own
    choices with the previous stage's width (a block's cost depends on nothing else)."""
    # the most layers, so that every stage runs its later (c_out -> c_out) blocks too
    first = {n: max(c) if n.endswith("_layers") else c[-1] for n, c in decisions.items()}
    archs = []
    for i in range(1, stages + 1):
        names = [n for n in decisions if n.startswith(f"s{i}_") and not n.endswith("_layers")]
        if i > 1:
            names.append(f"s{i - 1}_channels")
        for values in itertools.product(*(decisions[n] for n in names)):
            archs.append({**first, **dict(zip(names, values, strict=True))})
    return archs


def build_unit(unit: LatencyUnit, se_ratio: float, bn_momentum: float) -> nn.Module:
    """The module that runs ``unit``."""
    extra = dict(unit.extra)
    if unit.op == "head":
        return nn.Sequential(
            nn.Conv2d(unit.input_shape[0], unit.channels, 1, bias=False),
            batch_norm(unit.channels, bn_momentum),
            nn.SiLU(),
        )
    spec = BlockSpec(
        unit.input_shape[0],
        unit.channels,
        int(extra["kernel"]),
        unit.stride,
        int(extra["expand"]),
        bool(extra["se"]),
        0.0,
    )
    return MBConv(spec, se_ratio, bn_momentum)
