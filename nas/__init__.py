"""nas: neural architecture search with pluggable spaces, Optuna strategies and Ray scale-out.

Public names are imported lazily, so ``import nas`` (and ``nas --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "Arch": "nas.arch",
    "arch_id": "nas.arch",
    "canonical_json": "nas.arch",
    "NasError": "nas.errors",
    "DATASETS": "nas.registry",
    "EVALUATORS": "nas.registry",
    "EXECUTORS": "nas.registry",
    "PRUNERS": "nas.registry",
    "SPACES": "nas.registry",
    "STRATEGIES": "nas.registry",
    "TASKS": "nas.registry",
    "register_dataset": "nas.registry",
    "register_evaluator": "nas.registry",
    "register_executor": "nas.registry",
    "register_pruner": "nas.registry",
    "register_space": "nas.registry",
    "register_strategy": "nas.registry",
    "register_task": "nas.registry",
    "SearchSpace": "nas.space",
    "create_space": "nas.factories",
    "load_config": "nas.config",
    "run_search": "nas.search.runner",
    "load_trials": "nas.results.reading",
    "gradcam": "nas.results.gradcam",
    "export_model": "nas.deploy.export",
    "load_model": "nas.deploy.export",
}

__all__ = [
    "DATASETS",
    "EVALUATORS",
    "EXECUTORS",
    "PRUNERS",
    "SPACES",
    "STRATEGIES",
    "TASKS",
    "Arch",
    "NasError",
    "SearchSpace",
    "arch_id",
    "canonical_json",
    "create_space",
    "export_model",
    "gradcam",
    "load_config",
    "load_model",
    "load_trials",
    "register_dataset",
    "register_evaluator",
    "register_executor",
    "register_pruner",
    "register_space",
    "register_strategy",
    "register_task",
    "run_search",
]

if TYPE_CHECKING:
    from nas.arch import Arch, arch_id, canonical_json
    from nas.config import load_config
    from nas.deploy.export import export_model, load_model
    from nas.errors import NasError
    from nas.factories import create_space
    from nas.registry import (
        DATASETS,
        EVALUATORS,
        EXECUTORS,
        PRUNERS,
        SPACES,
        STRATEGIES,
        TASKS,
        register_dataset,
        register_evaluator,
        register_executor,
        register_pruner,
        register_space,
        register_strategy,
        register_task,
    )
    from nas.results.gradcam import gradcam
    from nas.results.reading import load_trials
    from nas.search.runner import run_search
    from nas.space import SearchSpace


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nas' has no attribute {name!r}")
