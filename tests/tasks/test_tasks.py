"""Tasks: the registry, segmentation's loss and scores, and what a config and the data must agree on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nas import TASKS, NasError
from nas.config import TrainingConfig
from nas.config.loading import resolve_config
from nas.data.scenes import digit_scenes
from nas.evaluators import EvalContext
from nas.factories import create_space
from nas.results.runs import direction
from nas.tasks import metric_direction, task_named
from nas.tasks.segmentation import IGNORE_INDEX, confusion, iou_scores
from nas.training.loop import seeded, train_model


def test_the_registry_names_classification_and_segmentation() -> None:
    assert {"classification", "segmentation"} <= set(TASKS.names())
    assert task_named("classification").reported_metric == "val_accuracy"
    assert task_named("segmentation").default_objectives() == {"val_miou": "maximize"}
    with pytest.raises(NasError, match="unknown task 'segmentaton'.*did you mean 'segmentation'"):
        task_named("segmentaton")


def test_miou_and_pixel_accuracy_of_a_hand_made_prediction() -> None:
    y = torch.tensor([[[0, 0, 1], [1, 2, IGNORE_INDEX]]])
    pred = torch.tensor([[[0, 1, 1], [1, 2, 0]]])
    matrix = confusion(pred, y, 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 0], [0, 0, 1]]
    scores = iou_scores(matrix)
    # class 0: 1 / (2 + 1 - 1); class 1: 2 / (2 + 3 - 2); class 2: 1 / 1; the ignored pixel counts nowhere
    assert scores["miou"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert scores["pixel_accuracy"] == pytest.approx(4 / 5)


def test_segmentation_loss_leaves_ignored_pixels_out() -> None:
    task = task_named("segmentation")
    logits = torch.randn(1, 3, 2, 2)
    y = torch.tensor([[[0, 1], [IGNORE_INDEX, IGNORE_INDEX]]])
    changed = logits.clone()
    changed[0, :, 1, :] = 100.0  # only the ignored pixels differ
    assert torch.equal(task.summed_loss(logits, y), task.summed_loss(changed, y))
    criterion = task.criterion(TrainingConfig())
    assert torch.equal(criterion(logits, y), criterion(changed, y))


def test_a_segmentation_config_defaults_to_miou_and_refuses_an_unknown_task() -> None:
    raw = {
        "trials": 1,
        "task": "segmentation",
        "space": "unet",
        "dataset": "digit_scenes",
        "strategy": "random",
        "evaluator": "partial",
    }
    assert resolve_config(raw).objectives == {"val_miou": "maximize"}
    assert resolve_config({**raw, "task": "classification"}).objectives == {
        "val_accuracy": "maximize"
    }
    with pytest.raises(NasError, match="unknown task 'detection'"):
        resolve_config({**raw, "task": "detection"})


def test_plots_and_tables_take_metric_directions_from_the_tasks() -> None:
    assert metric_direction("val_miou") == "maximize"
    assert direction("val_miou", {}) == "maximize" and direction("val_loss", {}) == "minimize"
    assert direction("val_pixel_accuracy", {}) == "maximize"


def test_data_of_another_task_or_settings_it_cannot_train_are_refused(tmp_path: Path) -> None:
    from nas.config import Component

    device = torch.device("cpu")
    scenes = Component(name="digit_scenes", options={"scenes": 6})
    with pytest.raises(NasError, match="is for task 'segmentation' but the config's task is"):
        _ = EvalContext(scenes, TrainingConfig(), 0, device).data
    digits = Component(name="digits", options={})
    with pytest.raises(NasError, match="is for task 'classification'.*set task: classification"):
        _ = EvalContext(digits, TrainingConfig(), 0, device, task_name="segmentation").data
    flips = TrainingConfig(augment={"flip": True})
    with pytest.raises(NasError, match="augment would move images without their masks"):
        _ = EvalContext(scenes, flips, 0, device, task_name="segmentation").task


def test_training_a_unet_reports_the_miou_of_its_own_predictions() -> None:
    data = digit_scenes(scenes=40, size=16, scale=1)
    space = create_space("unet", levels=2, base_width=4)
    arch = space.sample(np.random.default_rng(0))
    with seeded(0):
        model = space.build(arch, num_classes=data.num_classes, input_shape=data.input_shape)
    cfg = TrainingConfig(batch_size=8, optimizer="adamw", lr=0.01, threads=1)
    result = train_model(model, data, cfg, epochs=2, seed=0, device=torch.device("cpu"))
    assert set(result.val_scores) == {"miou", "pixel_accuracy"}
    assert result.val_accuracy == result.val_scores["miou"] == result.history[-1]
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    with torch.no_grad():
        pred = model.eval()((data.val.x - mean) / std).argmax(1)
    hand = iou_scores(confusion(pred, data.val.y, data.num_classes))
    assert result.val_scores == pytest.approx(hand)
    assert 0.0 < result.val_scores["pixel_accuracy"] <= 1.0


def test_pruners_compare_the_metric_the_task_reports_each_epoch() -> None:
    from nas.search.pruners import make_pruner, reported_metric

    raw = {
        "trials": 1,
        "task": "segmentation",
        "space": "unet",
        "dataset": "digit_scenes",
        "strategy": "random",
        "evaluator": "partial",
        "pruner": "median",
    }
    config = resolve_config(raw)
    assert reported_metric(config) == "val_miou"
    make_pruner(config)  # the default objective, val_miou alone: accepted
    with pytest.raises(NasError, match="compares the val_miou reported each epoch"):
        make_pruner(resolve_config({**raw, "objectives": {"val_pixel_accuracy": "maximize"}}))
