"""A toy cell space whose best operation is known, with both supernets, and its data sets.

Two edges each pick an operation for two of the four inputs: 'none' (zeros), 'skip_connect'
(identity) or 'square' (x * x); a linear classifier reads the four features. On ``circles``
the label says whether each pair lies outside a circle, so only 'square' on both edges
separates the classes; on ``halfplanes`` it says on which side of a line each pair lies, so
'skip_connect' is best.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas.arch import Arch, Choice
from nas.data.splits import DataSplits, make_splits
from nas.registry import register_dataset
from nas.space import SearchSpace
from nas.supernet import MixedSupernet, Supernet

OPS = ("none", "skip_connect", "square")
EDGES = ("e0", "e1")


def apply(op: str, x: torch.Tensor) -> torch.Tensor:
    return {"none": lambda t: t * 0.0, "skip_connect": lambda t: t, "square": lambda t: t * t}[op](
        x
    )


class _Head(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(4, affine=False)
        self.classifier = nn.Linear(4, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.norm(features))


class ToyNet(_Head):
    """The network of one architecture."""

    def __init__(self, ops: list[str], num_classes: int) -> None:
        super().__init__(num_classes)
        self.ops = ops

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        return super().forward(
            torch.cat([apply(op, x[:, 2 * e : 2 * e + 2]) for e, op in enumerate(self.ops)], 1)
        )


class ToySupernet(ToyNet, Supernet):
    """Single path: the operations are parameter-free, so only the head is shared."""

    def __init__(self, space: ToyCellSpace, num_classes: int) -> None:
        super().__init__([], num_classes)
        self.space = space

    def set_arch(self, arch: Mapping[str, Choice]) -> None:
        self.ops = [str(self.space.validate(arch)[e]) for e in EDGES]

    def subnet_state_dict(self, arch: Mapping[str, Choice]) -> dict[str, torch.Tensor]:
        return self.state_dict()


class ToyMixedSupernet(_Head, MixedSupernet):
    """Each edge: the softmax-weighted sum of the three operations."""

    def __init__(
        self, space: ToyCellSpace, num_classes: int, generator: torch.Generator | None
    ) -> None:
        super().__init__(num_classes)
        init = torch.zeros(len(EDGES), len(OPS))
        if generator is not None:
            init = 1e-3 * torch.randn(init.shape, generator=generator)
        self.alpha = nn.Parameter(init)
        self.space = space

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, w = x.flatten(1), F.softmax(self.alpha, dim=-1)
        edges = [
            sum(w[e, k] * apply(op, x[:, 2 * e : 2 * e + 2]) for k, op in enumerate(OPS))
            for e in range(2)
        ]
        return super().forward(torch.cat(edges, 1))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p is not self.alpha]

    def alphas(self) -> dict[str, dict[str, float]]:
        weights = F.softmax(self.alpha.detach(), dim=-1).tolist()
        return {
            e: dict(zip(OPS, row, strict=False)) for e, row in zip(EDGES, weights, strict=False)
        }

    def derive(self) -> Arch:
        return {e: max(w, key=w.__getitem__) for e, w in self.alphas().items()}


class ToyCellSpace(SearchSpace):
    """Two edges x three operations (9 architectures)."""

    name = "toycell"

    def decisions(self) -> dict[str, tuple[Choice, ...]]:
        return {e: OPS for e in EDGES}

    def build(
        self,
        arch: Mapping[str, Choice],
        *,
        num_classes: int,
        input_shape: tuple[int, int, int] = (4, 1, 1),
    ) -> nn.Module:
        return ToyNet([str(self.validate(arch)[e]) for e in EDGES], num_classes)

    def supernet(
        self, *, num_classes: int, input_shape: tuple[int, int, int] = (4, 1, 1)
    ) -> ToySupernet:
        return ToySupernet(self, num_classes)

    def mixed_supernet(
        self,
        *,
        num_classes: int,
        input_shape: tuple[int, int, int] = (4, 1, 1),
        generator: torch.Generator | None = None,
    ) -> ToyMixedSupernet:
        return ToyMixedSupernet(self, num_classes, generator)


@register_dataset("oneshot_toy")  # registered, so that a config may name it by path
def toy_data(*, task: str = "circles", size: int = 800, split_seed: int = 0) -> DataSplits:
    """Points in [-1.5, 1.5]^4 with 4 classes: (first pair positive) + 2 * (second pair positive)."""
    rng = np.random.default_rng(split_seed)
    x = rng.uniform(-1.5, 1.5, size=(size, 4))

    def positive(pair: np.ndarray) -> np.ndarray:
        if task == "circles":  # outside the circle of radius^2 4.5/pi: half of the square's area
            return (pair**2).sum(1) > 4.5 / np.pi
        return pair.sum(1) > 0

    y = positive(x[:, :2]).astype(np.int64) + 2 * positive(x[:, 2:]).astype(np.int64)
    return make_splits(
        task,
        torch.tensor(x, dtype=torch.float32).view(size, 4, 1, 1),
        torch.from_numpy(y),
        validation_fraction=0.2,
        test_fraction=0.1,
        split_seed=split_seed,
        num_classes=4,
    )
