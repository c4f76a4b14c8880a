"""Architectures: flat, JSON-serialisable mappings from decision name to choice."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from nas.errors import NasError

Choice = str | int | float | bool
Arch = dict[str, Choice]


def canonical_json(arch: Mapping[str, Choice]) -> str:
    """Serialise an architecture with sorted keys and no whitespace (stable across runs)."""
    return json.dumps(dict(arch), sort_keys=True, separators=(",", ":"))


def arch_id(arch: Mapping[str, Choice]) -> str:
    """A short stable id for an architecture: the first 12 hex digits of its canonical SHA-1."""
    return hashlib.sha1(canonical_json(arch).encode()).hexdigest()[:12]


def arch_from_json(text: str) -> Arch:
    """Parse an architecture from JSON, refusing anything that is not a flat mapping of scalars."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NasError(
            f"architecture is not valid JSON ({exc.msg} at position {exc.pos})"
        ) from None
    if not isinstance(value, dict):
        raise NasError("architecture JSON must be an object of {decision: choice}")
    for key, choice in value.items():
        if not isinstance(choice, (str, int, float, bool)):
            raise NasError(
                f"architecture decision {key!r} has a {type(choice).__name__} value; "
                "choices must be strings, numbers or booleans"
            )
    return value
