"""The NAS-Bench-201 search space and its arch-string notation."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from nas.arch import Arch, Choice
from nas.costs.units import LatencyUnit
from nas.diagrams import CellGraph, Edge, Node, NodeKind
from nas.errors import NasError
from nas.space import NetworkSpec, SpecSearchSpace
from search_spaces.nb201 import latency
from search_spaces.nb201.network import EDGE_NODES, EDGES, TinyNetwork
from search_spaces.nb201.ops import OPS
from search_spaces.nb201.supernet import NB201MixedSupernet, NB201Supernet


def arch_to_str(arch: Mapping[str, Choice]) -> str:
    """The benchmark's arch string, e.g. ``|nor_conv_3x3~0|+|skip_connect~0|none~1|+|...|``."""
    nodes = []
    for dst in (1, 2, 3):
        edges = [f"{arch[f'{dst}<-{src}']}~{src}" for src in range(dst)]
        nodes.append("|" + "|".join(edges) + "|")
    return "+".join(nodes)


def str_to_arch(text: str) -> Arch:
    """Parse the benchmark's arch string into an architecture (not yet validated)."""
    arch: Arch = {}
    nodes = text.strip().split("+")
    if len(nodes) != 3:
        raise NasError(f"NAS-Bench-201 arch string {text!r} must have 3 nodes joined by '+'")
    for dst, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")):
            raise NasError(
                f"NAS-Bench-201 arch string node {node!r} must be written |op~input|...|"
            )
        edges = node[1:-1].split("|")
        if len(edges) != dst:
            raise NasError(f"NAS-Bench-201 node {dst} needs {dst} input edges, got {node!r}")
        for edge in edges:
            op, sep, src = edge.partition("~")
            if not sep or not src.isdigit() or int(src) >= dst:
                raise NasError(f"NAS-Bench-201 edge {edge!r} must be op~input with input < {dst}")
            key = f"{dst}<-{int(src)}"
            if key in arch:
                raise NasError(f"NAS-Bench-201 arch string names edge {key} twice")
            arch[key] = op
    return arch


class NB201Space(SpecSearchSpace):
    """NAS-Bench-201 cells (6 edges x 5 ops) in the benchmark's macro skeleton."""

    name = "nb201"

    def __init__(self, *, channels: int = 16, cells_per_stage: int = 5) -> None:
        if channels < 1 or cells_per_stage < 0:
            raise NasError("nb201 needs channels >= 1 and cells_per_stage >= 0")
        self.channels = channels
        self.cells_per_stage = cells_per_stage

    def decisions(self) -> dict[str, tuple[Choice, ...]]:
        """One decision per edge, each choosing one of the five operations."""
        return {edge: OPS for edge in EDGES}

    def network_spec(
        self, arch: Mapping[str, Choice], *, num_classes: int, input_shape: tuple[int, int, int]
    ) -> NetworkSpec:
        """``TinyNetwork`` of ``search_spaces.nb201.network`` with the arch's six operations."""
        arch = self.validate(arch)
        return NetworkSpec(
            TinyNetwork.__module__,
            TinyNetwork.__name__,
            {
                "ops": [str(arch[e]) for e in EDGES],
                "channels": self.channels,
                "cells_per_stage": self.cells_per_stage,
                "num_classes": num_classes,
                "in_channels": self._check_input(input_shape),
            },
        )

    def supernet(
        self, *, num_classes: int, input_shape: tuple[int, int, int] = (3, 32, 32)
    ) -> NB201Supernet:
        """Single-path weight sharing in the benchmark's skeleton (one module per edge and operation)."""
        return NB201Supernet(
            channels=self.channels,
            cells_per_stage=self.cells_per_stage,
            decisions=self.decisions(),
            space_name=self.name,
            num_classes=num_classes,
            in_channels=self._check_input(input_shape),
        )

    def mixed_supernet(
        self,
        *,
        num_classes: int,
        input_shape: tuple[int, int, int] = (3, 32, 32),
        generator: torch.Generator | None = None,
    ) -> NB201MixedSupernet:
        """DARTS on the benchmark's cells; alphas start uniform (zero), or at 1e-3 * N(0, 1) from ``generator``."""
        return NB201MixedSupernet(
            channels=self.channels,
            cells_per_stage=self.cells_per_stage,
            decisions=self.decisions(),
            space_name=self.name,
            num_classes=num_classes,
            in_channels=self._check_input(input_shape),
            generator=generator,
        )

    def diagram(self, arch: Mapping[str, Choice]) -> list[CellGraph]:
        """The cell as a graph: node 0 (input) to node 3 (output), edges labelled by operation."""
        arch = self.validate(arch)
        kinds: dict[int, NodeKind] = {0: "input", 3: "output"}
        nodes = tuple(Node(str(i), str(i), kinds.get(i, "node")) for i in range(4))
        edges = tuple(
            Edge(str(src), str(dst), str(arch[f"{dst}<-{src}"]), arch[f"{dst}<-{src}"] == "none")
            for dst, src in EDGE_NODES
        )
        return [CellGraph("cell", nodes, edges)]

    def latency_units(
        self, arch: Mapping[str, Choice], input_shape: tuple[int, int, int]
    ) -> list[LatencyUnit]:
        """The cell operations, sums and zeros ``arch``'s network runs (nas/costs/units.py)."""
        arch = self.validate(arch)
        self._check_input(input_shape)
        ops = [str(arch[e]) for e in EDGES]
        return latency.network_units(ops, self.channels, self.cells_per_stage, input_shape)

    def all_latency_units(self, input_shape: tuple[int, int, int]) -> list[LatencyUnit]:
        """Every operation, sum and zeros at each stage's width and resolution."""
        self._check_input(input_shape)
        return latency.every_unit(self.channels, input_shape)

    def build_latency_unit(self, unit: LatencyUnit) -> nn.Module:
        """The standalone module of one unit."""
        return latency.build_unit(unit)

    def _check_input(self, input_shape: tuple[int, int, int]) -> int:
        c, h, w = input_shape
        if h % 4 or w % 4:
            raise NasError(f"nb201 needs an input height and width divisible by 4, got {h}x{w}")
        return c

    def format(self, arch: Mapping[str, Choice]) -> str:
        """The benchmark's arch string."""
        return arch_to_str(self.validate(arch))

    def parse(self, text: str) -> Arch:
        """Parse an arch string (``|op~0|+...``) or canonical JSON."""
        if text.lstrip().startswith("{"):
            return super().parse(text)
        return self.validate(str_to_arch(text))
