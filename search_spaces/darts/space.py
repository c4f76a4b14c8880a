"""The DARTS cell search space (Liu et al. 2019) and its genotype notation."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from nas.arch import Arch, Choice
from nas.costs.units import LatencyUnit
from nas.diagrams import CellGraph, Edge, Node
from nas.errors import NasError, did_you_mean
from nas.space import NetworkSpec, SpecSearchSpace
from search_spaces.darts import latency
from search_spaces.darts.genotypes import (
    CELL_TYPES,
    GENOTYPES,
    NODES,
    arch_to_genotype,
    decision_names,
    format_genotype,
    genotype_to_arch,
    input_pairs,
    parse_genotype,
)
from search_spaces.darts.network import DartsNetwork, reduction_indices
from search_spaces.darts.ops import PRIMITIVES
from search_spaces.darts.supernet import DartsMixedSupernet, DartsSupernet


class DartsSpace(SpecSearchSpace):
    """DARTS cells: a normal and a reduction cell of 4 nodes, each node 2 inputs with one op each.

    ``build`` gives the CIFAR evaluation network (``channels`` C, ``layers`` cells, reductions at
    1/3 and 2/3, auxiliary head, drop path); the defaults are the paper's C=36, 20 cells.
    ``mixed_supernet`` gives the search network (``search_channels``, ``search_layers``: 16, 8).
    Architectures are written as DARTS genotypes; ``parse`` also accepts the name of a published
    genotype (DARTS_V1, DARTS_V2, DARTS, PDARTS, PC_DARTS_cifar, PC_DARTS_image).
    """

    name = "darts"

    def __init__(
        self,
        *,
        channels: int = 36,
        layers: int = 20,
        auxiliary: bool = True,
        drop_path_prob: float = 0.2,
        operations: list[str] | None = None,
        search_channels: int = 16,
        search_layers: int = 8,
    ) -> None:
        if min(channels, layers, search_channels, search_layers) < 1:
            raise NasError("darts needs channels, layers, search_channels and search_layers >= 1")
        if not 0.0 <= drop_path_prob < 1.0:
            raise NasError(f"darts drop_path_prob must be in [0, 1), got {drop_path_prob}")
        ops = list(PRIMITIVES) if operations is None else list(operations)
        for op in ops:
            if op not in PRIMITIVES:
                raise NasError(
                    f"darts operation {op!r} is unknown{did_you_mean(op, PRIMITIVES)}; "
                    f"choose from {', '.join(PRIMITIVES)}"
                )
        if len(set(ops)) != len(ops) or not [op for op in ops if op != "none"]:
            raise NasError(
                "darts operations must be distinct and include at least one besides 'none'"
            )
        self.channels, self.layers = channels, layers
        self.auxiliary, self.drop_path_prob = auxiliary, drop_path_prob
        self.operations: tuple[str, ...] = tuple(op for op in PRIMITIVES if op in ops)
        self.search_channels, self.search_layers = search_channels, search_layers

    def decisions(self) -> dict[str, tuple[Choice, ...]]:
        """Per cell type and node: ``inputs`` (an ordered pair such as "1+0"), ``op1`` and ``op2``."""
        out: dict[str, tuple[Choice, ...]] = {}
        for cell in CELL_TYPES:
            for node in NODES:
                inputs, op1, op2 = decision_names(cell, node)
                out[inputs], out[op1], out[op2] = (
                    input_pairs(node),
                    self.operations,
                    self.operations,
                )
        return out

    def network_spec(
        self, arch: Mapping[str, Choice], *, num_classes: int, input_shape: tuple[int, int, int]
    ) -> NetworkSpec:
        """``DartsNetwork`` of ``search_spaces.darts.network`` with the genotype's two cells."""
        genotype = arch_to_genotype(self.validate(arch))
        self._check_input(input_shape, self.layers)
        return NetworkSpec(
            DartsNetwork.__module__,
            DartsNetwork.__name__,
            {
                "normal": [(str(op), int(i)) for op, i in genotype.normal],
                "reduce": [(str(op), int(i)) for op, i in genotype.reduce],
                "channels": self.channels,
                "layers": self.layers,
                "num_classes": num_classes,
                "input_shape": tuple(input_shape),
                "auxiliary": self.auxiliary,
                "drop_path_prob": self.drop_path_prob,
            },
        )

    def supernet(
        self, *, num_classes: int, input_shape: tuple[int, int, int] = (3, 32, 32)
    ) -> DartsSupernet:
        """Single-path weight sharing with the geometry of ``build`` (one module per edge and operation)."""
        self._check_input(input_shape, self.layers)
        return DartsSupernet(
            operations=self.operations,
            channels=self.channels,
            layers=self.layers,
            auxiliary=self.auxiliary,
            drop_path_prob=self.drop_path_prob,
            decisions=self.decisions(),
            space_name=self.name,
            num_classes=num_classes,
            input_shape=input_shape,
        )

    def mixed_supernet(
        self,
        *,
        num_classes: int,
        input_shape: tuple[int, int, int] = (3, 32, 32),
        generator: torch.Generator | None = None,
    ) -> DartsMixedSupernet:
        """The DARTS search network; alphas start uniform (zero), or at 1e-3 * N(0, 1) from ``generator``."""
        self._check_input(input_shape, self.search_layers)
        return DartsMixedSupernet(
            operations=self.operations,
            channels=self.search_channels,
            layers=self.search_layers,
            decisions=self.decisions(),
            space_name=self.name,
            num_classes=num_classes,
            input_shape=input_shape,
            generator=generator,
        )

    def format(self, arch: Mapping[str, Choice]) -> str:
        """The genotype, as the DARTS code prints it."""
        return format_genotype(arch_to_genotype(self.validate(arch)))

    def parse(self, text: str) -> Arch:
        """Parse a genotype, the name of a published one, or canonical JSON."""
        stripped = text.strip()
        if stripped.startswith("{"):
            return super().parse(stripped)
        if stripped in GENOTYPES:
            return self.validate(genotype_to_arch(GENOTYPES[stripped]))
        if stripped.isidentifier():
            raise NasError(
                f"{stripped!r} is not a published DARTS genotype{did_you_mean(stripped, GENOTYPES)}; "
                f"known: {', '.join(GENOTYPES)}"
            )
        return self.validate(genotype_to_arch(parse_genotype(stripped)))

    def diagram(self, arch: Mapping[str, Choice]) -> list[CellGraph]:
        """The normal and the reduction cell as graphs, drawn as in the DARTS paper."""
        genotype = arch_to_genotype(self.validate(arch))
        return [
            cell_graph("normal cell", genotype.normal),
            cell_graph("reduction cell", genotype.reduce),
        ]

    def latency_units(
        self, arch: Mapping[str, Choice], input_shape: tuple[int, int, int]
    ) -> list[LatencyUnit]:
        """Every edge operation of ``arch``'s evaluation network (nas/costs/units.py)."""
        genotype = arch_to_genotype(self.validate(arch))
        self._check_input(input_shape, self.layers)
        return latency.network_units(
            genotype.normal, genotype.reduce, self.channels, self.layers, input_shape
        )

    def all_latency_units(self, input_shape: tuple[int, int, int]) -> list[LatencyUnit]:
        """Every operation on every kind of edge of every cell."""
        self._check_input(input_shape, self.layers)
        return latency.every_unit(self.operations, self.channels, self.layers, input_shape)

    def build_latency_unit(self, unit: LatencyUnit) -> nn.Module:
        """The standalone module of one unit."""
        return latency.build_unit(unit)

    def _check_input(self, input_shape: tuple[int, int, int], layers: int) -> None:
        factor = 2 ** len(reduction_indices(layers))
        _, h, w = input_shape
        if h % factor or w % factor:
            raise NasError(
                f"darts with {layers} cells reduces the input {factor}x; its height and width "
                f"must divide by {factor}, got {h}x{w}"
            )


def cell_graph(title: str, edges: list[tuple[str, int]]) -> CellGraph:
    """One genotype half as a graph: inputs c_{k-2}, c_{k-1}, nodes 0..3, output c_{k} (their concat)."""
    names = ["c_{k-2}", "c_{k-1}"] + [str(i) for i in range(len(edges) // 2)]
    nodes = [Node(names[0], names[0], "input"), Node(names[1], names[1], "input")]
    nodes += [Node(n, n) for n in names[2:]] + [Node("c_{k}", "c_{k}", "output")]
    drawn = [
        Edge(names[src], names[2 + k // 2], str(op), op == "none")
        for k, (op, src) in enumerate(edges)
    ]
    drawn += [Edge(n, "c_{k}", muted=True) for n in names[2:]]
    return CellGraph(title, tuple(nodes), tuple(drawn))
