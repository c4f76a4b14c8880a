"""The NAS-Bench-201 macro skeleton: stem, three stages of cells joined by residual blocks, head."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from search_spaces.nb201.ops import ResNetBasicBlock, Zero, make_op

#: The cell's edges as (to_node, from_node), in the benchmark's order.
EDGE_NODES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
#: Decision names, one per edge: "j<-i" is the edge from node i into node j.
EDGES: tuple[str, ...] = tuple(f"{dst}<-{src}" for dst, src in EDGE_NODES)


def run_cell(x: torch.Tensor, layers: Sequence[nn.Module] | nn.ModuleList) -> torch.Tensor:
    """Node j sums layers[e](node i) over the edges e = (j, i); the output is node 3."""
    nodes = [x]
    for to_node in (1, 2, 3):
        # 'none' edges add zeros: skip them, and give a node with no live input zeros
        terms = [
            layer(nodes[src])
            for layer, (dst, src) in zip(layers, EDGE_NODES, strict=False)
            if dst == to_node and not isinstance(layer, Zero)
        ]
        nodes.append(sum(terms[1:], terms[0]) if terms else torch.zeros_like(x))
    return nodes[-1]


class InferCell(nn.Module):
    """A fixed cell: node j is the sum of op(i->j)(node i) over i < j; the output is node 3."""

    def __init__(self, ops: Sequence[str], channels: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(make_op(op, channels) for op in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_cell(x, self.layers)


class Skeleton(nn.Module):
    """The benchmark's macro skeleton around any kind of cell: ``make_cell(width)`` builds one."""

    def __init__(
        self,
        make_cell: Callable[[int], nn.Module],
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        c = channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(c)
        )
        cells: list[nn.Module] = []
        c_prev = c
        for stage, width in enumerate((c, 2 * c, 4 * c)):
            if stage > 0:
                cells.append(ResNetBasicBlock(c_prev, width, stride=2))
                c_prev = width
            cells.extend(make_cell(width) for _ in range(cells_per_stage))
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        x = self.global_pooling(self.lastact(x))
        return self.classifier(x.flatten(1))


class TinyNetwork(Skeleton):
    """The benchmark's network: C channels, N cells per stage, 10 classes by default."""

    def __init__(
        self,
        ops: Sequence[str],
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__(
            lambda width: InferCell(ops, width), channels, cells_per_stage, num_classes, in_channels
        )
