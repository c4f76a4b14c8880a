"""From decisions and scaling coefficients to the concrete blocks of one network.

The rounding rules are EfficientNet's reference ones (``round_filters`` / ``round_repeats`` of
the TensorFlow code and of ``efficientnet_pytorch``), so that B0..B7 come out exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: EfficientNet-B0, per stage: (repeats, kernel, stride, expansion, output channels).
B0_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_STAGES = len(B0_STAGES)
#: The places where B0 halves the resolution: the stem (0) and the stages with stride 2.
REDUCTION_POINTS: tuple[int, ...] = (0,) + tuple(
    i + 1 for i, s in enumerate(B0_STAGES) if s[2] == 2
)
#: Small inputs keep only as many stride-2 reductions as leave a final feature map of at least this.
MIN_FEATURE_SIZE = 4


def round_filters(
    channels: float, width: float, divisor: int = 8, min_depth: int | None = None
) -> int:
    """Channels scaled by ``width`` and rounded to a multiple of ``divisor`` (never down by over 10%)."""
    channels *= width
    min_depth = min_depth or divisor
    rounded = max(min_depth, int(channels + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * channels:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float) -> int:
    """Repeats scaled by ``depth``, rounded up."""
    return math.ceil(depth * repeats)


def reductions_for(resolution: int) -> int:
    """How many of B0's five stride-2 reductions an input of this (shorter) side keeps.

    224 and larger keep all five (7x7 at the end, as B0); CIFAR's 32 keeps three (4x4, the
    stem and the first stride-2 stage run at stride 1); digits' 8 keeps one.
    """
    if resolution < 2 * MIN_FEATURE_SIZE:
        return 0
    return min(len(REDUCTION_POINTS), int(math.log2(resolution / MIN_FEATURE_SIZE)))


@dataclass(frozen=True)
class StageChoice:
    """The decisions of one stage (base, unscaled values)."""

    kernel: int
    expand: int
    layers: int
    channels: int
    se: bool


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block as built: channels, kernel, stride, expansion, SE and drop-path rate."""

    c_in: int
    c_out: int
    kernel: int
    stride: int
    expand: int
    se: bool
    drop_path: float

    @property
    def mid(self) -> int:
        """Channels after the expansion."""
        return self.c_in * self.expand

    def squeezed(self, se_ratio: float) -> int:
        """Channels inside squeeze-and-excitation (from the block's input, as the reference)."""
        return max(1, int(self.c_in * se_ratio))

    @property
    def has_skip(self) -> bool:
        """Identity skip (with drop path) when the block keeps the shape."""
        return self.stride == 1 and self.c_in == self.c_out


@dataclass(frozen=True)
class NetworkPlan:
    """Everything needed to build one network (standalone or a supernet path)."""

    in_channels: int
    resize_to: tuple[int, int] | None
    stem_channels: int
    stem_stride: int
    stages: tuple[tuple[BlockSpec, ...], ...]
    head_channels: int
    se_ratio: float
    dropout: float
    bn_momentum: float

    @property
    def blocks(self) -> list[BlockSpec]:
        """All blocks, in order."""
        return [b for stage in self.stages for b in stage]


def make_plan(
    stages: list[StageChoice],
    *,
    input_shape: tuple[int, int, int],
    width: float,
    depth: float,
    resolution: int | None,
    se_ratio: float,
    dropout: float,
    drop_path_rate: float,
    bn_momentum: float,
) -> NetworkPlan:
    """Scale the stage choices and lay out strides for the input's resolution (before any resize)."""
    c, h, w = input_shape
    side = min(h, w)
    resize_to = None
    if resolution is not None and resolution != side:
        resize_to = (round(h * resolution / side), round(w * resolution / side))
    # the input's own size sets the strides, so that scaling the resolution scales the FLOPs
    kept = reductions_for(side)
    strided = set(REDUCTION_POINTS[len(REDUCTION_POINTS) - kept :])
    repeats = [round_repeats(s.layers, depth) for s in stages]
    total = sum(repeats)
    c_prev = round_filters(STEM_CHANNELS, width)
    built: list[tuple[BlockSpec, ...]] = []
    index = 0
    for number, (choice, n) in enumerate(zip(stages, repeats, strict=False), start=1):
        c_out = round_filters(choice.channels, width)
        blocks = []
        for j in range(n):
            stride = 2 if j == 0 and number in strided else 1
            blocks.append(
                BlockSpec(
                    c_prev,
                    c_out,
                    choice.kernel,
                    stride,
                    choice.expand,
                    choice.se,
                    drop_path_rate * index / total,
                )
            )
            c_prev = c_out
            index += 1
        built.append(tuple(blocks))
    return NetworkPlan(
        in_channels=c,
        resize_to=resize_to,
        stem_channels=round_filters(STEM_CHANNELS, width),
        stem_stride=2 if 0 in strided else 1,
        stages=tuple(built),
        head_channels=round_filters(HEAD_CHANNELS, width),
        se_ratio=se_ratio,
        dropout=dropout,
        bn_momentum=bn_momentum,
    )
