"""The experiment config's schema: what a YAML file may say, validated by pydantic."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nas.constraints import Constraint, parse_constraints

#: Sections that name a registered plugin and its options (``name`` plus keyword options).
COMPONENT_KEYS = ("space", "dataset", "strategy", "evaluator", "pruner", "executor")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AugmentConfig(_Strict):
    """Augmentation of training batches (config section ``training.augment``); all off by default."""

    crop_padding: int = Field(0, ge=0)  # random crop after padding each side by this many pixels
    flip: bool = False  # random left-right flip
    cutout: int = Field(0, ge=0)  # side of a random square set to zero


class DistillConfig(_Strict):
    """Knowledge distillation from a trained teacher (config section ``training.distill``; nas/training/distill.py)."""

    teacher: str  # an exported module (.py or its folder), or a run's weights/<arch_id>.pt with teacher_arch
    teacher_arch: str | None = (
        None  # the teacher's architecture in the experiment's space (weights files only)
    )
    temperature: float = Field(4.0, gt=0)
    alpha: float = Field(
        0.9, ge=0, le=1
    )  # weight of the soft-target term; 1 - alpha goes to the labels
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
    ema_decay: float | None = Field(
        None, gt=0, lt=1
    )  # keep an exponential moving average of the weights
    distill: DistillConfig | None = None  # learn from a trained teacher's soft targets as well
    channels_last: bool = False  # NHWC memory layout of network and inputs (GPU tensor cores)
    compile: bool = False  # torch.compile each candidate (a candidate that fails trains eagerly)
    compile_backend: str = "inductor"  # torch.compile's backend (torch.compiler.list_backends())
    #: keep the splits on the (CUDA) device instead of copying each batch; "auto": when they take
    #: at most a quarter of the device's free memory
    data_on_device: bool | Literal["auto"] = "auto"

    @field_validator("compile_backend")
    @classmethod
    def _known_backend(cls, name: str) -> str:
        if name != "inductor":  # checking imports torch's compiler stack: only for another name
            import torch

            if name not in torch.compiler.list_backends(exclude_tags=()):
                shown = ", ".join(torch.compiler.list_backends())
                raise ValueError(f"{name!r} is not a torch.compile backend; use one of {shown}")
        return name


class CostsConfig(_Strict):
    """Which hardware costs evaluators measure besides params and FLOPs (config section ``costs``)."""

    memory: bool = True
    latency: bool = False
    latency_batch_sizes: list[int] = Field(default_factory=lambda: [1], min_length=1)
    latency_repeats: int = Field(30, ge=3)
    latency_warmup: int = Field(5, ge=0)
    int8: bool = (
        False  # quantize each trained candidate to int8 (CPU) and measure it (nas/costs/int8.py)
    )
    int8_calibration_batches: int = Field(4, ge=1)  # training batches the int8 calibration sees
    #: a device profile from `nas profile` (nas/costs/profile.py): adds predicted_latency_ms
    latency_profile: str | None = None


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
    #: what the networks learn (a name in nas.registry.TASKS): its loss, scores and default objective
    task: str = "classification"
    objectives: dict[str, Literal["maximize", "minimize"]] = {"val_accuracy": "maximize"}
    constraints: dict[str, str | list[str]] = {}
    max_consecutive_failures: int = Field(10, ge=1)
    #: seconds one candidate's evaluation may take before it is stopped and recorded as failed
    trial_time_limit: float | None = Field(None, gt=0)
    executor: Component = Component(name="local")
    storage: str | None = None
    #: trackers by name (``mlflow``, ``tensorboard`` or a registered one) with their options
    tracking: dict[str, Any] = {}
    #: seconds between the heartbeats of a worker's running trials in a database study; a trial
    #: silent for three intervals belonged to a dead worker and is re-run by another
    heartbeat_interval: int = Field(10, ge=1)
    output: str = "results"

    def constraint_list(self) -> list[Constraint]:
        """The parsed constraints (validated when the config was loaded)."""
        return parse_constraints(self.constraints)

    def to_yaml_dict(self) -> dict[str, Any]:
        """The config as it would be written in YAML (components flattened)."""
        data = self.model_dump()
        for key in COMPONENT_KEYS:
            comp = data[key]
            if comp is not None:
                data[key] = {"name": comp["name"], **comp["options"]}
            else:
                del data[key]
        return data
