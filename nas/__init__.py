"""nas: neural architecture search with pluggable spaces, Optuna strategies and Ray scale-out."""

from __future__ import annotations

from nas.arch import Arch, arch_id, canonical_json
from nas.errors import NasError
from nas.registry import (
    DATASETS, EVALUATORS, SPACES, STRATEGIES, register_dataset, register_evaluator,
    register_space, register_strategy,
)
from nas.space import SearchSpace

__all__ = [
    "Arch", "DATASETS", "EVALUATORS", "NasError", "SPACES", "STRATEGIES", "SearchSpace", "arch_id",
    "canonical_json", "create_space", "register_dataset", "register_evaluator", "register_space",
    "register_strategy",
]


def create_space(name: str, **options: object) -> SearchSpace:
    """Build a registered search space by name (or 'module:attribute' path) with its options."""
    from nas.options import validate_options

    factory = SPACES.get(name)
    return factory(**validate_options(factory, options, "space"))
