"""Supernets of NAS-Bench-201: single-path weight sharing, and the DARTS continuous relaxation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from nas.arch import Arch, Choice
from nas.space import validate_arch
from nas.supernet import MixedSupernet, Supernet
from search_spaces.nb201.network import EDGE_NODES, EDGES, Skeleton, run_cell
from search_spaces.nb201.ops import OPS, make_op


class SuperCell(nn.Module):
    """Every operation on every edge; ``forward`` runs the operation ``path`` names per edge."""

    def __init__(self, channels: int, operations: Sequence[str]) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleDict({op: make_op(op, channels) for op in operations}) for _ in EDGE_NODES
        )
        self.path: list[str] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.path:
            raise RuntimeError("call set_arch() on the supernet before running it")
        return run_cell(
            x,
            [
                cast(nn.ModuleDict, edge)[op]
                for edge, op in zip(self.edges, self.path, strict=False)
            ],
        )


class NB201Supernet(Skeleton, Supernet):
    """Single-path weight sharing in the benchmark's skeleton: one module per (edge, operation).

    ``decisions`` and ``space_name`` are the space's, so that ``set_arch`` validates as it does.
    """

    def __init__(
        self,
        *,
        channels: int,
        cells_per_stage: int,
        decisions: Mapping[str, Sequence[Choice]],
        space_name: str,
        num_classes: int,
        in_channels: int,
    ) -> None:
        super().__init__(
            lambda width: SuperCell(width, OPS), channels, cells_per_stage, num_classes, in_channels
        )
        self.decisions = dict(decisions)
        self.space_name = space_name

    def _ops(self, arch: Mapping[str, Choice]) -> list[str]:
        valid = validate_arch(arch, self.decisions, self.space_name)
        return [str(valid[e]) for e in EDGES]

    def set_arch(self, arch: Mapping[str, Choice]) -> None:
        """Make ``arch`` the path every cell follows."""
        ops = self._ops(arch)
        for cell in self.cells:
            if isinstance(cell, SuperCell):
                cell.path = list(ops)

    def subnet_state_dict(self, arch: Mapping[str, Choice]) -> dict[str, torch.Tensor]:
        """Shared weights keyed as in ``space.build(arch)``: ``cells.k.edges.e.<op>.`` -> ``cells.k.layers.e.``."""
        ops = self._ops(arch)
        out: dict[str, torch.Tensor] = {}
        for key, value in self.state_dict().items():
            parts = key.split(".")
            if len(parts) > 4 and parts[0] == "cells" and parts[2] == "edges":
                if ops[int(parts[3])] == parts[4]:
                    out[".".join(["cells", parts[1], "layers", parts[3], *parts[5:]])] = value
            else:
                out[key] = value
        return out


class MixedOp(nn.Module):
    """A softmax-weighted sum of every operation on one edge (BN without affine, as in DARTS)."""

    def __init__(self, channels: int, operations: Sequence[str]) -> None:
        super().__init__()
        self._ops = nn.ModuleList(make_op(op, channels, affine=False) for op in operations)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self._ops, strict=False))


class SearchCell(nn.Module):
    """Node j sums the mixed operations of its edges from every earlier node."""

    def __init__(self, channels: int, operations: Sequence[str]) -> None:
        super().__init__()
        self.edges = nn.ModuleList(MixedOp(channels, operations) for _ in EDGE_NODES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for to_node in (1, 2, 3):
            nodes.append(
                sum(
                    self.edges[e](nodes[src], weights[e])
                    for e, (dst, src) in enumerate(EDGE_NODES)
                    if dst == to_node
                )
            )
        return nodes[-1]


class NB201MixedSupernet(Skeleton, MixedSupernet):
    """DARTS on NAS-Bench-201: alphas of 6 edges x 5 operations shared by every cell.

    ``decisions`` and ``space_name`` are the space's, so that ``derive`` validates as it does.
    """

    def __init__(
        self,
        *,
        channels: int,
        cells_per_stage: int,
        decisions: Mapping[str, Sequence[Choice]],
        space_name: str,
        num_classes: int,
        in_channels: int,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(
            lambda width: SearchCell(width, OPS),
            channels,
            cells_per_stage,
            num_classes,
            in_channels,
        )
        shape = (len(EDGE_NODES), len(OPS))
        init = (
            torch.zeros(shape)
            if generator is None
            else 1e-3 * torch.randn(shape, generator=generator)
        )
        self.alphas_cell = nn.Parameter(init)
        self.decisions = dict(decisions)
        self.space_name = space_name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = F.softmax(self.alphas_cell, dim=-1)
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x, weights) if isinstance(cell, SearchCell) else cell(x)
        return self.classifier(self.global_pooling(self.lastact(x)).flatten(1))

    def arch_parameters(self) -> list[nn.Parameter]:
        """The alphas (edges x operations)."""
        return [self.alphas_cell]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter but the alphas."""
        return [p for p in self.parameters() if p is not self.alphas_cell]

    def alphas(self) -> dict[str, dict[str, float]]:
        """Softmax weight of each operation, per edge decision (``1<-0``, ...)."""
        weights = F.softmax(self.alphas_cell.detach(), dim=-1).cpu().tolist()
        return {
            edge: dict(zip(OPS, row, strict=False))
            for edge, row in zip(EDGES, weights, strict=False)
        }

    def derive(self) -> Arch:
        """The strongest operation on each edge ('none' included, as DARTS on NAS-Bench-201 does)."""
        arch = {edge: max(w, key=w.__getitem__) for edge, w in self.alphas().items()}
        return validate_arch(arch, self.decisions, self.space_name)
