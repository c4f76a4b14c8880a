"""Reading experiment configs: YAML in, overrides applied, validated and resolved (every default
filled in, plugin options included) at load time."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic
import yaml

from nas.config.options import pydantic_message, validate_options
from nas.config.schema import COMPONENT_KEYS, Component, ExperimentConfig
from nas.errors import NasError
from nas.registry import (
    DATASETS,
    EVALUATORS,
    EXECUTORS,
    PRUNERS,
    SPACES,
    STRATEGIES,
    TASKS,
    Registry,
)

_REGISTRIES: dict[str, Registry] = {
    "space": SPACES,
    "dataset": DATASETS,
    "strategy": STRATEGIES,
    "evaluator": EVALUATORS,
    "pruner": PRUNERS,
    "executor": EXECUTORS,
}


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its key path and YAML-parsed value."""
    key, sep, raw = text.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise NasError(f"override {text!r} must look like key.subkey=value (e.g. seed=3)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply command-line overrides to a raw config mapping (returns a new mapping).

    ``strategy=random`` replaces the whole section; ``strategy.name=random`` keeps its options.
    """
    data = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if isinstance(child, str) and part in COMPONENT_KEYS:
                child = {"name": child}
            elif child is None:
                child = {}
            elif not isinstance(child, dict):
                raise NasError(f"override {text!r}: {part!r} is a value, not a section")
            node[part] = child
            node = child
        node[path[-1]] = value
    return data


class _DuplicateKey(yaml.YAMLError):
    """A mapping that gives the same key twice (YAML forbids it; PyYAML would keep the last)."""

    def __init__(self, key: Any, first: int, again: int) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key, self.first, self.again = key, first, again


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (at any depth)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *anchor' merges defaults that the mapping's own keys may override
            key, line = self.construct_object(key_node, deep=deep), key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise _DuplicateKey(key, seen[key], line)
                seen[key] = line
            except TypeError:
                continue  # an unhashable key: the base class reports it
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from a file with a clear error for missing or malformed files."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NasError(f"config file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise NasError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise NasError(
            f"config file {str(path)!r} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line "
            f"{line}); save it as UTF-8, or pass the YAML file you meant"
        ) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        where = (
            f"on line {exc.first}"
            if exc.first == exc.again
            else f"on lines {exc.first} and {exc.again}"
        )
        raise NasError(
            f"config file {str(path)!r} gives key {exc.key!r} twice {where}; keep one "
            "(YAML allows each key once per mapping)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise NasError(f"config file {str(path)!r} is not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise NasError(f"config file {str(path)!r} is nested too deeply to be a config") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise NasError(
            f"config file {str(path)!r} must hold a mapping of keys, not a {type(data).__name__}"
        )
    _check_names(path, data)
    return data


def _check_names(path: Path, data: dict[Any, Any]) -> None:
    """Config keys and the option names of its sections are words (YAML reads ``1:`` as a number)."""
    sections = [("", data), *((f"{k}.", v) for k, v in data.items() if isinstance(v, dict))]
    for prefix, mapping in sections:
        for key in mapping:
            if not isinstance(key, str):
                raise NasError(
                    f"config file {str(path)!r}: key {prefix}{key!r} is not a name; config keys "
                    "and options are words (e.g. trials: 3)"
                )


def resolve_config(data: Mapping[str, Any], default_name: str = "experiment") -> ExperimentConfig:
    """Validate a raw config mapping and fill in every default, plugin options included."""
    data = dict(data)
    data.setdefault("name", default_name)
    if isinstance(data.get("task"), str):  # NasError naming the known tasks for an unknown one
        data.setdefault("objectives", TASKS.get(data["task"])().default_objectives())
    for key, registry in _REGISTRIES.items():
        if key in data:
            data[key] = _resolve_component(key, data[key], registry)
    try:
        config = ExperimentConfig(**data)
    except pydantic.ValidationError as exc:
        raise NasError(pydantic_message(exc, "", ExperimentConfig)) from None
    config.constraint_list()  # a malformed constraint is reported now, not mid-search
    return config


def _resolve_component(key: str, raw: Any, registry: Registry) -> dict[str, Any]:
    if isinstance(raw, str):
        raw = {"name": raw}
    default = ExperimentConfig.model_fields[key].default
    if isinstance(raw, Mapping) and "name" not in raw and isinstance(default, Component):
        raw = {"name": default.name, **raw}  # a section with a default plugin may give options only
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
        raise NasError(f"config key {key!r} needs a 'name' naming a registered {registry.kind}")
    options = {k: v for k, v in raw.items() if k != "name"}
    factory = registry.get(raw["name"])
    return {"name": raw["name"], "options": validate_options(factory, options, key)}


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Load, override and validate an experiment YAML file."""
    data = apply_overrides(read_yaml(path), overrides)
    return resolve_config(data, default_name=Path(path).stem)
