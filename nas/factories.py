"""Build registered components by name from Python, with the same validation as configs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna

from nas.config.options import validate_options
from nas.constraints import Constraint
from nas.errors import NasError
from nas.oneshot.base import OneShot
from nas.registry import SPACES, STRATEGIES
from nas.space import SearchSpace


def create_space(name: str, **options: object) -> SearchSpace:
    """Build a registered search space by name (or 'module:attribute' path) with its options."""
    factory = SPACES.get(name)
    return factory(**validate_options(factory, options, "space"))


def create_strategy(
    name: str,
    space: SearchSpace,
    seed: int,
    objectives: Mapping[str, str],
    constraints: Sequence[Constraint] = (),
    options: Mapping[str, Any] | None = None,
    *,
    where: str = "strategy",
) -> optuna.samplers.BaseSampler | OneShot:
    """Build a registered strategy: an Optuna sampler, or a one-shot strategy (which takes no constraints).

    Example:
        >>> sampler = create_strategy("evolution", create_space("nb201"), 0, {"val_accuracy": "maximize"})
    """
    factory = STRATEGIES.get(name)
    options = validate_options(factory, options or {}, where)
    strategy: optuna.samplers.BaseSampler | OneShot
    if is_oneshot(factory):
        if constraints:
            raise NasError(
                f"one-shot strategy {name!r} does not take constraints; "
                "remove the constraints section or use a black-box strategy"
            )
        strategy = factory(space, seed, dict(objectives), **options)
    else:
        strategy = factory(space, seed, dict(objectives), tuple(constraints), **options)
    return strategy


def is_oneshot(factory: Callable[..., Any]) -> bool:
    """Whether a strategy factory makes a one-shot strategy (a ``OneShot`` subclass)."""
    return isinstance(factory, type) and issubclass(factory, OneShot)
