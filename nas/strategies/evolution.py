"""Regularized (aging) evolution, Real et al. 2019, as an Optuna sampler; multi-objective too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial

from nas.arch import Arch
from nas.constraints import Constraint
from nas.errors import NasError
from nas.pareto import crowding_distance, pareto_ranks
from nas.space import SearchSpace
from nas.strategies.base import SpaceSampler, best_of, study_directions, violation


class RegularizedEvolutionSampler(SpaceSampler):
    """Aging evolution: the population is the last P completed trials; each child is a
    one-decision mutation of the best of S trials drawn from it. The first P are random.

    With several objectives "best" is the NSGA-II order within the population: feasible before
    infeasible (less violation first), then lower non-domination rank, then larger crowding
    distance. With one objective it is the best value (the earliest trial on ties).
    ``direction`` (one, or one per objective) defaults to the study's directions.
    A parent whose objective asked for some decisions only has the others drawn at random.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        population_size: int = 10,
        sample_size: int = 3,
        direction: str | Sequence[str] | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(space, seed)
        if population_size < 1 or not 1 <= sample_size <= population_size:
            raise NasError(
                f"evolution needs population_size >= 1 and 1 <= sample_size <= population_size, "
                f"got P={population_size}, S={sample_size}"
            )
        self.population_size = population_size
        self.sample_size = sample_size
        self.directions: list[str] | None = (
            None
            if direction is None
            else [direction]
            if isinstance(direction, str)
            else list(direction)
        )

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator) -> Arch:
        """A random architecture while the population fills, then a mutated tournament winner."""
        directions = study_directions(study, self.directions, "evolution")
        done = self.completed(study)
        if len(done) < self.population_size:
            return self.space.sample(rng)
        population = done[-self.population_size :]
        picks = rng.choice(len(population), size=self.sample_size, replace=False)
        if len(directions) == 1:
            parent = best_of([population[i] for i in picks], directions[0])
        else:
            order = nsga_order(population, directions)
            parent = population[min(picks, key=order.__getitem__)]
        return self.space.mutate(self.complete(self.known(parent), rng), rng)


def nsga_order(trials: Sequence[FrozenTrial], directions: Sequence[str]) -> list[int]:
    """Position of each trial in the NSGA-II order (0 = best) among ``trials``."""
    spent = [violation(t) for t in trials]
    feasible = [i for i, v in enumerate(spent) if v == 0]
    rank = np.full(len(trials), np.inf)
    crowd = np.zeros(len(trials))
    if feasible:
        values = [trials[i].values for i in feasible]
        rank[feasible] = pareto_ranks(values, directions)
        for r in set(rank[feasible]):
            members = [i for i in feasible if rank[i] == r]
            crowd[members] = crowding_distance([trials[i].values for i in members], directions)
    keys = sorted(
        range(len(trials)), key=lambda i: (spent[i], rank[i], -crowd[i], trials[i].number)
    )
    order = [0] * len(trials)
    for position, i in enumerate(keys):
        order[i] = position
    return order


def regularized_evolution(
    space: SearchSpace,
    seed: int,
    objectives: dict[str, str],
    constraints: Sequence[Constraint] = (),
    *,
    population_size: int = 10,
    sample_size: int = 3,
    warm_start: dict[str, Any] | None = None,
) -> BaseSampler:
    """Regularized (aging) evolution; Pareto-rank and crowding selection when there are several objectives.

    ``warm_start`` (e.g. ``{proxy: synflow, pool: 500}``, the options of
    :class:`nas.strategies.prefilter.ProxyRanking`) fills the first population with the
    ``population_size`` best of a pool of random candidates by a zero-cost proxy, instead of random ones.
    """
    sampler = RegularizedEvolutionSampler(
        space,
        population_size=population_size,
        sample_size=sample_size,
        direction=list(objectives.values()),
        seed=seed,
    )
    if warm_start is None:
        return sampler
    from nas.strategies.prefilter import warm_started

    return warm_started(sampler, space, seed, warm_start, population_size)
