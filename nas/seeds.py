"""Deriving seeds: every random stream of a search is a function of the run's seed and a few
integers (trial number, search index, epoch, stream), so a resumed search replays exactly."""

from __future__ import annotations

import numpy as np


def derive_seed(*keys: int) -> int:
    """A 32-bit seed determined by ``keys`` (numpy's ``SeedSequence``); equal keys give equal seeds.

    Example:
        >>> derive_seed(0, 3) == derive_seed(0, 3) != derive_seed(0, 4)
        True
    """
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])
