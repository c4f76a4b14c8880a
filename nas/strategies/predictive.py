"""What the predictor-guided samplers share: the training set a study holds, fitted models cached
per batch, zero-cost proxy features, and which architectures a study has seen.

A sampler refits its predictors once per batch of ``batch_size`` trial numbers: trial ``n``
uses the models fitted on the completed trials numbered below ``batch_size * (n //
batch_size)``. That set is read from the study, so the models (and everything proposed with
them) are a function of the study and the seed; the cache only saves recomputing them, and a
fresh sampler on a resumed study computes the same.
"""

from __future__ import annotations

import math
import threading
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel, ConfigDict, Field

from nas.arch import Arch, Choice, arch_id
from nas.config.options import validate_options
from nas.errors import NasError
from nas.predictors import Prediction, Predictor
from nas.predictors.encodings import EncodingName, encoding
from nas.registry import PREDICTORS
from nas.seeds import derive_seed
from nas.space import SearchSpace
from nas.strategies.base import Guarded, SpaceSampler, violation

_MISSING = object()
#: Fitted batches kept in memory (a batch is refitted only when the study's history changes).
CACHED_BATCHES = 4
#: Encoded architectures kept in memory (the memo is emptied when it grows past this).
CACHED_ROWS = 100_000


class ProxyFeature(BaseModel):
    """A zero-cost proxy score as one more feature (the options of ``proxy_feature``)."""

    model_config = ConfigDict(extra="forbid")

    proxy: str = "synflow"
    scores: str | None = None  # CSV(.gz) with columns 'arch' (space.format) and the proxy's name
    num_classes: int | None = Field(None, ge=1)
    input_shape: list[int] | None = Field(None, min_length=3, max_length=3)
    dataset: str | None = None
    dataset_options: dict[str, Any] = {}
    batch_size: int = Field(64, ge=2)


@dataclass(frozen=True)
class TrainingSet:
    """Distinct completed architectures (as far as their trials set them) and their values."""

    numbers: tuple[int, ...]
    archs: list[dict[str, Choice]]
    values: np.ndarray  # (n, objectives)
    violations: np.ndarray  # (n,)

    def __len__(self) -> int:
        return len(self.archs)


class Seen:
    """Whether an architecture (or the part of one that a conditional objective asked for) is in
    the study already, evaluated or being evaluated."""

    def __init__(self, sampler: SpaceSampler, study: Study, asking: FrozenTrial | None) -> None:
        self._names = list(sampler.space.decisions())
        self._whole: set[tuple] = set()
        self._parts: list[dict[str, Choice]] = []
        for t in study.get_trials(deepcopy=False):
            if asking is not None and t.number == asking.number:
                continue
            known = sampler.known(t)
            if len(known) == len(self._names):
                self._whole.add(self.key(known))
            elif known and t.state == TrialState.COMPLETE:  # it asked for all it wanted
                self._parts.append(known)

    def key(self, arch: Mapping[str, Choice]) -> tuple:
        """The architecture as a tuple of its choices."""
        return tuple(arch.get(name, _MISSING) for name in self._names)

    def __call__(self, arch: Mapping[str, Choice]) -> bool:
        if self.key(arch) in self._whole:
            return True
        return any(all(arch.get(k, _MISSING) == v for k, v in p.items()) for p in self._parts)


