"""Name registries for spaces, strategies, evaluators, data sets, pruners and executors.

Entries are factories, resolved lazily: a built-in is a ``module:attribute`` string until
it is first used, third-party packages add theirs through entry points (group
``nas.search_spaces``, ``nas.strategies``, ``nas.evaluators``, ``nas.datasets``,
``nas.pruners``, ``nas.executors``), and a config may name any importable factory directly as
``package.module:attribute``.
Importing such a path runs that module's code, exactly as ``import`` would.

Factory conventions (the user options are always keyword-only parameters):

- space: ``factory(*, **options) -> SearchSpace``
- strategy: ``factory(space, seed, objectives, constraints=(), *, **options) -> optuna.samplers.BaseSampler``
  (``constraints``: parsed :class:`nas.constraints.Constraint` s; the runner records each
  trial's violations with ``Trial.set_constraint``, where Optuna's samplers find them), or a
  :class:`nas.oneshot.OneShot` for a one-shot strategy (it trains a supernet and derives one
  architecture per trial)
- evaluator: ``factory(context, *, **options) -> Evaluator``
- dataset: ``factory(*, **options) -> DataSplits``
- pruner: ``factory(*, **options) -> optuna.pruners.BasePruner``
- executor: ``factory(config, *, **options) -> nas.executors.base.Executor``
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from nas.errors import NasError, did_you_mean

F = TypeVar("F", bound=Callable[..., Any])


def import_path(path: str) -> Any:
    """Import ``package.module:attribute`` and return the attribute."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise NasError(f"{path!r} is not a 'package.module:attribute' path")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise NasError(
            f"cannot import {module_name!r} for {path!r} ({exc}); install the package that provides it"
        ) from None
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise NasError(f"module {module_name!r} has no attribute {attr!r} (from {path!r})") from None
    return obj


def _checked_factory(path: str, obj: Any) -> Callable[..., Any]:
    """Refuse what a config must not call: private names, builtins and the standard library (a
    plugin is a class or function of an installed package, never ``os:system`` or ``builtins:eval``)."""
    module = getattr(obj, "__module__", None) or ""
    private = any(part.startswith("_") for part in path.partition(":")[2].split("."))
    if private or not (inspect.isclass(obj) or inspect.isfunction(obj)) \
            or module.partition(".")[0] in sys.stdlib_module_names:
        raise NasError(f"{path!r} is not a plugin factory (a public class or function of an installed "
                       "package); name one, e.g. 'my_package.spaces:MySpace'")
    return obj


class Registry:
    """Names to lazily imported factories of one kind (spaces, strategies, ...)."""

    def __init__(self, kind: str, group: str, builtins: dict[str, str]) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, str | Callable[..., Any]] = dict(builtins)
        self._plugins: dict[str, str] = {}

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator that registers a factory under ``name`` (replacing any entry of that name)."""

        def decorate(factory: F) -> F:
            self._entries[name] = factory
            return factory

        return decorate

    def names(self) -> list[str]:
        """All registered names, sorted, entry-point plugins included."""
        self._scan_plugins()
        return sorted({**self._plugins, **self._entries})

    def get(self, name: str) -> Callable[..., Any]:
        """The factory registered as ``name``, or the one a ``module:attribute`` path names."""
        if ":" in name:
            return _checked_factory(name, import_path(name))
        if name not in self._entries:
            self._scan_plugins()
        entry = self._entries.get(name, self._plugins.get(name))
        if entry is None:
            known = self.names()
            raise NasError(
                f"unknown {self.kind} {name!r}{did_you_mean(name, known)}; "
                f"choose one of: {', '.join(known)} (or give a 'module:attribute' path)"
            )
        if isinstance(entry, str):
            entry = import_path(entry)  # a plugin's module is imported once (sys.modules)
            if name in self._entries:
                self._entries[name] = entry
        return entry

    def summary(self, name: str) -> str:
        """The first line of the factory's docstring."""
        doc = (self.get(name).__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    def _scan_plugins(self) -> None:
        # Read afresh each time: a plugin installed (or removed) after the first look counts too.
        # Built-in and decorator-registered names take precedence over entry points.
        self._plugins = {ep.name: ep.value for ep in entry_points(group=self.group)}


SPACES = Registry(
    "search space",
    "nas.search_spaces",
    {
        "nb201": "search_spaces.nb201:NB201Space",
        "darts": "search_spaces.darts:DartsSpace",
        "mbconv": "search_spaces.mbconv:MBConvSpace",
    },
)
STRATEGIES = Registry(
    "strategy",
    "nas.strategies",
    {
        "random": "nas.strategies.optuna_samplers:random",
        "optuna_random": "nas.strategies.optuna_samplers:optuna_random",
        "bruteforce": "nas.strategies.optuna_samplers:bruteforce",
        "tpe": "nas.strategies.optuna_samplers:tpe",
        "nsga2": "nas.strategies.optuna_samplers:nsga2",
        "nsga3": "nas.strategies.optuna_samplers:nsga3",
        "gp": "nas.strategies.optuna_samplers:gp",
        "qmc": "nas.strategies.optuna_samplers:qmc",
        "evolution": "nas.strategies.evolution:regularized_evolution",
        "reinforce": "nas.strategies.reinforce:reinforce",
        "local_search": "nas.strategies.local_search:local_search",
        "prefilter": "nas.strategies.prefilter:prefilter",
        "darts": "nas.oneshot.darts:Darts",
        "enas": "nas.oneshot.enas:Enas",
    },
)
EVALUATORS = Registry(
    "evaluator",
    "nas.evaluators",
    {
        "full": "nas.evaluators.training:FullTraining",
        "partial": "nas.evaluators.training:PartialTraining",
        "tabular": "nas.evaluators.tabular:TabularNB201",
        "weight_sharing": "nas.evaluators.weight_sharing:WeightSharing",
        "zero_cost": "nas.evaluators.zero_cost:ZeroCost",
    },
)
DATASETS = Registry(
    "dataset",
    "nas.datasets",
    {
        "digits": "nas.data.digits:digits",
        "cifar10": "nas.data.cifar:cifar10",
        "cifar100": "nas.data.cifar:cifar100",
        "image_folder": "nas.data.image_folder:image_folder",
    },
)
EXECUTORS = Registry(
    "executor",
    "nas.executors",
    {
        "local": "nas.executors.local:LocalExecutor",
        "ray": "nas.executors.ray:RayExecutor",
    },
)
PRUNERS = Registry(
    "pruner",
    "nas.pruners",
    {name: f"nas.search.pruners:{name}" for name in
     ("none", "median", "percentile", "successive_halving", "hyperband", "threshold", "patient")},
)
REGISTRIES: dict[str, Registry] = {
    "spaces": SPACES, "strategies": STRATEGIES, "evaluators": EVALUATORS, "datasets": DATASETS,
    "pruners": PRUNERS, "executors": EXECUTORS,
}

register_space = SPACES.register
register_strategy = STRATEGIES.register
register_evaluator = EVALUATORS.register
register_dataset = DATASETS.register
register_executor = EXECUTORS.register
