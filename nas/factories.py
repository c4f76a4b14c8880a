"""Build registered components by name from Python, with the same validation as configs."""

from __future__ import annotations

from nas.options import validate_options
from nas.registry import SPACES
from nas.space import SearchSpace


def create_space(name: str, **options: object) -> SearchSpace:
    """Build a registered search space by name (or 'module:attribute' path) with its options."""
    factory = SPACES.get(name)
    return factory(**validate_options(factory, options, "space"))
