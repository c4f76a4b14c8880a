"""Final training (what ``nas train`` runs): one architecture from scratch with a full recipe, tested.

A recipe is a YAML mapping (see ``experiments/recipes/``): ``epochs``, ``train_on`` (``train`` or
``train+val``), ``seed``, and three sections merged over the experiment's own: ``training``
(the shared loop's options: schedule, augmentation, label smoothing, EMA, ...), ``space``
(space options, e.g. wider networks, drop path or an auxiliary head where the space has them)
and ``dataset``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pydantic
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from nas.arch import Arch, Choice
from nas.config import ExperimentConfig, TrainingConfig, apply_overrides, read_yaml
from nas.config.options import pydantic_message, validate_options
from nas.data import DataSplits, Split
from nas.errors import NasError
from nas.space import SearchSpace


class Recipe(BaseModel):
    """A final-training recipe; sections are merged over the experiment config's."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(50, gt=0)
    train_on: Literal["train", "train+val"] = "train"
    seed: int | None = None
    training: dict[str, Any] = {}
    space: dict[str, Any] = {}
    dataset: dict[str, Any] = {}


def load_recipe(path: str | Path | None, overrides: Sequence[str] = ()) -> Recipe:
    """A recipe from YAML (or the defaults) with ``key.sub=value`` overrides, validated."""
    raw = read_yaml(path) if path is not None else {}
    try:
        return Recipe(**apply_overrides(raw, overrides))
    except pydantic.ValidationError as exc:
        raise NasError(pydantic_message(exc, "recipe", Recipe)) from None


def _merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        out[key] = (
            _merge(out[key], value)
            if isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
            else value
        )
    return out


@dataclass
class Setup:
    """Everything a final training uses, resolved from the experiment config and the recipe."""

    space: SearchSpace
    space_options: dict[str, Any]
    arch: Arch
    data: DataSplits
    training: TrainingConfig
    seed: int


def resolve(config: ExperimentConfig, recipe: Recipe, arch_text: str) -> Setup:
    """Merge the recipe over the config; build the space, parse the architecture in it (before
    anything heavy is loaded), then load the data set and validate the training options."""
    from nas.registry import DATASETS, SPACES

    space_factory = SPACES.get(config.space.name)
    space_options = validate_options(
        space_factory, {**config.space.options, **recipe.space}, "recipe.space"
    )
    space = space_factory(**space_options)
    arch = space.parse(arch_text)
    if config.dataset is None:
        raise NasError(
            "nas train trains on a data set; add a 'dataset:' section to the experiment config"
        )
    data_factory = DATASETS.get(config.dataset.name)
    data_options = validate_options(
        data_factory, {**config.dataset.options, **recipe.dataset}, "recipe.dataset"
    )
    try:
        training = TrainingConfig(**_merge(config.training.model_dump(), recipe.training))
    except pydantic.ValidationError as exc:
        raise NasError(pydantic_message(exc, "recipe.training", TrainingConfig)) from None
    seed = recipe.seed if recipe.seed is not None else config.seed
    return Setup(space, space_options, arch, data_factory(**data_options), training, seed)


@dataclass
class Trained:
    """A trained network and what its training measured."""

    model: nn.Module
    test_accuracy: float
    val_accuracy: float
    history: list[float]
    params: int
    flops: int
    seconds: float


def train_final(
    setup: Setup,
    arch: Mapping[str, Choice],
    *,
    epochs: int,
    train_on: str = "train",
    report: Any = None,
) -> Trained:
    """Build ``arch`` and train it from scratch with the shared loop; measure test accuracy (%)."""
    from nas.costs.measure import count_flops, count_params
    from nas.training.loop import evaluate_model, resolve_device, seeded, train_model

    data, cfg = setup.data, setup.training
    device = resolve_device(cfg.device)
    with seeded(setup.seed):
        model = setup.space.build(arch, num_classes=data.num_classes, input_shape=data.input_shape)
    params, flops = count_params(model), count_flops(model, data.input_shape)
    split = data.train
    if train_on == "train+val":
        split = Split(torch.cat([data.train.x, data.val.x]), torch.cat([data.train.y, data.val.y]))
    teacher = None
    if cfg.distill is not None:
        from nas.training.distill import load_teacher

        teacher = load_teacher(cfg.distill, setup.space, device)
    result = train_model(
        model,
        data,
        cfg,
        epochs=epochs,
        seed=setup.seed,
        device=device,
        train_split=split,
        report=report,
        teacher=teacher,
    )
    test_accuracy, _ = evaluate_model(model, data.test, data, cfg, device)
    return Trained(
        model.cpu(),
        100.0 * test_accuracy,
        100.0 * result.val_accuracy,
        [100.0 * a for a in result.history],
        params,
        flops,
        result.train_seconds,
    )


def export_trained(
    setup: Setup,
    recipe: Recipe,
    trained: Trained,
    out: Path,
    name: str,
    *,
    space_name: str,
    trial: int | None,
    wall_seconds: float,
) -> Path:
    """Write the trained network as module ``name`` in ``out`` (with its weights) and ``NAME.json``
    beside it: metrics, architecture, recipe, training options, seed and history; returns the module."""
    import json

    from nas.arch import arch_id
    from nas.deploy.export import export_model

    arch = setup.arch
    metrics = {
        "test_accuracy": trained.test_accuracy,
        "val_accuracy": trained.val_accuracy,
        "params": trained.params,
        "flops": trained.flops,
        "epochs": recipe.epochs,
    }
    module = export_model(
        setup.space,
        arch,
        out,
        name,
        num_classes=setup.data.num_classes,
        input_shape=setup.data.input_shape,
        space_name=space_name,
        space_options=setup.space_options,
        state_dict=trained.model.state_dict(),
        metrics=metrics,
        trial=trial,
    )
    summary = {
        **metrics,
        "arch": setup.space.format(arch),
        "arch_id": arch_id(arch),
        "trial": trial,
        "space": {"name": space_name, **setup.space_options},
        "dataset": setup.data.name,
        "recipe": recipe.model_dump(),
        "training": setup.training.model_dump(),
        "seed": setup.seed,
        "val_history": trained.history,
        "train_seconds": trained.seconds,
        "wall_seconds": wall_seconds,
    }
    module.with_suffix(".json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return module
