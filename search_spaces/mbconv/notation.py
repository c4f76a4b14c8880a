"""EfficientNet block strings, e.g. ``r1_k3_s11_e1_i32_o16_se0.25``, with exact round trips.

Fields: r repeats, k kernel, s stride (written twice), e expansion, i / o input and output
channels, se the squeeze-and-excitation ratio (absent: no SE). Parsing is a regular
expression, never ``eval``; only the canonical spelling is accepted, so that
``encode(decode(text)) == text`` for every string ``decode`` accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nas.errors import NasError

#: The reference EfficientNet-B0 block strings.
B0_BLOCKS: tuple[str, ...] = (
    "r1_k3_s11_e1_i32_o16_se0.25",
    "r2_k3_s22_e6_i16_o24_se0.25",
    "r2_k5_s22_e6_i24_o40_se0.25",
    "r3_k3_s22_e6_i40_o80_se0.25",
    "r3_k5_s11_e6_i80_o112_se0.25",
    "r4_k5_s22_e6_i112_o192_se0.25",
    "r1_k3_s11_e6_i192_o320_se0.25",
)

_INT = r"([1-9][0-9]*)"
_BLOCK = re.compile(
    rf"r{_INT}_k{_INT}_s([12])([12])_e{_INT}_i{_INT}_o{_INT}(?:_se([0-9]+(?:\.[0-9]+)?))?"
)


@dataclass(frozen=True)
class BlockArgs:
    """One stage of blocks as a block string describes it."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    c_in: int
    c_out: int
    se_ratio: float | None


def encode(block: BlockArgs) -> str:
    """The block string of ``block``."""
    text = (
        f"r{block.repeats}_k{block.kernel}_s{block.stride}{block.stride}_e{block.expand}"
        f"_i{block.c_in}_o{block.c_out}"
    )
    return text if block.se_ratio is None else f"{text}_se{block.se_ratio!r}"


def decode(text: str) -> BlockArgs:
    """Parse one block string (canonical spelling only; a clear NasError otherwise)."""
    match = _BLOCK.fullmatch(text)
    if match is None:
        raise NasError(
            f"block string {text!r} must look like r1_k3_s11_e1_i32_o16_se0.25 "
            "(repeats, kernel, stride twice, expansion, in/out channels, optional SE ratio)"
        )
    r, k, s1, s2, e, i, o, se = match.groups()
    if s1 != s2:
        raise NasError(
            f"block string {text!r} has different strides {s1} and {s2}; write s11 or s22"
        )
    block = BlockArgs(
        int(r), int(k), int(s1), int(e), int(i), int(o), None if se is None else float(se)
    )
    canonical = encode(block)
    if canonical != text:
        raise NasError(f"block string {text!r} is not in canonical form; write {canonical!r}")
    return block
