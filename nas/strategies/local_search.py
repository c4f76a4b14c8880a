"""Best-first local search over one-decision changes and swaps, as an Optuna sampler.

After ``initial`` random architectures, each proposal is a not-yet-evaluated neighbour of the
best evaluated architecture that still has one (so the search climbs from the best point found
and falls back to the next best when a neighbourhood is used up). Neighbours differ in one
decision, or, with ``swaps``, exchange the choices of two decisions that offer the same choices
(two edges of a cell swapping their operations), a move that single changes cannot make without
passing through worse architectures. Local search is a strong baseline on NAS benchmarks
(White et al., 2021, "Local search is state of the art for NAS benchmarks").

When an objective asks for some decisions only, a trial's architecture is the decisions it set:
neighbours change those, the others are drawn at random, and an architecture counts as
evaluated when a completed trial set a part of it (the objective would ask for the same).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from nas.arch import Arch, Choice
from nas.constraints import Constraint
from nas.errors import NasError
from nas.space import SearchSpace
from nas.strategies.base import SpaceSampler, only_objective, single_direction, violation

_MISSING = object()


class LocalSearchSampler(SpaceSampler):
    """Best-first neighbourhood search: expand the best evaluated architecture with unexplored neighbours."""

    def __init__(
        self,
        space: SearchSpace,
        *,
        initial: int = 5,
        swaps: bool = True,
        direction: str | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(space, seed)
        if initial < 1:
            raise NasError(f"local_search needs initial >= 1 random architectures, got {initial}")
        self.initial = initial
        self.swaps = swaps
        self.direction = direction
        self._choices = {name: tuple(c) for name, c in space.decisions().items()}

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator) -> Arch:
        """A random architecture at first, then an unexplored neighbour of the best one."""
        sign = (
            1.0 if single_direction(study, self.direction, "local_search") == "maximize" else -1.0
        )
        seen = self._evaluated(study)
        done = [t for t in self.completed(study) if "duplicate_of" not in t.user_attrs]
        if len(done) >= self.initial:
            ranked = sorted(done, key=lambda t: (violation(t), -sign * t.values[0], t.number))
            for parent in ranked:
                fresh = [a for a in self.neighbours(self.known(parent)) if not seen(a)]
                if fresh:
                    return self.complete(fresh[rng.integers(len(fresh))], rng)
        return self.space.sample(rng)

    def _evaluated(self, study: Study) -> Callable[[dict[str, Choice]], bool]:
        """Whether an architecture (or the part of one that a parent set) was evaluated, or is being."""
        trials = study.get_trials(
            deepcopy=False,
            states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED, TrialState.RUNNING),
        )
        whole, parts = set(), []
        for t in trials:
            known = self.known(t)
            if len(known) == len(self._choices):
                whole.add(self._key(known))
            elif known and t.state == TrialState.COMPLETE:  # it asked for all it wanted
                parts.append(known)

        def seen(arch: dict[str, Choice]) -> bool:
            if len(arch) == len(self._choices) and self._key(arch) in whole:
                return True
            return any(all(arch.get(k, _MISSING) == v for k, v in part.items()) for part in parts)

        return seen

    def neighbours(self, arch: dict[str, Choice]) -> Iterator[dict[str, Choice]]:
        """One-decision changes, then (with ``swaps``) exchanges between decisions with equal choices
        (of the decisions ``arch`` has: all of them, unless its objective asked for some only)."""
        names = [name for name in self._choices if name in arch]
        for name in names:
            for choice in self._choices[name]:
                if choice != arch[name]:
                    yield {**arch, name: choice}
        if not self.swaps:
            return
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                if self._choices[a] == self._choices[b] and arch[a] != arch[b]:
                    yield {**arch, a: arch[b], b: arch[a]}

    def _key(self, arch: dict[str, Choice]) -> tuple:
        return tuple(arch[name] for name in self._choices)


def local_search(
    space: SearchSpace,
    seed: int,
    objectives: dict[str, str],
    constraints: Sequence[Constraint] = (),
    *,
    initial: int = 5,
    swaps: bool = True,
) -> LocalSearchSampler:
    """Best-first local search (one-decision changes and swaps); strong on NAS-Bench-201."""
    direction = only_objective(objectives, "local_search", "evolution / nsga2")
    return LocalSearchSampler(space, initial=initial, swaps=swaps, direction=direction, seed=seed)
