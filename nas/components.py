"""What a config builds: space, strategy (sampler or one-shot), evaluator, pruner and device,
all before any file is written, so that a bad config leaves nothing behind."""

from __future__ import annotations

from dataclasses import dataclass

import optuna

from nas.config import ExperimentConfig
from nas.errors import NasError
from nas.evaluators import EvalContext, Evaluator
from nas.oneshot.base import OneShot
from nas.pruners import make_pruner
from nas.registry import EVALUATORS, SPACES, STRATEGIES
from nas.space import SearchSpace
from nas.training import resolve_device


@dataclass
class Components:
    """Everything a search needs, built from the config before any file is written."""

    space: SearchSpace
    sampler: optuna.samplers.BaseSampler
    evaluator: Evaluator
    device: str
    pruner: optuna.pruners.BasePruner
    context: EvalContext
    #: a one-shot strategy; the sampler is then never consulted (its trials are enqueued)
    oneshot: OneShot | None = None


def build_components(config: ExperimentConfig) -> Components:
    """Build space, strategy and evaluator from a validated config (errors before any file is written)."""
    space = SPACES.get(config.space.name)(**config.space.options)
    factory = STRATEGIES.get(config.strategy.name)
    constraints = config.constraint_list()
    if constraints and isinstance(factory, type) and issubclass(factory, OneShot):
        raise NasError(f"one-shot strategy {config.strategy.name!r} does not take constraints; "
                       "remove the constraints section or use a black-box strategy")
    # factories written before constraints existed take three arguments; they still work unconstrained
    extra = (constraints,) if constraints else ()
    strategy = factory(space, config.seed, dict(config.objectives), *extra, **config.strategy.options)
    oneshot = strategy if isinstance(strategy, OneShot) else None
    sampler = optuna.samplers.RandomSampler(seed=config.seed) if oneshot else strategy
    device = resolve_device(config.training.device)
    context = EvalContext(config.dataset, config.training, config.seed, device, config.costs)
    evaluator = EVALUATORS.get(config.evaluator.name)(context, **config.evaluator.options)
    evaluator.check(space)
    return Components(space, sampler, evaluator, str(device), make_pruner(config), context, oneshot)
