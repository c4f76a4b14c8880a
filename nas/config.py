"""Experiment configs: YAML in, validated and resolved (defaults filled in) at load time."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from nas.constraints import Constraint, parse_constraints
from nas.errors import NasError
from nas.options import pydantic_message, validate_options
from nas.registry import DATASETS, EVALUATORS, PRUNERS, SPACES, STRATEGIES, Registry


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AugmentConfig(_Strict):
    """Augmentation of training batches (config section ``training.augment``); all off by default."""

    crop_padding: int = Field(0, ge=0)  # random crop after padding each side by this many pixels
    flip: bool = False  # random left-right flip
    cutout: int = Field(0, ge=0)  # side of a random square set to zero


class DistillConfig(_Strict):
    """Knowledge distillation from a trained teacher (config section ``training.distill``; nas/distill.py)."""

    teacher: str  # an exported module (.py or its folder), or a run's weights/<arch_id>.pt with teacher_arch
    teacher_arch: str | None = None  # the teacher's architecture in the experiment's space (weights files only)
    temperature: float = Field(4.0, gt=0)
    alpha: float = Field(0.9, ge=0, le=1)  # weight of the soft-target term; 1 - alpha goes to the labels
    features: float = Field(0.0, ge=0)  # weight of penultimate-feature matching (0: off)


class TrainingConfig(_Strict):
    """How every training-based evaluator trains a candidate."""

    batch_size: int = Field(64, gt=0)
    eval_batch_size: int = Field(512, gt=0)
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(5e-4, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: int = Field(0, ge=0)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    auxiliary_weight: float = Field(0.4, ge=0)  # loss weight of auxiliary heads (DARTS networks)
    grad_clip: float | None = Field(5.0, gt=0)
    device: str = "auto"
    amp: bool = True
    threads: int | None = Field(None, gt=0)
    augment: AugmentConfig = AugmentConfig()
    ema_decay: float | None = Field(None, gt=0, lt=1)  # keep an exponential moving average of the weights
    distill: DistillConfig | None = None  # learn from a trained teacher's soft targets as well


class CostsConfig(_Strict):
    """Which hardware costs evaluators measure besides params and FLOPs (config section ``costs``)."""

    memory: bool = True
    latency: bool = False
    latency_batch_sizes: list[int] = Field(default_factory=lambda: [1], min_length=1)
    latency_repeats: int = Field(30, ge=3)
    latency_warmup: int = Field(5, ge=0)
    int8: bool = False  # quantize each trained candidate to int8 (CPU) and measure it (nas/quantize.py)
    int8_calibration_batches: int = Field(4, ge=1)  # training batches the int8 calibration sees


class ExecutorConfig(_Strict):
    """Where trials run (config section ``executor``): in this process, or as Ray Tune trials."""

    name: Literal["local", "ray"] = "local"
    address: str | None = None  # ray: None starts a local instance; 'auto' or 'ray://host:port' joins a cluster
    cpus_per_trial: float = Field(1.0, gt=0)  # also the torch threads of each trial (at least 1)
    gpus_per_trial: float = Field(0.0, ge=0)  # a fraction shares a GPU among trials
    max_concurrent: int | None = Field(None, ge=1)  # None: as many as the resources allow
    max_retries: int = Field(2, ge=0)  # re-runs of a trial whose worker died or raised, before it is failed
    train_workers: int = Field(1, ge=1)  # data-parallel workers (GPUs or CPU slots) for supernet training


class Component(_Strict):
    """A registered plugin chosen by name, with its validated options."""

    name: str
    options: dict[str, Any] = {}


class ExperimentConfig(_Strict):
    """A whole search, as written in an experiment YAML file (after resolution)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = 0
    trials: int = Field(gt=0)
    space: Component
    dataset: Component | None = None
    strategy: Component
    evaluator: Component
    pruner: Component = Component(name="none")
    training: TrainingConfig = TrainingConfig()
    costs: CostsConfig = CostsConfig()
    objectives: dict[str, Literal["maximize", "minimize"]] = {"val_accuracy": "maximize"}
    constraints: dict[str, str | list[str]] = {}
    max_consecutive_failures: int = Field(10, ge=1)
    #: seconds one candidate's evaluation may take before it is stopped and recorded as failed
    trial_time_limit: float | None = Field(None, gt=0)
    executor: ExecutorConfig = ExecutorConfig()
    storage: str | None = None
    output: str = "results"

    def constraint_list(self) -> list[Constraint]:
        """The parsed constraints (validated when the config was loaded)."""
        return parse_constraints(self.constraints)

    def to_yaml_dict(self) -> dict[str, Any]:
        """The config as it would be written in YAML (components flattened)."""
        data = self.model_dump()
        for key in _COMPONENTS:
            comp = data[key]
            if comp is not None:
                data[key] = {"name": comp["name"], **comp["options"]}
            else:
                del data[key]
        return data


_COMPONENTS: dict[str, Registry] = {
    "space": SPACES, "dataset": DATASETS, "strategy": STRATEGIES, "evaluator": EVALUATORS,
    "pruner": PRUNERS,
}
#: sections that may be given by name alone (``executor: ray`` is ``executor: {name: ray}``)
_NAMED = {*_COMPONENTS, "executor"}


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
            if isinstance(child, str) and part in _NAMED:
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
        raise NasError(f"config file {str(path)!r} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line "
                       f"{line}); save it as UTF-8, or pass the YAML file you meant") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        where = f"on line {exc.first}" if exc.first == exc.again else f"on lines {exc.first} and {exc.again}"
        raise NasError(f"config file {str(path)!r} gives key {exc.key!r} twice {where}; keep one "
                       "(YAML allows each key once per mapping)") from None
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
        raise NasError(f"config file {str(path)!r} must hold a mapping of keys, not a {type(data).__name__}")
    _check_names(path, data)
    return data


def _check_names(path: Path, data: dict[Any, Any]) -> None:
    """Config keys and the option names of its sections are words (YAML reads ``1:`` as a number)."""
    sections = [("", data), *((f"{k}.", v) for k, v in data.items() if isinstance(v, dict))]
    for prefix, mapping in sections:
        for key in mapping:
            if not isinstance(key, str):
                raise NasError(f"config file {str(path)!r}: key {prefix}{key!r} is not a name; config keys "
                               "and options are words (e.g. trials: 3)")


def resolve_config(data: Mapping[str, Any], default_name: str = "experiment") -> ExperimentConfig:
    """Validate a raw config mapping and fill in every default, plugin options included."""
    data = dict(data)
    data.setdefault("name", default_name)
    if isinstance(data.get("executor"), str):
        data["executor"] = {"name": data["executor"]}
    for key, registry in _COMPONENTS.items():
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
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
        raise NasError(f"config key {key!r} needs a 'name' naming a registered {registry.kind}")
    options = {k: v for k, v in raw.items() if k != "name"}
    factory = registry.get(raw["name"])
    return {"name": raw["name"], "options": validate_options(factory, options, key)}


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Load, override and validate an experiment YAML file."""
    data = apply_overrides(read_yaml(path), overrides)
    return resolve_config(data, default_name=Path(path).stem)
