"""Constraints in the config, recorded per trial, honoured by samplers and by the Pareto front."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from nas import NasError
from nas.cli.main import main
from nas.config import resolve_config
from nas.constraints import Constraint, parse_constraints
from nas.search.runner import run_search, search_in_memory
from tests.strategies.toy import cost, score

OBJECTIVES = {"val_accuracy": "maximize", "params": "minimize"}


def toy(tmp_path: Path, strategy: dict, **changes) -> dict:
    return {"name": "mo", "seed": 0, "trials": 40, "space": {"name": "tests.strategies.toy:GridSpace", "n": 3},
            "strategy": strategy, "evaluator": {"name": "tests.strategies.toy:ToyScore"},
            "objectives": OBJECTIVES, "constraints": {"params": "<= 12"}, "output": str(tmp_path), **changes}


def test_parse_and_violations() -> None:
    (le, ge, lo) = parse_constraints({"params": "<= 1e6", "latency": [">= 2", "<=10"]})
    assert le == Constraint("params", "<=", 1e6) and ge == Constraint("latency", ">=", 2.0)
    assert le.violation({"params": 2e6}) == 1e6 and le.violation({"params": 5}) < 0
    assert ge.violation({"latency": 1.5}) == 0.5 and lo.violation({"latency": 3}) == -7
    assert math.isinf(le.violation({})) and str(le) == "params <= 1e+06"


@pytest.mark.parametrize("bad", ["< 5", "<= lots", "1e6", "<= inf"])
def test_malformed_constraints_are_refused_when_the_config_is_loaded(tmp_path: Path, bad: str) -> None:
    with pytest.raises(NasError, match=r"constraint params: .* must read '<= NUMBER' or '>= NUMBER'"):
        resolve_config(toy(tmp_path, {"name": "random"}, constraints={"params": bad}))


def test_each_trial_records_its_feasibility_and_the_front_keeps_only_feasible_ones(tmp_path: Path) -> None:
    result = run_search(resolve_config(toy(tmp_path, {"name": "evolution", "population_size": 8})), progress=False)
    trials = pd.read_csv(result.run.trials_csv)
    assert (trials["feasible"] == (trials["params"] <= 12)).all()
    assert not trials["feasible"].all() and trials["feasible"].any()
    front = pd.read_csv(result.run.pareto_csv)
    assert len(front) >= 2 and front["feasible"].all() and front["duplicate_of"].isna().all()
    feasible = trials[trials["feasible"]]
    for _, row in front.iterrows():
        better = feasible[(feasible["val_accuracy"] >= row["val_accuracy"]) & (feasible["params"] <= row["params"])
                          & ((feasible["val_accuracy"] > row["val_accuracy"]) | (feasible["params"] < row["params"]))]
        assert better.empty


def test_nas_show_pareto_prints_the_front(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    result = run_search(resolve_config(toy(tmp_path, {"name": "nsga2", "population_size": 8})), progress=False)
    assert main(["show", str(result.run.path), "--pareto", "--limit", "0"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    front = pd.read_csv(result.run.pareto_csv)
    assert len(lines) == 1 + len(front) and "val_accuracy" in lines[0] and "params" in lines[0]


def test_nsga2_sees_the_constraints_and_stays_mostly_feasible(tmp_path: Path) -> None:
    config = resolve_config(toy(tmp_path, {"name": "nsga2", "population_size": 8}, trials=48))
    study = search_in_memory(config)
    # the violations the trial table shows are the ones Optuna's samplers read
    assert all(list(t.constraints.values()) == t.user_attrs["constraints"] for t in study.trials)
    assert all(list(t.constraints) == ["params <= 12"] for t in study.trials)
    late = [t for t in study.trials[-16:]]
    assert sum(cost(t.params) <= 12 for t in late) >= 12  # random sampling: about a third feasible


def test_single_objective_best_is_the_best_feasible(tmp_path: Path) -> None:
    config = resolve_config(toy(tmp_path, {"name": "evolution", "population_size": 8},
                                objectives={"val_accuracy": "maximize"}, trials=64))
    study = search_in_memory(config)
    feasible = [t for t in study.trials if cost(t.params) <= 12]
    best = max(score(t.params) for t in feasible)
    assert best == max(score({"x0": a, "x1": b, "x2": c}) for a in "abcd" for b in "abcd" for c in "abcd"
                       if cost({"x0": a, "x1": b, "x2": c}) <= 12)
