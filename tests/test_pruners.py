from __future__ import annotations

import re
from pathlib import Path

import optuna
import pandas as pd
import pytest

from nas import NasError
from nas.config import resolve_config
from nas.search.pruners import make_pruner
from nas.registry import PRUNERS
from nas.search.runner import run_search

REQUIRED = {"threshold": {"lower": 20.0}}


@pytest.mark.parametrize("name", PRUNERS.names())
def test_every_registered_pruner_builds_from_a_config(tiny_config: dict, name: str) -> None:
    config = resolve_config({**tiny_config, "pruner": {"name": name, **REQUIRED.get(name, {})}})
    assert isinstance(make_pruner(config), optuna.pruners.BasePruner)
    assert config.to_yaml_dict()["pruner"]["name"] == name


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"name": "median", "warmup": 1}, "unknown config key 'pruner.warmup'"),
        ({"name": "medain"}, "unknown pruner 'medain' (did you mean 'median'?)"),
        ({"name": "threshold"}, "pruner 'threshold' needs 'lower'"),
        ({"name": "hyperband", "min_epochs": 3, "max_epochs": 2}, "'pruner.max_epochs' must exceed"),
    ],
)
def test_bad_pruner_sections_are_one_line_errors(tiny_config: dict, section: dict, message: str) -> None:
    with pytest.raises(NasError, match=re.escape(message)):
        make_pruner(resolve_config({**tiny_config, "pruner": section}))


def test_a_pruner_needs_the_reported_metric_as_the_only_objective(tiny_config: dict) -> None:
    config = resolve_config({**tiny_config, "pruner": "median", "objectives": {"val_loss": "minimize"}})
    with pytest.raises(NasError, match="objectives must be val_accuracy alone"):
        run_search(config, progress=False)
    assert not Path(tiny_config["output"]).exists()  # refused before any file is written


def test_median_pruner_stops_weak_candidates_early_and_keeps_their_metrics(tiny_config: dict) -> None:
    epochs = 4
    config = resolve_config({
        **tiny_config, "trials": 7, "strategy": "random",
        "evaluator": {"name": "partial", "epochs": epochs, "data_fraction": 0.3},
        "pruner": {"name": "median", "startup_trials": 2},
    })
    result = run_search(config, progress=False)
    frame = pd.read_csv(result.run.path / "trials.csv")
    assert result.evaluated == 7 and set(frame["state"]) <= {"complete", "pruned"}
    pruned, complete = frame[frame["state"] == "pruned"], frame[frame["state"] == "complete"]
    assert len(pruned) >= 1 and len(complete) >= 2
    assert (pruned["epochs"] < epochs).all() and (complete["epochs"] == epochs).all()
    for column in ("val_accuracy", "params", "flops", "activation_bytes", "train_seconds"):
        assert pruned[column].notna().all(), column
    # the recorded accuracy is the one the pruner saw last
    study = optuna.load_study(study_name="nas", storage=result.run.storage(None))
    for t in study.get_trials(states=(optuna.trial.TrialState.PRUNED,)):
        row = frame[frame["trial"] == t.number].iloc[0]
        assert row["val_accuracy"] == pytest.approx(t.intermediate_values[t.last_step])
        assert row["epochs"] == t.last_step
