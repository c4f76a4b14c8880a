"""Experiment configs: the schema (:mod:`nas.config.schema`), reading and resolving YAML
(:mod:`nas.config.loading`) and plugin options (:mod:`nas.config.options`)."""

from nas.config.loading import (
    apply_overrides,
    load_config,
    parse_override,
    read_yaml,
    resolve_config,
)
from nas.config.schema import (
    COMPONENT_KEYS,
    AugmentConfig,
    Component,
    CostsConfig,
    DistillConfig,
    ExperimentConfig,
    TrainingConfig,
)

__all__ = [
    "COMPONENT_KEYS",
    "AugmentConfig",
    "Component",
    "CostsConfig",
    "DistillConfig",
    "ExperimentConfig",
    "TrainingConfig",
    "apply_overrides",
    "load_config",
    "parse_override",
    "read_yaml",
    "resolve_config",
]
