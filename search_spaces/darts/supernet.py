"""Supernets of the DARTS space: single-path weight sharing, and the DARTS continuous relaxation.

Both hold one module per (edge, operation), where edge ``e`` runs from an earlier state into an
intermediate node, enumerated node by node: (2<-0), (2<-1), (3<-0), (3<-1), (3<-2), (4<-0), ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from nas.arch import Arch, Choice
from nas.space import validate_arch
from nas.supernet import MixedSupernet, Supernet
from search_spaces.darts.genotypes import (
    CELL_TYPES,
    NODES,
    arch_to_genotype,
    genotype_to_arch,
    make_genotype,
)
from search_spaces.darts.network import (
    STEPS,
    CellSpec,
    Skeleton,
    edge_stride,
    preprocessors,
    run_cell,
)
from search_spaces.darts.ops import make_op, make_search_op

#: The edges of a cell as (node, source), in the order of the architecture parameters' rows.
EDGES: tuple[tuple[int, int], ...] = tuple((node, src) for node in NODES for src in range(node))
EDGE_INDEX: dict[tuple[int, int], int] = {edge: e for e, edge in enumerate(EDGES)}


class SuperCell(nn.Module):
    """Every operation on every edge; ``forward`` runs the two edges per node that ``path`` names."""

    def __init__(self, spec: CellSpec, operations: Sequence[str]) -> None:
        super().__init__()
        self.preprocess0, self.preprocess1 = preprocessors(spec)
        self.edges = nn.ModuleList(
            nn.ModuleDict({op: make_op(op, spec.c, edge_stride(spec, src)) for op in operations})
            for _, src in EDGES
        )
        self.reduction = spec.reduction
        self.path: list[tuple[str, int]] = []

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        if not self.path:
            raise RuntimeError("call set_arch() on the supernet before running it")
        ops = [
            cast(nn.ModuleDict, self.edges[EDGE_INDEX[(NODES[k // 2], src)]])[op]
            for k, (op, src) in enumerate(self.path)
        ]
        s0, s1 = self.preprocess0(s0), self.preprocess1(s1)
        return run_cell(s0, s1, ops, [src for _, src in self.path], drop_prob, self.training)


class DartsSupernet(Skeleton, Supernet):
    """Single-path weight sharing over the evaluation network's geometry (same stem, cells, heads).

    ``decisions`` and ``space_name`` are the space's, so that ``set_arch`` validates as it does.
    """

    def __init__(
        self,
        *,
        operations: Sequence[str],
        channels: int,
        layers: int,
        auxiliary: bool,
        drop_path_prob: float,
        decisions: Mapping[str, Sequence[Choice]],
        space_name: str,
        num_classes: int,
        input_shape: tuple[int, int, int],
    ) -> None:
        super().__init__(
            lambda spec: SuperCell(spec, operations),
            channels=channels,
            layers=layers,
            num_classes=num_classes,
            input_shape=input_shape,
            auxiliary=auxiliary,
            drop_path_prob=drop_path_prob,
        )
        self.decisions = dict(decisions)
        self.space_name = space_name

    def _validate(self, arch: Mapping[str, Choice]) -> Arch:
        return validate_arch(arch, self.decisions, self.space_name)

    def set_arch(self, arch: Mapping[str, Choice]) -> None:
        """Make ``arch`` the path every cell follows."""
        genotype = arch_to_genotype(self._validate(arch))
        for cell in self.cells:
            cast(SuperCell, cell).path = list(
                genotype.reduce if cell.reduction else genotype.normal
            )

    def subnet_state_dict(self, arch: Mapping[str, Choice]) -> dict[str, torch.Tensor]:
        """Shared weights keyed as in ``space.build(arch)``: edge (node, src, op) -> that cell's ``_ops.<slot>``."""
        genotype = arch_to_genotype(self._validate(arch))
        renames: dict[str, str] = {}
        for k, cell in enumerate(self.cells):
            for slot, (op, src) in enumerate(
                genotype.reduce if cell.reduction else genotype.normal
            ):
                edge = EDGE_INDEX[(NODES[slot // 2], src)]
                renames[f"cells.{k}.edges.{edge}.{op}."] = f"cells.{k}._ops.{slot}."
        out: dict[str, torch.Tensor] = {}
        for key, value in self.state_dict().items():
            if ".edges." not in key:
                out[key] = value
                continue
            prefix = ".".join(key.split(".")[:5]) + "."  # cells.<k>.edges.<e>.<op>.
            if prefix in renames:
                out[renames[prefix] + key[len(prefix) :]] = value
        return out


class MixedOp(nn.Module):
    """A softmax-weighted sum of every operation on one edge."""

    def __init__(self, channels: int, stride: int, operations: Sequence[str]) -> None:
        super().__init__()
        self._ops = nn.ModuleList(make_search_op(op, channels, stride) for op in operations)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self._ops, strict=False))


class SearchCell(nn.Module):
    """A cell of the DARTS search network: every node sums the mixed ops from all earlier states."""

    def __init__(self, spec: CellSpec, operations: Sequence[str]) -> None:
        super().__init__()
        self.preprocess0, self.preprocess1 = preprocessors(spec, affine=False)
        self._ops = nn.ModuleList(
            MixedOp(spec.c, edge_stride(spec, src), operations) for _, src in EDGES
        )
        self.reduction = spec.reduction

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(STEPS):
            states.append(
                sum(self._ops[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            )
            offset += len(states) - 1
        return torch.cat(states[2:], dim=1)


def _strongest(weights: Sequence[float], usable: Sequence[int]) -> int:
    """The usable operation with the largest weight (the first on ties)."""
    return max(usable, key=lambda i: (weights[i], -i))


class DartsMixedSupernet(Skeleton, MixedSupernet):
    """The DARTS search network (8 cells of 16 channels in the space's defaults), alphas per edge.

    ``decisions`` and ``space_name`` are the space's, so that ``derive`` validates as it does.
    """

    def __init__(
        self,
        *,
        operations: Sequence[str],
        channels: int,
        layers: int,
        decisions: Mapping[str, Sequence[Choice]],
        space_name: str,
        num_classes: int,
        input_shape: tuple[int, int, int],
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(
            lambda spec: SearchCell(spec, operations),
            channels=channels,
            layers=layers,
            num_classes=num_classes,
            input_shape=input_shape,
        )
        self.decisions = dict(decisions)
        self.space_name = space_name
        self.operations = tuple(operations)
        shape = (len(EDGES), len(operations))
        init = [
            torch.zeros(shape)
            if generator is None
            else 1e-3 * torch.randn(shape, generator=generator)
            for _ in CELL_TYPES
        ]
        self.alphas_normal = nn.Parameter(init[0])
        self.alphas_reduce = nn.Parameter(init[1])

    def forward_with_auxiliary(
        self, x: torch.Tensor, auxiliary: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, None): the search network has no auxiliary head."""
        weights = {
            False: F.softmax(self.alphas_normal, dim=-1),
            True: F.softmax(self.alphas_reduce, dim=-1),
        }
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, weights[cast(SearchCell, cell).reduction])
        return self.classifier(self.global_pooling(s1).flatten(1)), None

    def arch_parameters(self) -> list[nn.Parameter]:
        """The alphas of the normal and the reduction cell (edges x operations each)."""
        return [self.alphas_normal, self.alphas_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter but the alphas."""
        alphas = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in alphas]

    def alphas(self) -> dict[str, dict[str, float]]:
        """Softmax weights per edge, keyed ``normal.3<-1`` (edges, not decisions: DARTS relaxes edges)."""
        out: dict[str, dict[str, float]] = {}
        for cell, alpha in zip(CELL_TYPES, self.arch_parameters(), strict=False):
            weights = F.softmax(alpha.detach(), dim=-1).cpu().tolist()
            for (node, src), row in zip(EDGES, weights, strict=False):
                out[f"{cell}.{node}<-{src}"] = dict(zip(self.operations, row, strict=False))
        return out

    def derive(self) -> Arch:
        """As DARTS: per node, the two inputs whose strongest non-'none' weight is largest, strongest
        first, each with its strongest non-'none' operation."""
        cells = []
        for alpha in self.arch_parameters():
            weights = F.softmax(alpha.detach(), dim=-1).cpu().tolist()
            usable = [i for i, op in enumerate(self.operations) if op != "none"]
            edges: list[tuple[str, int]] = []
            for node in NODES:
                rows = {src: weights[EDGE_INDEX[(node, src)]] for src in range(node)}
                best = {src: _strongest(row, usable) for src, row in rows.items()}
                top = sorted(range(node), key=lambda s: -rows[s][best[s]])[:2]
                edges += [(self.operations[best[src]], src) for src in top]
            cells.append(edges)
        arch = genotype_to_arch(make_genotype(cells[0], cells[1]))
        return validate_arch(arch, self.decisions, self.space_name)
