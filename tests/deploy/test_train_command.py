"""nas train: a chosen architecture trained from scratch with a recipe, tested, exported with weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from nas import NasError, load_config, load_model, run_search
from nas.cli.main import main
from nas.config import TrainingConfig
from nas.data.digits import digits
from nas.deploy.final_training import load_recipe
from nas.training.loop import evaluate_model

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "experiments" / "recipes" / "digits.yaml"


def test_nas_train_reaches_the_accuracy_of_the_search_full_training(tmp_path: Path, capsys) -> None:
    config = tmp_path / "full.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "full",
                "seed": 0,
                "trials": 1,
                "space": {"name": "nb201", "channels": 8, "cells_per_stage": 1},
                "dataset": {"name": "digits"},
                "strategy": {"name": "random"},
                "evaluator": {"name": "full", "epochs": 4},
                "training": {"threads": 1},
                "output": str(tmp_path / "results"),
            }
        )
    )
    result = run_search(load_config(config), progress=False)
    searched = result.frame.iloc[0]

    assert (
        main(["train", str(result.run.path), "--recipe", str(RECIPE), "epochs=15", "--quiet"]) == 0
    )
    out = capsys.readouterr().out
    module = result.run.path / "trained" / f"trial_{searched['trial']}.py"
    summary = json.loads(module.with_suffix(".json").read_text())
    assert summary["arch"] == searched["arch"] and summary["epochs"] == 15
    assert (
        summary["training"]["ema_decay"] == 0.99 and summary["training"]["augment"]["cutout"] == 2
    )
    # the final training does at least as well as the search's full-training evaluator did
    assert summary["val_accuracy"] >= searched["val_accuracy"] - 1.0
    assert summary["test_accuracy"] >= searched["val_accuracy"] - 0.5
    assert f"test accuracy {summary['test_accuracy']:.2f}%" in out

    # the exported module carries the weights that scored that test accuracy
    data = digits()
    model = load_model(module)
    accuracy, _ = evaluate_model(model, data.test, data, TrainingConfig(), torch.device("cpu"))
    assert 100.0 * accuracy == pytest.approx(summary["test_accuracy"])


def test_an_architecture_text_trains_with_a_config(tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "name: c\ntrials: 1\nspace: {name: nb201, channels: 4, cells_per_stage: 1}\n"
        "dataset: digits\nstrategy: random\nevaluator: partial\ntraining: {threads: 1}\n"
        f"output: {tmp_path / 'results'}\n"
    )
    arch = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_1x1~2|"
    assert (
        main(
            [
                "train",
                arch,
                "--config",
                str(config),
                "epochs=1",
                "train_on=train+val",
                "training.augment.flip=true",
                "--name",
                "tiny",
                "--quiet",
            ]
        )
        == 0
    )
    module = tmp_path / "results" / "c" / "trained" / "tiny.py"
    summary = json.loads(module.with_suffix(".json").read_text())
    assert (
        summary["recipe"]["train_on"] == "train+val"
        and summary["training"]["augment"]["flip"] is True
    )
    assert load_model(module).__class__.__name__ == "TinyNetwork"
    with pytest.raises(NasError, match="needs --config"):
        main(["--debug", "train", arch])


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["epoch=3"], "unknown config key 'recipe.epoch' \\(did you mean 'epochs'\\?\\)"),
        (["epochs=0"], "'recipe.epochs': input should be greater than 0"),
        (["train_on=test"], "recipe.train_on"),
    ],
)
def test_bad_recipes_are_refused_with_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(NasError, match=message):
        load_recipe(RECIPE, overrides)


def test_bad_recipe_sections_name_the_key(tmp_path: Path) -> None:
    from nas.deploy.final_training import resolve

    config = load_config(ROOT / "experiments" / "quickstart.yaml")
    arch = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_1x1~2|"
    with pytest.raises(NasError, match="recipe.training.augment.cutout"):
        resolve(config, load_recipe(RECIPE, ["training.augment.cutout=-1"]), arch)
    with pytest.raises(NasError, match="unknown config key 'recipe.space.drop_path_rate'"):
        resolve(config, load_recipe(RECIPE, ["space.drop_path_rate=0.1"]), arch)


@pytest.mark.parametrize(
    "recipe", sorted((ROOT / "experiments" / "recipes").glob("*.yaml")), ids=lambda p: p.stem
)
def test_example_recipes_are_valid(recipe: Path) -> None:
    from nas.deploy.final_training import resolve

    config = load_config(ROOT / "experiments" / "quickstart.yaml")
    setup = resolve(
        config, load_recipe(recipe), "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
    )
    assert setup.training.lr > 0 and load_recipe(recipe).epochs > 0
