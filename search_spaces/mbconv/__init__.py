"""EfficientNet-style MBConv space with compound scaling (B0..B7 as the reference builds them)."""

from search_spaces.mbconv.notation import B0_BLOCKS, BlockArgs, decode, encode
from search_spaces.mbconv.plan import round_filters, round_repeats
from search_spaces.mbconv.space import MBConvSpace

__all__ = [
    "B0_BLOCKS",
    "BlockArgs",
    "MBConvSpace",
    "decode",
    "encode",
    "round_filters",
    "round_repeats",
]
