"""Multi-objective BANANAS: one predictor per objective, hypervolume improvement as acquisition.

Every objective (accuracy, and costs such as params, FLOPs or latency) has its own predictor,
refitted once per batch of ``batch_size`` trials on the completed trials before the batch. The
candidates are the neighbours and two-step mutations of the architectures first in the
NSGA-II order (feasible first, then non-domination rank, then crowding distance) and random
ones, as in ``bananas``. Each candidate gets a predicted point (one Thompson draw per objective
with ``its``, the optimistic bound ``mean ± kappa * std`` with ``ucb``) and the trial takes the
unseen candidate whose point adds most hypervolume to the study's current front, estimated with
``hv_samples`` uniform points; when no candidate adds any, the one closest to escaping the front's
domination is taken. With one objective this is the expected improvement over the best.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from optuna.study import Study
from optuna.trial import FrozenTrial

from nas.arch import Arch
from nas.constraints import Constraint
from nas.errors import NasError
from nas.pareto import as_minimization, crowding_distance, non_dominated, pareto_ranks
from nas.predictors.encodings import EncodingName
from nas.space import SearchSpace
from nas.strategies.bananas import BananasSampler
from nas.strategies.base import study_directions
from nas.strategies.predictive import Fitted, Seen, TrainingSet


class BananasMOSampler(BananasSampler):
    """BANANAS with a predictor per objective and hypervolume-improvement acquisition."""

    def __init__(
        self,
        space: SearchSpace,
        *,
        acquisition: Literal["its", "ucb"] = "its",
        hv_samples: int = 1024,
        directions: Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(space, acquisition=acquisition, **options)
        if hv_samples < 16:
            raise NasError(f"bananas_mo needs hv_samples >= 16, got {hv_samples}")
        self.hv_samples = hv_samples
        self.directions = None if directions is None else list(directions)

    def check_study(self, study: Study) -> None:
        """The directions the sampler was built for, if any, are the study's."""
        study_directions(study, self.directions, "bananas_mo")

    def plan(self, study: Study, train: TrainingSet, batch: int) -> list[Fitted]:
        """One predictor per objective, fitted on the batch's training set."""
        return [self.fit(train, k, batch) for k in range(train.values.shape[1])]

    def choose(
        self,
        plan: list[Fitted],
        study: Study,
        trial: FrozenTrial,
        seen: Seen,
        rng: np.random.Generator,
    ) -> Arch | None:
        """The unseen candidate whose predicted point adds most hypervolume to the front now."""
        directions = study_directions(study, self.directions, "bananas_mo")
        now = self.training_set(study, trial.number)
        order = pareto_order(now, directions)
        pool = [a for a in self.candidates(now, [now.archs[i] for i in order], rng) if not seen(a)]
        if not pool:
            return None
        columns = []
        for fitted, direction in zip(plan, directions, strict=False):
            prediction = fitted.predict(pool)
            sign = 1.0 if direction == "maximize" else -1.0
            if self.acquisition == "its":
                columns.append(prediction.sample(rng))
            else:
                columns.append(prediction.mean + sign * self.kappa * prediction.std)
        points = as_minimization(np.stack(columns, axis=1).tolist(), directions)
        feasible = now.violations == 0
        values = now.values[feasible] if feasible.any() else now.values
        front = as_minimization(values.tolist(), directions)
        front = front[non_dominated(front.tolist(), ["minimize"] * len(directions))]
        gain = hypervolume_improvement(front, points, rng, self.hv_samples)
        gap = epsilon_gap(front, points)
        return pool[int(np.lexsort((gap, -gain))[0])]


def pareto_order(train: TrainingSet, directions: Sequence[str]) -> list[int]:
    """Indices of the training set in the NSGA-II order: less violation, lower rank, larger crowding distance."""
    n = len(train)
    rank = np.zeros(n)
    crowd = np.zeros(n)
    feasible = np.flatnonzero(train.violations == 0)
    if len(feasible):
        values = train.values[feasible]
        rank[feasible] = pareto_ranks(values.tolist(), directions)
        for r in set(rank[feasible]):
            members = feasible[rank[feasible] == r]
            crowd[members] = crowding_distance(train.values[members].tolist(), directions)
    return sorted(
        range(n), key=lambda i: (train.violations[i], rank[i], -crowd[i], train.numbers[i])
    )


def hypervolume_improvement(
    front: np.ndarray, points: np.ndarray, rng: np.random.Generator, samples: int
) -> np.ndarray:
    """Monte Carlo estimate of the hypervolume (all objectives minimised) each of ``points`` adds
    to ``front``, in the box from the lowest of all points to a reference 10 % beyond the front's worst."""
    everything = np.vstack([front, points]) if len(front) else points
    low = everything.min(axis=0)
    high = front.max(axis=0) if len(front) else everything.max(axis=0)
    span = np.maximum(high - low, 1e-12) * 1.1
    uniform = low + rng.random((samples, points.shape[1])) * span
    if len(front):
        free = ~np.any(np.all(front[:, None, :] <= uniform[None, :, :], axis=-1), axis=0)
    else:
        free = np.ones(samples, dtype=bool)
    covered = np.all(points[:, None, :] <= uniform[None, :, :], axis=-1) & free
    return covered.mean(axis=1) * float(np.prod(span))


def epsilon_gap(front: np.ndarray, points: np.ndarray) -> np.ndarray:
    """How far each point (all objectives minimised) is from escaping the front's domination: for
    each front point that dominates it, the least improvement of one objective that gets it out of
    that point's reach; the largest of these (0 when no front point dominates it)."""
    if not len(front):
        return np.zeros(len(points))
    escape = np.min(points[:, None, :] - front[None, :, :], axis=-1)  # (points, front)
    return np.maximum(escape, 0.0).max(axis=1)


def bananas_mo(
    space: SearchSpace,
    seed: int,
    objectives: dict[str, str],
    constraints: Sequence[Constraint] = (),
    *,
    predictor: str = "mlp_ensemble",
    predictor_options: dict[str, Any] | None = None,
    encoding: EncodingName = "auto",
    proxy_feature: dict[str, Any] | None = None,
    acquisition: Literal["its", "ucb"] = "its",
    kappa: float = 1.0,
    hv_samples: int = 1024,
    batch_size: int = 10,
    initial: int = 10,
    parents: int = 10,
    per_parent: int = 100,
    mutations: int = 10,
    random_candidates: int = 100,
) -> BananasMOSampler:
    """Multi-objective BANANAS: a predictor per objective, hypervolume-improvement acquisition."""
    return BananasMOSampler(
        space,
        predictor=predictor,
        predictor_options=predictor_options,
        encoding_name=encoding,
        proxy_feature=proxy_feature,
        acquisition=acquisition,
        kappa=kappa,
        hv_samples=hv_samples,
        batch_size=batch_size,
        initial=initial,
        parents=parents,
        per_parent=per_parent,
        mutations=mutations,
        random_candidates=random_candidates,
        directions=list(objectives.values()),
        seed=seed,
    )