class PredictiveSampler(SpaceSampler, Guarded):
    """A SpaceSampler whose proposals come from predictors refitted once per batch of trials.

    Subclasses implement :meth:`plan` (what a batch computes from its training set, cached) and
    :meth:`choose` (trial ``n``'s architecture, given its batch's plan and the study now).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        predictor: str = "mlp_ensemble",
        predictor_options: dict[str, Any] | None = None,
        encoding_name: EncodingName = "auto",
        proxy_feature: dict[str, Any] | None = None,
        batch_size: int = 10,
        initial: int = 10,
        seed: int | None = None,
    ) -> None:
        super().__init__(space, seed)
        if batch_size < 1 or initial < 2:
            raise NasError(
                f"predictor-guided strategies need batch_size >= 1 and initial >= 2 (a model "
                f"needs two points), got batch_size={batch_size}, initial={initial}"
            )
        self.batch_size = batch_size
        self.initial = initial
        self.encoder = encoding(space, encoding_name)
        self.predictor = predictor
        self._factory = PREDICTORS.get(predictor)
        self.predictor_options = validate_options(
            self._factory, predictor_options or {}, "strategy.predictor_options"
        )
        self.proxy = None if proxy_feature is None else _proxy_options(proxy_feature)
        self._proxy_scores: dict[str, float] = {}
        self._rows: dict[tuple, np.ndarray] = {}
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_cache"] = OrderedDict()  # caches, recomputed from the study
        state["_rows"] = {}
        return state

    def key(self, arch: Mapping[str, Choice]) -> tuple:
        """An architecture (or the part of one a trial set) as a hashable tuple."""
        return tuple(arch.get(name, _MISSING) for name in self._distributions)

    # --- what subclasses implement ---------------------------------------------------------

    @abstractmethod
    def plan(self, study: Study, train: TrainingSet, batch: int) -> Any:
        """What the batch starting at trial number ``batch`` computes from its training set."""

    @abstractmethod
    def choose(
        self, plan: Any, study: Study, trial: FrozenTrial, seen: Seen, rng: np.random.Generator
    ) -> Arch | None:
        """Trial ``trial``'s architecture from its batch's plan (None: fall back to a random one)."""

    # --- the shared machinery ----------------------------------------------------------------

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator) -> Arch:
        """Random architectures until ``initial`` are known, then the batch plan's choice."""
        self.check_study(study)
        batch = self.batch_size * (trial.number // self.batch_size)
        train = self.training_set(study, batch)
        seen = Seen(self, study, trial)
        arch = None
        if len(train) >= self.initial:
            key = (batch, train.numbers)
            with self._lock:
                plan = self._cache.get(key)
                if plan is None:
                    plan = self._cache[key] = self.plan(study, train, batch)
                    while len(self._cache) > CACHED_BATCHES:
                        self._cache.popitem(last=False)
            arch = self.choose(plan, study, trial, seen, rng)
        return arch if arch is not None else self.random_unseen(seen, rng)

    def check_study(self, study: Study) -> None:
        """Refuse a study this sampler cannot serve (subclasses check directions)."""

    def training_set(self, study: Study, before: int) -> TrainingSet:
        """Completed trials numbered below ``before``, each distinct architecture once (its first trial)."""
        numbers, archs, values, spent, keys = [], [], [], [], set()
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.number >= before or "duplicate_of" in t.user_attrs or t.values is None:
                continue
            if not all(math.isfinite(v) for v in t.values):
                continue
            known = self.known(t)
            key = tuple(sorted((k, str(v)) for k, v in known.items()))
            if not known or key in keys:
                continue
            keys.add(key)
            numbers.append(t.number)
            archs.append(known)
            values.append(list(t.values))
            spent.append(violation(t))
        width = len(study.directions)
        return TrainingSet(
            tuple(numbers),
            archs,
            np.asarray(values, dtype=float).reshape(len(archs), width),
            np.asarray(spent, dtype=float),
        )

    def random_unseen(self, seen: Seen, rng: np.random.Generator, tries: int = 100) -> Arch:
        """A random architecture not yet in the study (the last draw if ``tries`` draws all were)."""
        arch = self.space.sample(rng)
        for _ in range(tries - 1):
            if not seen(arch):
                break
            arch = self.space.sample(rng)
        return arch

    def batch_seed(self, batch: int, stream: int) -> int:
        """The seed of one random stream of a batch's plan."""
        return derive_seed(self.seed, batch, stream)

    def features(self, archs: Sequence[Mapping[str, Choice]], train: TrainingSet) -> np.ndarray:
        """Encoded architectures, with the proxy feature (scaled by the training set's range) when asked for."""
        if len(self._rows) > CACHED_ROWS:
            self._rows = {}
        rows = []
        for arch in archs:
            key = self.key(arch)
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = self.encoder.row(arch)
            rows.append(row)
        x = np.array(rows).reshape(len(archs), self.encoder.width)
        if self.proxy is None:
            return x
        scores = np.array([self._proxy_score(a) for a in archs])
        known = np.array([self._proxy_score(a) for a in train.archs])
        low, high = float(known.min()), float(known.max())
        scaled = np.clip((scores - low) / (high - low if high > low else 1.0), 0.0, 2.0)
        return np.concatenate([x, scaled[:, None]], axis=1)

    def fit(self, train: TrainingSet, objective: int, batch: int) -> Fitted:
        """A fresh predictor fitted on the training set's values of one objective."""
        model: Predictor = self._factory(**self.predictor_options)
        model.fit(
            self.features(train.archs, train),
            train.values[:, objective],
            seed=self.batch_seed(batch, 100 + objective),
        )
        return Fitted(model, train, self)

    def _proxy_score(self, arch: Mapping[str, Choice]) -> float:
        """log(1 + |score|) with the score's sign; 0 for a score that is not finite or a partial arch."""
        if len(arch) < len(self.space.decisions()) or self.proxy is None:
            return 0.0
        aid = arch_id(arch)
        if aid not in self._proxy_scores:
            self._proxy_scores[aid] = _signed_log(self._score(arch))
        return self._proxy_scores[aid]

    def _score(self, arch: Mapping[str, Choice]) -> float:
        from nas.strategies.prefilter import ProxyRanking, proxy_scorer, read_scores

        assert self.proxy is not None
        if self.proxy.scores is not None:
            table = read_scores(self.proxy.scores, self.proxy.proxy)
            key = self.space.format(arch)
            if key not in table:
                raise NasError(
                    f"proxy score file {self.proxy.scores!r} has no score for {key!r}; score the whole space"
                )
            return table[key]
        ranking = ProxyRanking(**self.proxy.model_dump())
        return float(proxy_scorer(ranking, self.seed)(arch, self.space))


class Fitted:
    """A predictor fitted on a training set, predicting any architectures of the space (each
    architecture's prediction is computed once)."""

    def __init__(self, model: Predictor, train: TrainingSet, sampler: PredictiveSampler) -> None:
        self.model = model
        self.train = train
        self.sampler = sampler
        self._memo: dict[tuple, tuple[float, float]] = {}

    def predict(self, archs: Sequence[Mapping[str, Choice]]) -> Prediction:
        """Predicted mean and uncertainty of each architecture."""
        keys = [self.sampler.key(a) for a in archs]
        todo = {k: a for k, a in zip(keys, archs, strict=False) if k not in self._memo}
        if todo:
            fresh = self.model.predict(self.sampler.features(list(todo.values()), self.train))
            for k, m, s in zip(todo, fresh.mean, fresh.std, strict=False):
                self._memo[k] = (float(m), float(s))
        pairs = np.array([self._memo[k] for k in keys]).reshape(len(keys), 2)
        return Prediction(pairs[:, 0], pairs[:, 1])


def acquisition(
    prediction: Prediction, how: str, kappa: float, sign: float, rng: np.random.Generator
) -> np.ndarray:
    """Scores to sort by (larger is better) from a prediction: ``its`` (one Thompson draw per
    architecture), ``ucb`` (mean + kappa * std, on the side of the direction) or ``mean``."""
    if how == "its":
        return sign * prediction.sample(rng)
    if how == "ucb":
        return sign * prediction.mean + kappa * prediction.std
    return sign * prediction.mean


def ranked(train: TrainingSet, sign: float, key: Callable[[int], tuple] | None = None) -> list[int]:
    """Indices of the training set, best first: feasible before infeasible, then by value."""
    order = key or (lambda i: (train.violations[i], -sign * train.values[i, 0], train.numbers[i]))
    return sorted(range(len(train)), key=order)


def neighbours(
    choices: Mapping[str, Sequence[Choice]], arch: Mapping[str, Choice], swaps: bool = True
) -> list[dict[str, Choice]]:
    """One-decision changes of ``arch`` (of the decisions it has), then, with ``swaps``, exchanges
    of the choices of two decisions that offer the same choices (as local search's neighbourhood)."""
    names = [name for name in choices if name in arch]
    out = [
        {**arch, name: choice} for name in names for choice in choices[name] if choice != arch[name]
    ]
    if swaps:
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                if tuple(choices[a]) == tuple(choices[b]) and arch[a] != arch[b]:
                    out.append({**arch, a: arch[b], b: arch[a]})
    return out


def _signed_log(value: float) -> float:
    return math.copysign(math.log1p(abs(value)), value) if math.isfinite(value) else 0.0


def _proxy_options(options: dict[str, Any]) -> ProxyFeature:
    import pydantic

    from nas.config.options import pydantic_message
    from nas.evaluators.proxies import get_proxy

    try:
        feature = ProxyFeature(**options)
    except pydantic.ValidationError as exc:
        raise NasError(pydantic_message(exc, "strategy.proxy_feature", ProxyFeature)) from None
    if feature.scores is None:
        get_proxy(feature.proxy)
    return feature
