"""Local search whose neighbours are ordered by a predictor.

Best-first local search as ``local_search`` (one-decision changes and swaps of the best
evaluated architecture that still has unexplored neighbours), except that the neighbour taken is
the one the predictor rates best (``acquisition``: ``ucb``, the mean plus ``kappa`` standard
deviations, by default; ``mean`` or ``its``), not a random one. The predictor is refitted once
per batch of ``batch_size`` trials on the completed trials before the batch; the parent is read
from the whole study at each trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.study import Study
from optuna.trial import FrozenTrial

from nas.arch import Arch
from nas.constraints import Constraint
from nas.predictors.encodings import EncodingName
from nas.space import SearchSpace
from nas.strategies.bananas import Acquisition
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


class PredictorLocalSearchSampler(PredictiveSampler):
    """Best-first local search; the predictor picks which unexplored neighbour comes next."""

    def __init__(
        self,
        space: SearchSpace,
        *,
        acquisition: Acquisition = "ucb",
        kappa: float = 1.0,
        swaps: bool = True,
        direction: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(space, **options)
        self.acquisition = acquisition
        self.kappa = kappa
        self.swaps = swaps
        self.direction = direction
        self._choices = {name: tuple(c) for name, c in space.decisions().items()}

    def sign(self, study: Study) -> float:
        """+1 to maximise the objective, -1 to minimise it."""
        return (
            1.0 if single_direction(study, self.direction, "predictor_ls") == "maximize" else -1.0
        )

    def check_study(self, study: Study) -> None:
        """One objective, in the direction the sampler was built for."""
        self.sign(study)

    def plan(self, study: Study, train: TrainingSet, batch: int) -> Fitted:
        """The predictor fitted on the batch's training set."""
        return self.fit(train, 0, batch)

    def choose(
        self,
        plan: Fitted,
        study: Study,
        trial: FrozenTrial,
        seen: Seen,
        rng: np.random.Generator,
    ) -> Arch | None:
        """The best-rated unexplored neighbour of the best evaluated architecture that has one."""
        sign = self.sign(study)
        now = self.training_set(study, trial.number)
        for i in ranked(now, sign):
            fresh = [a for a in neighbours(self._choices, now.archs[i], self.swaps) if not seen(a)]
            if fresh:
                score = acquisition(plan.predict(fresh), self.acquisition, self.kappa, sign, rng)
                return self.complete(fresh[int(np.argmax(score))], rng)
        return None


def predictor_ls(
    space: SearchSpace,
    seed: int,
    objectives: dict[str, str],
    constraints: Sequence[Constraint] = (),
    *,
    predictor: str = "mlp_ensemble",
    predictor_options: dict[str, Any] | None = None,
    encoding: EncodingName = "auto",
    proxy_feature: dict[str, Any] | None = None,
    acquisition: Acquisition = "ucb",
    kappa: float = 1.0,
    swaps: bool = True,
    batch_size: int = 10,
    initial: int = 10,
) -> PredictorLocalSearchSampler:
    """Best-first local search with the neighbours ordered by a predictor."""
    direction = only_objective(objectives, "predictor_ls", "bananas_mo")
    return PredictorLocalSearchSampler(
        space,
        predictor=predictor,
        predictor_options=predictor_options,
        encoding_name=encoding,
        proxy_feature=proxy_feature,
        acquisition=acquisition,
        kappa=kappa,
        swaps=swaps,
        batch_size=batch_size,
        initial=initial,
        direction=direction,
        seed=seed,
    )
