"""BANANAS (White, Neiswanger and Savani, AAAI 2021): a predictor ensemble on the path encoding,
independent Thompson sampling over mutations of the best architectures, proposals in batches.

After ``initial`` random architectures, every batch of ``batch_size`` trials is planned at once:
the predictor is fitted on the completed trials before the batch, the candidates are the
neighbours (one-decision changes and swaps) and two-step mutations of the ``parents`` best
architectures plus ``random_candidates`` random ones, and they are ranked by the acquisition.
Each trial of the batch takes the best-ranked candidate the study has not seen yet.

Works with every space and evaluator: the encoding is the path encoding for cell spaces (nb201,
darts) and one-hot otherwise; the predictor is any registered one (``mlp_ensemble``, as the
paper, ``gbt``, ``gp``). Several objectives: use ``bananas_mo``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from optuna.study import Study
from optuna.trial import FrozenTrial

from nas.arch import Arch, Choice
from nas.constraints import Constraint
from nas.errors import NasError
from nas.predictors.encodings import EncodingName
from nas.space import SearchSpace
from nas.strategies.base import only_objective, single_direction
from nas.strategies.predictive import (
    Fitted,
    PredictiveSampler,
    Seen,
    TrainingSet,
    acquisition,
    neighbours,
    ranked,
)

Acquisition = Literal["its", "ucb", "mean"]


class BananasSampler(PredictiveSampler):
    """BANANAS: batches of the best candidates by acquisition, candidates mutated from the best."""

    def __init__(
        self,
        space: SearchSpace,
        *,
        acquisition: Acquisition = "its",
        kappa: float = 1.0,
        parents: int = 10,
        per_parent: int = 100,
        mutations: int = 10,
        random_candidates: int = 100,
        direction: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(space, **options)
        if parents < 1 or min(per_parent, mutations, random_candidates) < 0:
            raise NasError(
                "bananas needs parents >= 1 and per_parent, mutations, random_candidates >= 0, got "
                f"{parents}, {per_parent}, {mutations}, {random_candidates}"
            )
        self.acquisition = acquisition
        self.kappa = kappa
        self.parents = parents
        self.per_parent = per_parent
        self.mutations = mutations
        self.random_candidates = random_candidates
        self.direction = direction
        self._choices = {name: tuple(c) for name, c in space.decisions().items()}

    def check_study(self, study: Study) -> None:
        """One objective, in the direction the sampler was built for."""
        single_direction(study, self.direction, "bananas")

    def sign(self, study: Study) -> float:
        """+1 to maximise the objective, -1 to minimise it."""
        return 1.0 if single_direction(study, self.direction, "bananas") == "maximize" else -1.0

    def plan(self, study: Study, train: TrainingSet, batch: int) -> list[Fitted]:
        """One predictor per objective (here one), fitted on the batch's training set."""
        return [self.fit(train, k, batch) for k in range(train.values.shape[1])]

    def candidates(
        self, train: TrainingSet, best: Sequence[dict[str, Choice]], rng: np.random.Generator
    ) -> list[Arch]:
        """Neighbours and two-step mutations of the best ``parents``, and random architectures,
        each once, none of them in the training set."""
        known = {self._key(a) for a in train.archs}
        pool: dict[tuple, Arch] = {}

        def add(arch: Arch) -> None:
            key = self._key(arch)
            if key not in known:
                pool.setdefault(key, arch)

        for part in best[: self.parents]:
            parent = self.complete(part, rng)
            near = neighbours(self._choices, parent)
            for i in rng.permutation(len(near))[: self.per_parent]:
                add(near[i])
            for _ in range(self.mutations):
                add(self.space.mutate(self.space.mutate(parent, rng), rng))
        for _ in range(self.random_candidates):
            add(self.space.sample(rng))
        return list(pool.values())

    def choose(
        self,
        plan: list[Fitted],
        study: Study,
        trial: FrozenTrial,
        seen: Seen,
        rng: np.random.Generator,
    ) -> Arch | None:
        """The unseen candidate (mutated from the study's best now) with the best acquisition."""
        sign = self.sign(study)
        now = self.training_set(study, trial.number)
        pool = [
            a
            for a in self.candidates(now, [now.archs[i] for i in ranked(now, sign)], rng)
            if not seen(a)
        ]
        if not pool:
            return None
        score = acquisition(plan[0].predict(pool), self.acquisition, self.kappa, sign, rng)
        return pool[int(np.argmax(score))]

    def _key(self, arch: dict[str, Choice]) -> tuple:
        return tuple(sorted((k, str(v)) for k, v in arch.items()))


def bananas(
    space: SearchSpace,
    seed: int,
    objectives: dict[str, str],
    constraints: Sequence[Constraint] = (),
    *,
    predictor: str = "mlp_ensemble",
    predictor_options: dict[str, Any] | None = None,
    encoding: EncodingName = "auto",
    proxy_feature: dict[str, Any] | None = None,
    acquisition: Acquisition = "its",
    kappa: float = 1.0,
    batch_size: int = 10,
    initial: int = 10,
    parents: int = 10,
    per_parent: int = 100,
    mutations: int = 10,
    random_candidates: int = 100,
) -> BananasSampler:
    """BANANAS: predictor ensemble + Thompson sampling over mutations of the best, in batches."""
    direction = only_objective(objectives, "bananas", "bananas_mo")
    return BananasSampler(
        space,
        predictor=predictor,
        predictor_options=predictor_options,
        encoding_name=encoding,
        proxy_feature=proxy_feature,
        acquisition=acquisition,
        kappa=kappa,
        batch_size=batch_size,
        initial=initial,
        parents=parents,
        per_parent=per_parent,
        mutations=mutations,
        random_candidates=random_candidates,
        direction=direction,
        seed=seed,
    )
