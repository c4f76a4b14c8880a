"""Strategies that are Optuna samplers, or thin space-aware versions of them."""

from __future__ import annotations

import numpy as np
import optuna
from optuna.study import Study
from optuna.trial import FrozenTrial

from nas.arch import Arch
from nas.space import SearchSpace
from nas.strategies.base import SpaceSampler


class SpaceRandomSampler(SpaceSampler):
    """Uniform random architectures drawn with the space's own ``sample``."""

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator) -> Arch:
        """A fresh random architecture."""
        return self.space.sample(rng)


def random(space: SearchSpace, seed: int, objectives: dict[str, str]) -> SpaceRandomSampler:
    """Random search: every architecture drawn uniformly and independently."""
    return SpaceRandomSampler(space, seed)


def tpe(
    space: SearchSpace, seed: int, objectives: dict[str, str], *,
    n_startup_trials: int = 10, n_ei_candidates: int = 24, multivariate: bool = True,
) -> optuna.samplers.TPESampler:
    """Tree-structured Parzen estimator (Optuna's TPESampler), multivariate by default."""
    return optuna.samplers.TPESampler(
        n_startup_trials=n_startup_trials, n_ei_candidates=n_ei_candidates,
        multivariate=multivariate, seed=seed,
    )
