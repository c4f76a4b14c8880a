"""What a config builds: space, strategy (sampler or one-shot), evaluator, pruner, device and executor,
all before any file is written, so that a bad config leaves nothing behind."""

from __future__ import annotations

from dataclasses import dataclass, field

import optuna

from nas.config import ExperimentConfig
from nas.costs.profile import load_profile
from nas.evaluators import EvalContext, Evaluator
from nas.executors.base import Executor
from nas.factories import create_strategy
from nas.oneshot.base import OneShot
from nas.registry import EVALUATORS, EXECUTORS, SPACES
from nas.search.pruners import make_pruner
from nas.space import SearchSpace
from nas.tasks.base import check_space
from nas.tracking import build_trackers
from nas.tracking.base import Tracker
from nas.training.loop import resolve_device


@dataclass
class Components:
    """Everything a search needs, built from the config before any file is written."""

    space: SearchSpace
    sampler: optuna.samplers.BaseSampler
    evaluator: Evaluator
    device: str
    pruner: optuna.pruners.BasePruner
    context: EvalContext
    executor: Executor
    #: a one-shot strategy; the sampler is then never consulted (its trials are enqueued)
    oneshot: OneShot | None = None
    #: the config's trackers (MLflow, TensorBoard), told of every trial and of the run's end
    trackers: list[Tracker] = field(default_factory=list)


def build_components(config: ExperimentConfig) -> Components:
    """Build space, strategy, evaluator and executor from a validated config (errors before any file is written)."""
    space = SPACES.get(config.space.name)(**config.space.options)
    if config.costs.latency_profile is not None:  # a wrong profile stops the run before it starts
        load_profile(config.costs.latency_profile).check(space)
    strategy = create_strategy(
        config.strategy.name,
        space,
        config.seed,
        config.objectives,
        config.constraint_list(),
        config.strategy.options,
    )
    oneshot: OneShot | None = None
    sampler: optuna.samplers.BaseSampler
    if isinstance(strategy, OneShot):  # its trials are enqueued; the sampler is never consulted
        oneshot, sampler = strategy, optuna.samplers.RandomSampler(seed=config.seed)
    else:
        sampler = strategy
    device = resolve_device(config.training.device)
    context = EvalContext(
        config.dataset, config.training, config.seed, device, config.costs, config.task
    )
    check_space(context.task, space)  # and the task's training settings, before any file is written
    evaluator = EVALUATORS.get(config.evaluator.name)(context, **config.evaluator.options)
    evaluator.check(space)
    executor = EXECUTORS.get(config.executor.name)(config, **config.executor.options)
    return Components(
        space,
        sampler,
        evaluator,
        str(device),
        make_pruner(config),
        context,
        executor,
        oneshot,
        build_trackers(config),
    )
