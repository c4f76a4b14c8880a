"""Name registries for spaces, strategies, evaluators, data sets, pruners and executors.

Entries are factories, resolved lazily: a built-in is a ``module:attribute`` string until
it is first used, third-party packages add theirs through entry points (group
``nas.search_spaces``, ``nas.strategies``, ``nas.evaluators``, ``nas.datasets``,
``nas.pruners``, ``nas.executors``, ``nas.predictors``, ``nas.tasks``) or the ``register_*``
decorators. A config may also name a
plugin directly as ``package.module:attribute``, but only a plugin: a class that subclasses its
registry's base (``SearchSpace``, ``Evaluator``, ``OneShot`` or Optuna's ``BaseSampler``,
Optuna's ``BasePruner``, ``Executor``; data sets have none) or a factory registered in that same
registry, checked before anything is called. Naming a module imports it, which runs its
top-level code (and looking the attribute up runs a module-level ``__getattr__``, if it has one),
exactly as ``from module import attribute`` would.

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
- predictor: ``factory(*, **options) -> nas.predictors.Predictor`` (named by the predictor-guided
  strategies' ``predictor:`` option)
- task: ``factory() -> nas.tasks.Task``
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
            raise NasError(
                f"module {module_name!r} has no attribute {attr!r} (from {path!r})"
            ) from None
    return obj


_MISSING = object()


def _loaded(entry: str | Callable[..., Any]) -> Any:
    """The object a registry entry stands for, without importing anything (a sentinel if its
    module was never imported: then it is not what a config's path just imported)."""
    if not isinstance(entry, str):
        return entry
    module, _, attr = entry.partition(":")
    obj: Any = sys.modules.get(module, _MISSING)
    for part in attr.split("."):
        obj = getattr(obj, part, _MISSING)
    return obj


class Registry:
    """Names to lazily imported factories of one kind (spaces, strategies, ...)."""

    def __init__(
        self,
        kind: str,
        group: str,
        builtins: dict[str, str],
        *,
        bases: tuple[str, ...] = (),
        decorator: str = "this registry's register() decorator",
    ) -> None:
        self.kind = kind
        self.group = group
        #: ``module:Class`` of the base classes whose subclasses a config may name by path
        self.bases = bases
        #: how a factory is registered from Python, for messages (``@nas.register_space``)
        self.decorator = decorator
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
        """The factory registered as ``name``, or the plugin a ``module:attribute`` path names
        (see :meth:`plugin`)."""
        if ":" in name:
            return self.plugin(name)
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

    def plugin(self, path: str) -> Callable[..., Any]:
        """The plugin a config's ``module:attribute`` path names, or NasError; nothing is called.

        A plugin is a concrete class that subclasses one of :attr:`bases`, or a factory registered
        in this registry (decorator, entry point or built-in). Importing the module runs its code.
        """
        obj = import_path(path)
        problem = self._problem(path, obj)
        if problem:
            raise NasError(
                f"{path!r} is not a {self.kind} plugin ({self.accepts()}); it is {problem}: "
                f"register it, or name a registered {self.kind} (nas list shows them)"
            )
        return obj

    def accepts(self) -> str:
        """What a ``module:attribute`` path may name, in words."""
        registered = f"a factory registered with {self.decorator} or the {self.group} entry point"
        if not self.bases:
            return registered
        classes = " or ".join(base.replace(":", ".") for base in self.bases)
        return f"a subclass of {classes}, or {registered}"

    def _problem(self, path: str, obj: Any) -> str | None:
        """Why ``obj`` (named by ``path``) is not a plugin of this kind; None when it is one."""
        if any(part.startswith("_") for part in path.partition(":")[2].split(".")):
            return "a private name"
        if self._is_registered(path, obj):
            return None
        if inspect.isroutine(obj):
            return "a function that is not registered"
        if not inspect.isclass(obj):
            return f"a {type(obj).__name__} object, not a class or a registered factory"
        bases = [import_path(base) for base in self.bases]
        # the class's own MRO, not issubclass: a virtual subclass (ABC.register) is no plugin
        if not any(base in obj.__mro__ for base in bases):
            return "a class of another kind" if bases else "a class that is not registered"
        if inspect.isabstract(obj):
            return "an abstract class"  # the bases themselves among them
        return None

    def _is_registered(self, path: str, obj: Any) -> bool:
        """Whether ``obj`` is one of this registry's factories (by path, or as the same object)."""
        self._scan_plugins()
        return any(
            entry == path or _loaded(entry) is obj
            for entry in [*self._entries.values(), *self._plugins.values()]
        )

    def summary(self, name: str) -> str:
        """The first line of the factory's docstring."""
        doc = (self.get(name).__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    def _scan_plugins(self) -> None:
        # Read afresh each time: a plugin installed (or removed) after the first look counts too.
        # Built-in and decorator-registered names take precedence over entry points.
        self._plugins = {ep.name: f"{ep.module}:{ep.attr}" for ep in entry_points(group=self.group)}


SPACES = Registry(
    "search space",
    "nas.search_spaces",
    {
        "nb201": "search_spaces.nb201:NB201Space",
        "darts": "search_spaces.darts:DartsSpace",
        "mbconv": "search_spaces.mbconv:MBConvSpace",
        "unet": "search_spaces.unet:UNetSpace",
    },
    bases=("nas.space:SearchSpace",),
    decorator="@nas.register_space",
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
        "bananas": "nas.strategies.bananas:bananas",
        "bananas_mo": "nas.strategies.bananas_mo:bananas_mo",
        "predictor_ls": "nas.strategies.predictor_ls:predictor_ls",
        "darts": "nas.oneshot.darts:Darts",
        "enas": "nas.oneshot.enas:Enas",
    },
    bases=("optuna.samplers:BaseSampler", "nas.oneshot:OneShot"),
    decorator="@nas.register_strategy",
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
    bases=("nas.evaluators:Evaluator",),
    decorator="@nas.register_evaluator",
)
DATASETS = Registry(
    "dataset",
    "nas.datasets",
    {
        "digits": "nas.data.digits:digits",
        "digit_scenes": "nas.data.scenes:digit_scenes",
        "cifar10": "nas.data.cifar:cifar10",
        "cifar100": "nas.data.cifar:cifar100",
        "image_folder": "nas.data.image_folder:image_folder",
        "masks_folder": "nas.data.masks_folder:masks_folder",
    },
    decorator="@nas.register_dataset",
)
EXECUTORS = Registry(
    "executor",
    "nas.executors",
    {
        "local": "nas.executors.local:LocalExecutor",
        "ray": "nas.executors.ray:RayExecutor",
    },
    bases=("nas.executors.base:Executor",),
    decorator="@nas.register_executor",
)
PRUNERS = Registry(
    "pruner",
    "nas.pruners",
    {
        name: f"nas.search.pruners:{name}"
        for name in (
            "none",
            "median",
            "percentile",
            "successive_halving",
            "hyperband",
            "threshold",
            "patient",
        )
    },
    bases=("optuna.pruners:BasePruner",),
    decorator="@nas.register_pruner",
)
TASKS = Registry(
    "task",
    "nas.tasks",
    {
        "classification": "nas.tasks.classification:Classification",
        "segmentation": "nas.tasks.segmentation:Segmentation",
    },
    bases=("nas.tasks:Task",),
    decorator="@nas.register_task",
)
PREDICTORS = Registry(
    "predictor",
    "nas.predictors",
    {
        "mlp_ensemble": "nas.predictors.mlp:MLPEnsemble",
        "gbt": "nas.predictors.trees:GradientBoosting",
        "gp": "nas.predictors.gp:GaussianProcess",
        "mean": "nas.predictors.base:MeanPredictor",
    },
    bases=("nas.predictors.base:Predictor",),
    decorator="@nas.registry.register_predictor",
)
REGISTRIES: dict[str, Registry] = {
    "spaces": SPACES,
    "strategies": STRATEGIES,
    "evaluators": EVALUATORS,
    "datasets": DATASETS,
    "pruners": PRUNERS,
    "executors": EXECUTORS,
    "predictors": PREDICTORS,
    "tasks": TASKS,
}

register_space = SPACES.register
register_strategy = STRATEGIES.register
register_evaluator = EVALUATORS.register
register_dataset = DATASETS.register
register_pruner = PRUNERS.register
register_executor = EXECUTORS.register
register_predictor = PREDICTORS.register
register_task = TASKS.register
