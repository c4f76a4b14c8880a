"""Optuna's samplers by name, with their options from the config, reseeded per trial.

Optuna's samplers keep their random state in memory, so a resumed search would not continue
the sequence an uninterrupted one proposes. :class:`PerTrialSeeded` builds the wrapped sampler
afresh for each trial with a seed derived from ``(seed, trial.number)``; everything else they
use (history, NSGA-II generations, QMC's sample counter) lives in the study, so the same seed
gives the same architectures whether or not the search was stopped and resumed.
CMA-ES is not offered: it has no categorical distributions, so on a space of categorical
decisions it would be random search under another name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import optuna
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from nas.arch import Arch
from nas.constraints import Constraint
from nas.seeds import derive_seed
from nas.space import SearchSpace
from nas.strategies.base import ForwardingSampler, Guarded, SpaceSampler


class SpaceRandomSampler(SpaceSampler):
    """Uniform random architectures drawn with the space's own ``sample``."""

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator) -> Arch:
        """A fresh random architecture."""
        return self.space.sample(rng)


class PerTrialSeeded(ForwardingSampler, Guarded):
    """Runs a sampler built anew for each trial by ``make(seed)``, seeded from ``(seed, trial.number)``.

    Safe under Optuna's ``n_jobs``: each trial has a sampler of its own, and the table of them is
    guarded by a lock.
    """

    def __init__(self, make: Callable[[int], optuna.samplers.BaseSampler], seed: int) -> None:
        self._make = make
        self.seed = seed
        self._by_trial: dict[int, optuna.samplers.BaseSampler] = {}
        self._lock = threading.Lock()

    def delegate(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
        """This trial's own sampler, built on first use."""
        with self._lock:
            sampler = self._by_trial.get(trial.number)
            if sampler is None:
                sampler = self._by_trial[trial.number] = self._make(
                    derive_seed(self.seed, trial.number)
                )
            return sampler

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        """As the trial's sampler; then that sampler is dropped."""
        super().after_trial(study, trial, state, values)
        with self._lock:
            self._by_trial.pop(trial.number, None)

    def reseed_rng(self) -> None:
        """Nothing to do: every trial is seeded from the run's seed."""

    def __str__(self) -> str:
        return f"PerTrialSeeded({type(self._make(0)).__name__})"


class _BruteForce(optuna.samplers.BruteForceSampler):
    """Optuna's BruteForceSampler without its ``study.stop()`` once every combination is tried:
    outside ``study.optimize`` that raises, and the runner already stops at the space's size.

    A trial that failed or was pruned before asking for anything is left out of the tree of tried
    combinations: Optuna takes it for a leaf at the root, and every later trial then fails with
    "param_name mismatch". (One that stopped half-way through its suggestions still trips it.)
    """

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        """Nothing to do."""

    @staticmethod
    def _populate_tree(tree: Any, trials: list[FrozenTrial], params: dict[str, Any]) -> None:
        # overrides an Optuna internal (optuna is bounded below 6 for it); the sampler conformance
        # suite's pruned and failing trials fail if it stops holding
        asked = [t for t in trials if t.params or not t.state.is_finished()]
        optuna.samplers.BruteForceSampler._populate_tree(tree, asked, params)


def random(
    space: SearchSpace,
    seed: int,
    objectives: dict[str, str],
    constraints: Sequence[Constraint] = (),
) -> SpaceRandomSampler:
    """Random search: every architecture drawn uniformly and independently (the space's sampler)."""
    return SpaceRandomSampler(space, seed)


class Seeded:
    """``make(seed)`` for :class:`PerTrialSeeded`: ``cls(seed=seed, **options)`` (picklable, unlike a closure)."""

    def __init__(self, cls: Callable[..., optuna.samplers.BaseSampler], **options: Any) -> None:
        self.cls = cls
        self.options = options

    def __call__(self, seed: int) -> optuna.samplers.BaseSampler:
        """A new sampler with this seed."""
        return self.cls(seed=seed, **self.options)


def optuna_random(
    space: SearchSpace,
    seed: int,
    objectives: dict[str, str],
    constraints: Sequence[Constraint] = (),
) -> PerTrialSeeded:
    """Optuna's RandomSampler (each decision drawn independently)."""
    return PerTrialSeeded(Seeded(optuna.samplers.RandomSampler), seed)


def bruteforce(
    space: SearchSpace,
    seed: int,
    objectives: dict[str, str],
    constraints: Sequence[Constraint] = (),
) -> PerTrialSeeded:
    """Optuna's BruteForceSampler: every architecture once, in random order."""
    return PerTrialSeeded(Seeded(_BruteForce), seed)


def tpe(
    space: SearchSpace,
    seed: int,
    objectives: dict[str, str],
    constraints: Sequence[Constraint] = (),
    *,
    n_startup_trials: int = 10,
    n_ei_candidates: int = 24,
    multivariate: bool = True,
    group: bool = False,
    constant_liar: bool = True,
) -> PerTrialSeeded:
    """Tree-structured Parzen estimator (Optuna's TPESampler), multivariate by default.

    (Optuna 4.9 deprecated prior_weight, consider_endpoints and consider_magic_clip; they are not offered.)
    """
    return PerTrialSeeded(
        Seeded(
            optuna.samplers.TPESampler,
            n_startup_trials=n_startup_trials,
            n_ei_candidates=n_ei_candidates,
            multivariate=multivariate,
            group=group,
            constant_liar=constant_liar,
        ),
        seed,
    )


def nsga2(
    space: SearchSpace,
    seed: int,
    objectives: dict[str, str],
    constraints: Sequence[Constraint] = (),
    *,
    population_size: int = 50,
    mutation_prob: float | None = None,
    crossover_prob: float = 0.9,
    swapping_prob: float = 0.5,
) -> PerTrialSeeded:
    """NSGA-II (Optuna's NSGAIISampler): non-dominated sorting with crowding, constraint-aware."""
    return PerTrialSeeded(
        Seeded(
            optuna.samplers.NSGAIISampler,
            population_size=population_size,
            mutation_prob=mutation_prob,
            crossover_prob=crossover_prob,
            swapping_prob=swapping_prob,
        ),
        seed,
    )


def nsga3(
    space: SearchSpace,
    seed: int,
    objectives: dict[str, str],
    constraints: Sequence[Constraint] = (),
    *,
    population_size: int = 50,
    mutation_prob: float | None = None,
    crossover_prob: float = 0.9,
    swapping_prob: float = 0.5,
    dividing_parameter: int = 3,
) -> PerTrialSeeded:
    """NSGA-III (Optuna's NSGAIIISampler): reference-point selection for many objectives."""
    return PerTrialSeeded(
        Seeded(
            optuna.samplers.NSGAIIISampler,
            population_size=population_size,
            mutation_prob=mutation_prob,
            crossover_prob=crossover_prob,
            swapping_prob=swapping_prob,
            dividing_parameter=dividing_parameter,
        ),
        seed,
    )


def gp(
    space: SearchSpace,
    seed: int,
    objectives: dict[str, str],
    constraints: Sequence[Constraint] = (),
    *,
    n_startup_trials: int = 10,
    deterministic_objective: bool = False,
) -> PerTrialSeeded:
    """Gaussian-process Bayesian optimisation (Optuna's GPSampler; needs torch and scipy)."""
    return PerTrialSeeded(
        Seeded(
            optuna.samplers.GPSampler,
            n_startup_trials=n_startup_trials,
            deterministic_objective=deterministic_objective,
            warn_independent_sampling=False,
        ),
        seed,
    )


def qmc(
    space: SearchSpace,
    seed: int,
    objectives: dict[str, str],
    constraints: Sequence[Constraint] = (),
    *,
    qmc_type: Literal["sobol", "halton"] = "sobol",
    scramble: bool = True,
) -> optuna.samplers.QMCSampler:
    """Quasi-Monte Carlo (Optuna's QMCSampler): low-discrepancy coverage of the decisions.

    Not reseeded per trial: its only randomness is the scrambling seed, and it counts its
    samples in the study, so a resumed search continues the same sequence.
    """
    return optuna.samplers.QMCSampler(
        qmc_type=qmc_type,
        scramble=scramble,
        seed=seed,
        warn_asynchronous_seeding=False,
        warn_independent_sampling=False,
    )
