"""Zero-cost pre-filtering around any strategy: rank a pool of candidates by a proxy, have the
top ones evaluated for real first, then let the wrapped strategy continue from that history.

Used as the ``prefilter`` strategy, and by evolution's ``warm_start`` option (the first
population is then the top of the pool). Proxy scores come from computing the proxy on each
pool member's untrained network (nas.evaluators.proxies), or from a precomputed score file.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial
from pydantic import BaseModel, ConfigDict, Field

from nas.arch import Arch, arch_id
from nas.constraints import Constraint
from nas.errors import NasError
from nas.evaluators.proxies import get_proxy
from nas.registry import DATASETS, STRATEGIES
from nas.space import SearchSpace
from nas.strategies.base import ForwardingSampler, Guarded, decision_distributions


class ProxyRanking(BaseModel):
    """How to rank candidates by a zero-cost proxy (the options of pre-filter and warm start)."""

    model_config = ConfigDict(extra="forbid")

    proxy: str = "synflow"
    pool: int = Field(1000, ge=1)  # candidates drawn at random (the whole space when it is smaller)
    scores: str | None = None  # CSV(.gz) with columns 'arch' (space.format) and the proxy's name
    num_classes: int | None = Field(
        None, ge=1
    )  # the network's outputs, for computed data-free proxies
    input_shape: list[int] | None = Field(None, min_length=3, max_length=3)
    dataset: str | None = None  # a registered data set, for computed proxies that need data
    dataset_options: dict[str, Any] = {}
    batch_size: int = Field(64, ge=2)
    # options replacing the space's own for the networks the proxy scores (a scaled-down network)
    space_options: dict[str, Any] = {}


def scoring_space(space: SearchSpace, options: Mapping[str, Any]) -> SearchSpace:
    """``space`` built again with ``options`` replacing its own (a space's options are its public
    attributes), for scoring scaled-down networks; ``space`` itself when there are none."""
    if not options:
        return space
    own = {k: v for k, v in vars(space).items() if not k.startswith("_")}
    unknown = sorted(set(options) - set(own))
    if unknown:
        raise NasError(
            f"strategy.space_options: {type(space).__name__} has no option {unknown[0]!r}; "
            f"it has {', '.join(sorted(own)) or 'none'}"
        )
    try:
        return type(space)(**{**own, **options})
    except (TypeError, ValueError, NasError) as exc:
        raise NasError(
            f"strategy.space_options: cannot build {type(space).__name__} with {dict(options)}: {exc}"
        ) from None


def candidate_pool(space: SearchSpace, size: int, rng: np.random.Generator) -> list[Arch]:
    """``size`` distinct architectures drawn at random; the whole space (in a random order) if it is not larger."""
    if space.size() <= size:
        decisions = space.decisions()
        everything = [
            dict(zip(decisions, combo, strict=False))
            for combo in itertools.product(*decisions.values())
        ]
        return [everything[i] for i in rng.permutation(len(everything))]
    seen: dict[str, Arch] = {}
    for _ in range(100 * size):
        arch = space.sample(rng)
        seen.setdefault(arch_id(arch), arch)
        if len(seen) == size:
            break
    return list(seen.values())


@lru_cache(maxsize=4)
def _score_file(path: str, mtime: float, column: str) -> dict[str, float]:
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except Exception as exc:
        raise NasError(f"cannot read the proxy score file {path!r}: {exc}") from None
    if "arch" not in frame.columns or column not in frame.columns:
        raise NasError(
            f"proxy score file {path!r} needs the columns 'arch' and {column!r} "
            f"(it has {', '.join(map(str, frame.columns))})"
        )
    return dict(zip(frame["arch"].astype(str), frame[column].astype(float), strict=False))


def read_scores(path: str, proxy: str) -> dict[str, float]:
    """arch (the space's ``format``) -> score, from a CSV (optionally gzipped) score file."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise NasError(
            f"proxy score file {path!r} does not exist; compute one (e.g. "
            "experiments/benchmarks/nb201_synflow.py) or drop the 'scores' option"
        )
    return _score_file(str(file.resolve()), file.stat().st_mtime, proxy)


def rank_by_proxy(space: SearchSpace, seed: int, ranking: ProxyRanking) -> list[Arch]:
    """The pool drawn with ``seed``, best proxy score first (pool order breaks ties; NaN scores last)."""
    pool = candidate_pool(
        space, ranking.pool, np.random.default_rng([seed, 20210401])
    )  # own stream
    if ranking.scores is not None:
        table = read_scores(ranking.scores, ranking.proxy)
        missing = [space.format(a) for a in pool if space.format(a) not in table]
        if missing:
            raise NasError(
                f"proxy score file {ranking.scores!r} has no score for {missing[0]!r} "
                f"({len(missing)} of the pool missing); score the whole space"
            )
        values = [table[space.format(a)] for a in pool]
    else:
        scorer, scored = proxy_scorer(ranking, seed), scoring_space(space, ranking.space_options)
        values = [scorer(a, scored) for a in pool]
    keyed = [(-v if np.isfinite(v) else np.inf, i) for i, v in enumerate(values)]
    return [pool[i] for _, i in sorted(keyed)]


