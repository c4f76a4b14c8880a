"""Regularized (aging) evolution, Real et al. 2019, as an Optuna sampler."""

from __future__ import annotations

import numpy as np
from optuna.study import Study
from optuna.trial import FrozenTrial

from nas.arch import Arch
from nas.errors import NasError
from nas.space import SearchSpace
from nas.strategies.base import SpaceSampler, best_of


class RegularizedEvolutionSampler(SpaceSampler):
    """Aging evolution: the population is the last P completed trials; each child is a
    one-decision mutation of the best of S trials drawn from it. The first P are random."""

    def __init__(
        self, space: SearchSpace, *, population_size: int = 10, sample_size: int = 3,
        direction: str = "maximize", seed: int | None = None,
    ) -> None:
        super().__init__(space, seed)
        if population_size < 1 or not 1 <= sample_size <= population_size:
            raise NasError(
                f"evolution needs population_size >= 1 and 1 <= sample_size <= population_size, "
                f"got P={population_size}, S={sample_size}"
            )
        self.population_size = population_size
        self.sample_size = sample_size
        self.direction = direction

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator) -> Arch:
        """A random architecture while the population fills, then a mutated tournament winner."""
        done = self.completed(study)
        if len(done) < self.population_size:
            return self.space.sample(rng)
        population = done[-self.population_size:]
        picks = rng.choice(len(population), size=self.sample_size, replace=False)
        parent = best_of([population[i] for i in picks], self.direction)
        return self.space.mutate(self.arch_of(parent), rng)


def regularized_evolution(
    space: SearchSpace, seed: int, objectives: dict[str, str], *,
    population_size: int = 10, sample_size: int = 3,
) -> RegularizedEvolutionSampler:
    """Regularized (aging) evolution: tournament of S from the last P, one-decision mutation."""
    if len(objectives) != 1:
        raise NasError(
            f"strategy 'evolution' optimises one objective but the config lists {list(objectives)}; "
            "keep one objective or use a multi-objective strategy"
        )
    return RegularizedEvolutionSampler(
        space, population_size=population_size, sample_size=sample_size,
        direction=next(iter(objectives.values())), seed=seed,
    )
