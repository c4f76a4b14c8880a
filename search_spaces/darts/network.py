"""The DARTS CIFAR network: a 3C-channel stem, a stack of cells with reductions at 1/3 and 2/3
of its depth, an optional auxiliary head after the second reduction, and a linear classifier.

Module names follow the DARTS reference code, so state dicts keep the reference's keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import nn

from search_spaces.darts.ops import FactorizedReduce, ReLUConvBN, drop_path, make_op

#: Channels of the stem, as a multiple of the network's initial channels C.
STEM_MULTIPLIER = 3
#: Intermediate nodes per cell; a cell outputs their concatenation (4C channels).
STEPS = 4


class CellSpec(NamedTuple):
    """The geometry of one cell in the stack."""

    c_prev_prev: int
    c_prev: int
    c: int
    reduction: bool
    reduction_prev: bool


def reduction_indices(layers: int) -> tuple[int, ...]:
    """The cells that halve the resolution and double the channels: at 1/3 and 2/3 of the depth."""
    return tuple(sorted({layers // 3, 2 * layers // 3}))


def cell_specs(channels: int, layers: int) -> list[CellSpec]:
    """Channel counts of every cell, as the reference network computes them."""
    c_prev_prev = c_prev = STEM_MULTIPLIER * channels
    c, reduction_prev, specs = channels, False, []
    for i in range(layers):
        reduction = i in reduction_indices(layers)
        c = 2 * c if reduction else c
        specs.append(CellSpec(c_prev_prev, c_prev, c, reduction, reduction_prev))
        c_prev_prev, c_prev, reduction_prev = c_prev, STEPS * c, reduction
    return specs


def preprocessors(spec: CellSpec, affine: bool = True) -> tuple[nn.Module, nn.Module]:
    """The 1x1 ReLU-conv-BN that bring both inputs to C channels (a factorized reduce after a reduction)."""
    if spec.reduction_prev:
        pre0: nn.Module = FactorizedReduce(spec.c_prev_prev, spec.c, affine=affine)
    else:
        pre0 = ReLUConvBN(spec.c_prev_prev, spec.c, 1, 1, 0, affine=affine)
    return pre0, ReLUConvBN(spec.c_prev, spec.c, 1, 1, 0, affine=affine)


def edge_stride(spec: CellSpec, source: int) -> int:
    """Edges out of the two cell inputs stride 2 in reduction cells."""
    return 2 if spec.reduction and source < 2 else 1


def run_cell(
    s0: torch.Tensor,
    s1: torch.Tensor,
    ops: Sequence[nn.Module] | nn.ModuleList,
    indices: Sequence[int],
    drop_prob: float,
    training: bool,
) -> torch.Tensor:
    """Node k sums ops[2k](state[indices[2k]]) and ops[2k+1](state[indices[2k+1]]); output: all nodes."""
    states = [s0, s1]
    for k in range(len(ops) // 2):
        terms = []
        for op, index in ((ops[2 * k], indices[2 * k]), (ops[2 * k + 1], indices[2 * k + 1])):
            h = op(states[index])
            if training and drop_prob > 0.0 and not isinstance(op, nn.Identity):
                h = drop_path(h, drop_prob)
            terms.append(h)
        states.append(terms[0] + terms[1])
    return torch.cat(states[2:], dim=1)


class Cell(nn.Module):
    """A fixed cell: its genotype half, as a list of (operation, input) pairs, two per node."""

    def __init__(self, edges: Sequence[tuple[str, int]], spec: CellSpec) -> None:
        super().__init__()
        self.preprocess0, self.preprocess1 = preprocessors(spec)
        self._ops = nn.ModuleList(make_op(op, spec.c, edge_stride(spec, src)) for op, src in edges)
        self._indices = [src for _, src in edges]

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        s0, s1 = self.preprocess0(s0), self.preprocess1(s1)
        return run_cell(s0, s1, self._ops, self._indices, drop_prob, self.training)


class AuxiliaryHeadCIFAR(nn.Module):
    """The reference auxiliary classifier for 8x8 features; on other sizes the pooling window and
    the last conv shrink to fit, and whatever resolution remains is averaged away."""

    def __init__(self, channels: int, num_classes: int, size: tuple[int, int] = (8, 8)) -> None:
        super().__init__()
        pool = (min(5, size[0]), min(5, size[1]))
        pooled = ((size[0] - pool[0]) // 3 + 1, (size[1] - pool[1]) // 3 + 1)
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(pool, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, (min(2, pooled[0]), min(2, pooled[1])), bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


class Skeleton(nn.Module):
    """Stem, cells, optional auxiliary head, global pooling and classifier around any kind of cell."""

    def __init__(
        self,
        make_cell: Callable[[CellSpec], nn.Module],
        *,
        channels: int,
        layers: int,
        num_classes: int,
        input_shape: tuple[int, int, int],
        auxiliary: bool = False,
        drop_path_prob: float = 0.0,
    ) -> None:
        super().__init__()
        in_channels, height, width = input_shape
        specs = cell_specs(channels, layers)
        c_stem = STEM_MULTIPLIER * channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem)
        )
        self.cells = nn.ModuleList(make_cell(spec) for spec in specs)
        self.drop_path_prob = drop_path_prob
        self.aux_index = 2 * layers // 3
        if auxiliary:
            shrink = 2 ** sum(1 for i in reduction_indices(layers) if i <= self.aux_index)
            c_aux = STEPS * specs[self.aux_index].c
            self.auxiliary_head = AuxiliaryHeadCIFAR(
                c_aux, num_classes, (height // shrink, width // shrink)
            )
        self.auxiliary = auxiliary
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(STEPS * specs[-1].c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (the auxiliary head is not run)."""
        return self.forward_with_auxiliary(x, auxiliary=False)[0]

    def forward_with_auxiliary(
        self, x: torch.Tensor, auxiliary: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, auxiliary logits); the latter only in training mode with an auxiliary head."""
        aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_index and auxiliary and self.auxiliary and self.training:
                aux = self.auxiliary_head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), aux


class DartsNetwork(Skeleton):
    """The DARTS evaluation network (NetworkCIFAR) of one genotype."""

    def __init__(
        self,
        normal: Sequence[tuple[str, int]],
        reduce: Sequence[tuple[str, int]],
        *,
        channels: int,
        layers: int,
        num_classes: int,
        input_shape: tuple[int, int, int],
        auxiliary: bool,
        drop_path_prob: float,
    ) -> None:
        super().__init__(
            lambda spec: Cell(reduce if spec.reduction else normal, spec),
            channels=channels,
            layers=layers,
            num_classes=num_classes,
            input_shape=input_shape,
            auxiliary=auxiliary,
            drop_path_prob=drop_path_prob,
        )
