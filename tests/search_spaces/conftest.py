"""Per-space options that keep the conformance suite's networks tiny."""

from __future__ import annotations

from typing import Any

#: Options for each registered space in the conformance suite; a space not listed is built
#: with its defaults (so a new space is tested by default, just more slowly).
SMALL_OPTIONS: dict[str, dict[str, Any]] = {
    "nb201": {"channels": 4, "cells_per_stage": 1},
    "mbconv": {
        "width_coefficient": 0.25,
        "layers": (1, 2),
        "kernel_sizes": (3, 5),
        "expand_ratios": (1, 3),
    },
    # the six cell edges searched too, so that every decision is exercised
    "unet": {"base_width": 4, "cell": None},
    # 3 cells: both reductions and the auxiliary head, on digits-sized inputs
    "darts": {
        "channels": 4,
        "layers": 3,
        "drop_path_prob": 0.2,
        "search_channels": 4,
        "search_layers": 3,
    },
}

#: Input shape (channels, height, width) used for each space's forward/backward check.
INPUT_SHAPES: dict[str, tuple[int, int, int]] = {
    "mbconv": (1, 8, 8),
    "darts": (1, 8, 8),
}
DEFAULT_INPUT_SHAPE = (3, 16, 16)
