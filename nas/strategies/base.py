"""A base for our own samplers: propose a whole architecture per trial, from the study's history."""

from __future__ import annotations

import threading
import zlib
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from nas.arch import Arch, Choice
from nas.constraints import VIOLATIONS_ATTR
from nas.errors import NasError
from nas.space import SearchSpace


class Guarded:
    """A lock (``self._lock``) for state that Optuna's ``n_jobs`` threads share; it is left out when
    the object is pickled or copied (Optuna's way to save a sampler) and made anew."""

    _lock: threading.Lock

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


class ForwardingSampler(BaseSampler):
    """A sampler that hands each trial to another sampler, :meth:`delegate` (trial); subclasses
    override the calls they answer themselves."""

    @abstractmethod
    def delegate(self, trial: FrozenTrial) -> BaseSampler:
        """The sampler that answers for ``trial``."""

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        """As the delegate."""
        self.delegate(trial).before_trial(study, trial)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """As the delegate."""
        return self.delegate(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """As the delegate."""
        return self.delegate(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        """As the delegate."""
        return self.delegate(trial).sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        """As the delegate."""
        self.delegate(trial).after_trial(study, trial, state, values)


def decision_distributions(space: SearchSpace) -> dict[str, CategoricalDistribution]:
    """One Optuna categorical distribution per decision of the space."""
    return {name: CategoricalDistribution(choices) for name, choices in space.decisions().items()}


def study_directions(study: Study, directions: Sequence[str] | None, sampler: str) -> list[str]:
    """The directions a sampler optimises in ``study``: its own when given (they must match the
    study's), else the study's."""
    wanted = [d.name.lower() for d in study.directions]
    if directions is not None and list(directions) != wanted:
        raise NasError(
            f"{sampler} was built for directions {list(directions)} but the study has {wanted}; "
            f"pass direction={wanted if len(wanted) > 1 else wanted[0]!r} (or leave it out)"
        )
    return wanted


def single_direction(study: Study, direction: str | None, sampler: str) -> str:
    """The direction a single-objective sampler optimises in ``study`` (see :func:`study_directions`)."""
    if len(study.directions) > 1:
        raise NasError(
            f"{sampler} optimises one objective but the study has {len(study.directions)}; "
            "use evolution / nsga2 for several"
        )
    return study_directions(study, None if direction is None else [direction], sampler)[0]


def only_objective(objectives: dict[str, str], strategy: str, several: str) -> str:
    """The direction of a config's one objective, for a strategy that optimises one (``several``:
    the strategies to name for more)."""
    if len(objectives) != 1:
        raise NasError(
            f"strategy '{strategy}' optimises one objective but the config lists "
            f"{list(objectives)}; keep one objective or use {several} for several"
        )
    return next(iter(objectives.values()))


class SpaceSampler(BaseSampler):
    """An Optuna sampler that proposes whole architectures of one space.

    The random state of trial ``n`` is derived from ``(seed, n)``, and all other state is read
    from the study, so a resumed search proposes what an uninterrupted one would have.
    Every decision is proposed for every trial; a trial takes the ones it asks for (an
    objective may ask for some only), and parameters outside the space are drawn at random.
    """

    def __init__(self, space: SearchSpace, seed: int | None = None) -> None:
        self.space = space
        self.seed = 0 if seed is None else seed
        self._distributions = decision_distributions(space)

    @abstractmethod
    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator) -> Arch:
        """The architecture for ``trial``."""

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
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
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        """Parameters outside the space (none in the runner's own trials) are drawn at random,
        seeded by the trial and the parameter's name (so a resumed study draws them again)."""
        seed = np.random.SeedSequence([self.seed, trial.number, zlib.crc32(param_name.encode())])
        sampler = RandomSampler(seed=int(seed.generate_state(1)[0]))
        return sampler.sample_independent(study, trial, param_name, param_distribution)

    def completed(self, study: Study) -> list[FrozenTrial]:
        """Completed trials, oldest first (Optuna's storages list a study's trials in creation order)."""
        return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))

    def known(self, trial: FrozenTrial) -> dict[str, Choice]:
        """The decisions of the space a trial set (all of them, unless its objective asked for some only)."""
        return {
            name: trial.params[name]
            for name, dist in self._distributions.items()
            if name in trial.params and trial.params[name] in dist.choices
        }

    def complete(self, known: dict[str, Choice], rng: np.random.Generator) -> Arch:
        """``known`` with the decisions it lacks drawn at random (``rng`` is used only when some are missing)."""
        if len(known) == len(self._distributions):
            return {name: known[name] for name in self._distributions}
        filler = self.space.sample(rng)
        return {name: known.get(name, filler[name]) for name in self._distributions}


def violation(trial: FrozenTrial) -> float:
    """Total amount by which a trial misses its constraints (0 when feasible or unconstrained)."""
    return sum(max(0.0, v) for v in trial.user_attrs.get(VIOLATIONS_ATTR, ()))


def best_of(trials: Sequence[FrozenTrial], direction: str) -> FrozenTrial:
    """The feasible trial with the best objective value (the earliest one on ties); when none is
    feasible, the one that misses its constraints by least."""
    sign = 1.0 if direction == "maximize" else -1.0
    return max(trials, key=lambda t: (-violation(t), sign * t.values[0], -t.number))
