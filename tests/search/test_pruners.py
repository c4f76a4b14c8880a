from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest

from nas import NasError
from nas.arch import Choice
from nas.config import resolve_config
from nas.evaluators import Budget, EvalContext, Evaluator, Pruned
from nas.registry import PRUNERS
from nas.search.pruners import make_pruner
from nas.search.runner import run_search
from nas.space import SearchSpace

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
        (
            {"name": "hyperband", "min_epochs": 3, "max_epochs": 2},
            "'pruner.max_epochs' must exceed",
        ),
    ],
)
def test_bad_pruner_sections_are_one_line_errors(
    tiny_config: dict, section: dict, message: str
) -> None:
    with pytest.raises(NasError, match=re.escape(message)):
        make_pruner(resolve_config({**tiny_config, "pruner": section}))


def test_a_pruner_needs_the_reported_metric_as_the_only_objective(tiny_config: dict) -> None:
    config = resolve_config(
        {**tiny_config, "pruner": "median", "objectives": {"val_loss": "minimize"}}
    )
    with pytest.raises(NasError, match="objectives must be val_accuracy alone"):
        run_search(config, progress=False)
    assert not Path(tiny_config["output"]).exists()  # refused before any file is written


def test_median_pruner_stops_weak_candidates_early_and_keeps_their_metrics(
    tiny_config: dict,
) -> None:
    epochs = 4
    config = resolve_config(
        {
            **tiny_config,
            "trials": 7,
            "strategy": "random",
            "evaluator": {"name": "partial", "epochs": epochs, "data_fraction": 0.3},
            "pruner": {"name": "median", "startup_trials": 2},
        }
    )
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


class ScriptedCurves(Evaluator):
    """The i-th evaluation of a run reports ``curves[i]`` (val_accuracy after epochs 1, 2, ...) as a
    training evaluator would; a candidate the pruner stops keeps the accuracy and epochs it reached."""

    def __init__(self, context: EvalContext, *, curves: list[list[float]]) -> None:
        self.curves = curves
        self.calls = 0

    def evaluate(
        self,
        arch: Mapping[str, Choice],
        space: SearchSpace,
        budget: Budget | None = None,
        report: Any = None,
    ) -> dict[str, Any]:
        """Report the next curve epoch by epoch."""
        curve, self.calls = self.curves[self.calls], self.calls + 1
        reached: dict[str, Any] = {}
        try:
            for epoch, accuracy in enumerate(curve, start=1):
                reached = {"val_accuracy": accuracy, "epochs": epoch}
                report(epoch, accuracy)
        except Pruned as exc:
            exc.metrics.update(reached)
            raise
        return reached


def outcomes(tmp_path: Path, pruner: dict, curves: list[list[float]]) -> list[tuple[str, int]]:
    """Search with ``pruner`` over candidates that follow ``curves`` in turn: (state, epochs reached) of each."""
    config = resolve_config(
        {
            "name": "pruned",
            "seed": 0,
            "trials": len(curves),
            "strategy": "random",
            "space": {
                "name": "tests.strategies.toy:GridSpace",
                "n": 8,
            },  # 65536 architectures: no repeats
            "evaluator": {"name": "tests.search.test_pruners:ScriptedCurves", "curves": curves},
            "pruner": pruner,
            "output": str(tmp_path / "results"),
        }
    )
    frame = pd.read_csv(run_search(config, progress=False).run.trials_csv)
    assert frame["duplicate_of"].isna().all() and len(frame) == len(curves)
    return list(zip(frame["state"], frame["epochs"].astype(int), strict=False))


def test_threshold_pruner_stops_a_candidate_the_epoch_it_falls_below_lower(tmp_path: Path) -> None:
    curves = [[60, 70, 80], [60, 40, 90], [30, 80, 90], [55, 52, 50]]
    assert outcomes(tmp_path, {"name": "threshold", "lower": 50.0}, curves) == [
        ("complete", 3),
        ("pruned", 2),
        ("pruned", 1),
        ("complete", 3),
    ]  # 50 is not below 50


def test_percentile_pruner_keeps_only_the_top_percentile_of_finished_trials_at_each_epoch(
    tmp_path: Path,
) -> None:
    """percentile: 25 keeps a candidate whose best accuracy so far is in the top quarter of the
    finished trials' at that epoch (at or above their 75th percentile), after startup_trials finished."""
    curves = [
        [60, 70, 80],
        [40, 50, 60],  # the worst so far, but only one trial has finished: startup
        [50, 60, 70],
        [52, 58, 75],  # above the median (50) of epoch 1, below its 75th percentile (55)
        [56, 66, 76],  # at or above the 75th percentile at every epoch: 55, 65, 75
        [58, 62, 90],  # above epoch 1's (57), below epoch 2's (67)
    ]
    assert outcomes(
        tmp_path, {"name": "percentile", "percentile": 25.0, "startup_trials": 3}, curves
    ) == [
        ("complete", 3),
        ("complete", 3),
        ("complete", 3),
        ("pruned", 1),
        ("complete", 3),
        ("pruned", 2),
    ]


def test_patient_pruner_stops_a_candidate_whose_accuracy_stays_below_its_best(
    tmp_path: Path,
) -> None:
    """patience: 2 stops a candidate once its last 3 epochs all stay more than min_delta below its
    best before them (Optuna's rule: a plateau is not stopped, only a decline)."""
    curves = [
        [10, 20, 30, 40, 50, 60],
        [10, 30, 28, 27, 26, 25],  # epochs 3-5 below the best (30) by more than 1: stopped after 5
        [10, 30, 29.5, 29.5, 29.5, 29.5],  # within min_delta of the best
        [10, 30, 30, 30, 30, 30],  # a plateau
        [10, 30, 20, 25, 31, 32],  # a dip it recovers from in time
    ]
    assert outcomes(tmp_path, {"name": "patient", "patience": 2, "min_delta": 1.0}, curves) == [
        ("complete", 6),
        ("pruned", 5),
        ("complete", 6),
        ("complete", 6),
        ("complete", 6),
    ]


def test_hyperband_pruner_stops_weak_candidates_at_the_rungs_of_several_brackets(
    tmp_path: Path,
) -> None:
    """min_epochs 1, max_epochs 4, reduction_factor 2: three brackets, whose successive halving
    compares candidates after epochs (1, 2, 4), (2, 4) and (4); each trial falls in one by a hash
    of its number. Equal strong curves are always promoted (ties go up); weak ones are stopped once
    a bracket holds enough strong ones."""
    strong, weak = [90.0] * 4, [10.0] * 4
    curves = [strong] * 10 + [weak] * 10
    found = outcomes(
        tmp_path,
        {"name": "hyperband", "min_epochs": 1, "max_epochs": 4, "reduction_factor": 2},
        curves,
    )
    assert found[:10] == [("complete", 4)] * 10
    assert {state for state, _ in found[10:]} == {"pruned"}
    # the brackets stop at different rungs (epoch 4 is the last one: only the last bracket waits for it)
    assert {epochs for _, epochs in found[10:]} == {1, 2, 4}
