"""What a network is made of, for a per-operation latency table: the latency-unit protocol.

A space that wants its candidates' latency predicted from a device profile offers three methods
(the three shipped spaces do; a third party's space joins by adding them):

- ``latency_units(arch, input_shape)``: the units one candidate's network runs, one per
  searchable operation it executes (an operation with its input shape, output channels, stride
  and whatever else sets its cost);
- ``all_latency_units(input_shape)``: every unit any candidate may run (what ``nas profile``
  measures);
- ``build_latency_unit(unit)``: a standalone module that runs exactly that unit.

Parts every candidate shares (stem, head, fixed reductions) need not be units: the profile's
fitted overhead (a linear fit of whole-network latency on the summed units) absorbs them.

Example:
    >>> LatencyUnit("nor_conv_3x3", (16, 32, 32), 16).key()
    '["nor_conv_3x3",[16,32,32],16,1,{}]'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from torch import nn

from nas.errors import NasError


@dataclass(frozen=True)
class LatencyUnit:
    """One operation as a latency table keys it: name, input shape (C, H, W), output channels,
    stride and any other choices that change its cost (``extra``: sorted name/value pairs)."""

    op: str
    input_shape: tuple[int, int, int]
    channels: int
    stride: int = 1
    extra: tuple[tuple[str, Any], ...] = ()

    def key(self) -> str:
        """The unit as one canonical string (how a profile file stores it)."""
        shape = [int(s) for s in self.input_shape]
        body = [self.op, shape, int(self.channels), int(self.stride), dict(sorted(self.extra))]
        return json.dumps(body, separators=(",", ":"))


@runtime_checkable
class LatencyProfilable(Protocol):
    """A space whose candidates a per-operation latency table can price."""

    def latency_units(
        self, arch: Mapping[str, Any], input_shape: tuple[int, int, int]
    ) -> Sequence[LatencyUnit]:
        """The units ``arch``'s network runs on inputs of ``input_shape`` (repeats included)."""
        ...

    def all_latency_units(self, input_shape: tuple[int, int, int]) -> Sequence[LatencyUnit]:
        """Every distinct unit any architecture of the space may run on inputs of ``input_shape``."""
        ...

    def build_latency_unit(self, unit: LatencyUnit) -> nn.Module:
        """A module that runs exactly ``unit`` on an input of ``unit.input_shape``."""
        ...


def profilable(space: object) -> LatencyProfilable:
    """``space`` as a :class:`LatencyProfilable`, or a NasError saying what it lacks."""
    if not isinstance(space, LatencyProfilable):
        raise NasError(
            f"space {getattr(space, 'name', type(space).__name__)!r} cannot be profiled per "
            "operation: it needs latency_units, all_latency_units and build_latency_unit "
            "(see nas/costs/units.py)"
        )
    return space


def distinct(units: Sequence[LatencyUnit]) -> list[LatencyUnit]:
    """The units once each, in first-seen order."""
    return list(dict.fromkeys(units))