def proxy_scorer(ranking: ProxyRanking, seed: int) -> Any:
    """A ``ProxyScorer`` (nas.evaluators.zero_cost) for the ranking's proxy, on CPU: ``scorer(arch, space)``."""
    import torch

    from nas.evaluators.zero_cost import ProxyScorer

    data = None
    if ranking.dataset is not None:
        data = DATASETS.get(ranking.dataset)(**ranking.dataset_options)
    elif get_proxy(ranking.proxy).needs_data:
        raise NasError(
            f"proxy {ranking.proxy!r} needs data: give the option dataset (and dataset_options), "
            "or precomputed 'scores', or a data-free proxy (synflow, params, flops)"
        )
    shape = None if ranking.input_shape is None else tuple(ranking.input_shape)
    return ProxyScorer(
        ranking.proxy,
        seed=seed,
        device=torch.device("cpu"),
        data=data,
        batch_size=ranking.batch_size,
        num_classes=ranking.num_classes,
        input_shape=shape,
    )


class ProxyFirst(ForwardingSampler, Guarded):
    """Proposes the proxy-ranked candidates first (trial n gets candidate n of the first ``top``),
    then hands every later trial to ``base``, which reads the history these trials left.
    The ranking is computed once, under a lock (Optuna's ``n_jobs`` threads ask for it together)."""

    def __init__(
        self,
        base: optuna.samplers.BaseSampler,
        space: SearchSpace,
        seed: int,
        ranking: ProxyRanking,
        top: int,
    ) -> None:
        self.base = base
        self.space = space
        self.seed = seed
        self.ranking = ranking
        self.top = top
        self._ranked: list[Arch] | None = None
        self._lock = threading.Lock()

    @property
    def ranked(self) -> list[Arch]:
        """The ``top`` best candidates by proxy (scored on first use)."""
        with self._lock:
            if self._ranked is None:
                self._ranked = rank_by_proxy(self.space, self.seed, self.ranking)[: self.top]
            return self._ranked

    def _seeded(self, trial: FrozenTrial) -> bool:
        return trial.number < min(self.top, self.ranking.pool)

    def delegate(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
        """The base sampler (the pre-filtered trials' proposals come from the ranking instead)."""
        return self.base

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """Every decision for a pre-filtered trial; the base sampler's choice after them."""
        if self._seeded(trial) and trial.number < len(self.ranked):
            return dict(decision_distributions(self.space))
        return super().infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """Candidate ``trial.number`` of the ranking, or the base sampler's proposal after them."""
        if self._seeded(trial) and trial.number < len(self.ranked):
            arch = self.ranked[trial.number]
            return {k: v for k, v in arch.items() if k in search_space}
        return super().sample_relative(study, trial, search_space)

    def reseed_rng(self) -> None:
        """As the base sampler."""
        self.base.reseed_rng()


def prefilter(
    space: SearchSpace,
    seed: int,
    objectives: dict[str, str],
    constraints: Sequence[Constraint] = (),
    *,
    base: str = "random",
    base_options: dict[str, Any] | None = None,
    proxy: str = "synflow",
    pool: int = 1000,
    top: int = 100,
    scores: str | None = None,
    num_classes: int | None = None,
    input_shape: list[int] | None = None,
    dataset: str | None = None,
    dataset_options: dict[str, Any] | None = None,
    batch_size: int = 64,
    space_options: dict[str, Any] | None = None,
) -> ProxyFirst:
    """Zero-cost pre-filter: evaluate the ``top`` of ``pool`` random candidates by proxy first, then run ``base``."""
    from nas.factories import create_strategy, is_oneshot

    if top < 1:
        raise NasError(f"config key 'strategy.top' must be at least 1, got {top}")
    ranking = _ranking(
        proxy=proxy,
        pool=pool,
        scores=scores,
        num_classes=num_classes,
        input_shape=input_shape,
        dataset=dataset,
        dataset_options=dataset_options or {},
        batch_size=batch_size,
        space_options=space_options or {},
        where="strategy",
    )
    scoring_space(space, ranking.space_options)  # a wrong option fails here, not at trial 0
    if is_oneshot(STRATEGIES.get(base)):
        raise NasError(f"prefilter needs a black-box base strategy, not the one-shot {base!r}")
    sampler = create_strategy(
        base, space, seed, objectives, constraints, base_options, where="strategy.base_options"
    )
    assert isinstance(sampler, optuna.samplers.BaseSampler)  # not one-shot, checked above
    return ProxyFirst(sampler, space, seed, ranking, top)


def _ranking(where: str, **options: Any) -> ProxyRanking:
    import pydantic

    from nas.config.options import pydantic_message

    try:
        ranking = ProxyRanking(**options)
    except pydantic.ValidationError as exc:
        raise NasError(pydantic_message(exc, where, ProxyRanking)) from None
    if ranking.scores is None:  # a score file may hold any column, registered proxy or not
        get_proxy(ranking.proxy)
    return ranking


def warm_started(
    sampler: optuna.samplers.BaseSampler,
    space: SearchSpace,
    seed: int,
    options: Mapping[str, Any],
    top: int,
) -> ProxyFirst:
    """``sampler`` whose first ``top`` trials are the best of a proxy-ranked pool (``options``: ProxyRanking's)."""
    return ProxyFirst(sampler, space, seed, _ranking("strategy.warm_start", **options), top)
