"""A base for our own samplers: propose a whole architecture per trial, from the study's history."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from nas.arch import Arch
from nas.constraints import VIOLATIONS_ATTR
from nas.space import SearchSpace


def decision_distributions(space: SearchSpace) -> dict[str, CategoricalDistribution]:
    """One Optuna categorical distribution per decision of the space."""
    return {name: CategoricalDistribution(choices) for name, choices in space.decisions().items()}


class SpaceSampler(BaseSampler):
    """An Optuna sampler that proposes whole architectures of one space.

    The random state of trial ``n`` is derived from ``(seed, n)``, and all other state is read
    from the study, so a resumed search proposes what an uninterrupted one would have.
    """

    def __init__(self, space: SearchSpace, seed: int | None = None) -> None:
        self.space = space
        self.seed = 0 if seed is None else seed
        self._distributions = decision_distributions(space)
        self._fallback = RandomSampler(seed=seed)

    @abstractmethod
    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator) -> Arch:
        """The architecture for ``trial``."""

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        """Every decision of the space, sampled jointly."""
        return dict(self._distributions)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """Propose a whole architecture with this trial's own random state."""
        if not search_space:
            return {}
        rng = np.random.default_rng([self.seed, trial.number])  # this trial's own stream
        arch = self.propose(study, trial, rng)
        return {k: v for k, v in arch.items() if k in search_space}

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        """Parameters outside the space (none in the runner's own trials) are drawn at random."""
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)

    def completed(self, study: Study) -> list[FrozenTrial]:
        """Completed trials, oldest first (Optuna's storages list a study's trials in creation order)."""
        return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))

    def arch_of(self, trial: FrozenTrial) -> Arch:
        """The architecture a trial evaluated."""
        return {name: trial.params[name] for name in self._distributions}


def violation(trial: FrozenTrial) -> float:
    """Total amount by which a trial misses its constraints (0 when feasible or unconstrained)."""
    return sum(max(0.0, v) for v in trial.user_attrs.get(VIOLATIONS_ATTR, ()))


def best_of(trials: Sequence[FrozenTrial], direction: str) -> FrozenTrial:
    """The feasible trial with the best objective value (the earliest one on ties); when none is
    feasible, the one that misses its constraints by least."""
    sign = 1.0 if direction == "maximize" else -1.0
    return max(trials, key=lambda t: (-violation(t), sign * t.values[0], -t.number))
