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
    return {
        "name": "mo",
        "seed": 0,
        "trials": 40,
        "space": {"name": "tests.strategies.toy:GridSpace", "n": 3},
        "strategy": strategy,
        "evaluator": {"name": "tests.strategies.toy:ToyScore"},
        "objectives": OBJECTIVES,
        "constraints": {"params": "<= 12"},
        "output": str(tmp_path),
        **changes,
    }


def test_parse_and_violations() -> None:
    (le, ge, lo) = parse_constraints({"params": "<= 1e6", "latency": [">= 2", "<=10"]})
    assert le == Constraint("params", "<=", 1e6) and ge == Constraint("latency", ">=", 2.0)
    assert le.violation({"params": 2e6}) == 1e6 and le.violation({"params": 5}) < 0
    assert ge.violation({"latency": 1.5}) == 0.5 and lo.violation({"latency": 3}) == -7
    assert math.isinf(le.violation({})) and str(le) == "params <= 1e+06"


@pytest.mark.parametrize("bad", ["< 5", "<= lots", "1e6", "<= inf"])
def test_malformed_constraints_are_refused_when_the_config_is_loaded(
    tmp_path: Path, bad: str
) -> None:
    with pytest.raises(
        NasError, match=r"constraint params: .* must read '<= NUMBER' or '>= NUMBER'"
    ):
        resolve_config(toy(tmp_path, {"name": "random"}, constraints={"params": bad}))


def test_each_trial_records_its_feasibility_and_the_front_keeps_only_feasible_ones(
    tmp_path: Path,
) -> None:
    result = run_search(
        resolve_config(toy(tmp_path, {"name": "evolution", "population_size": 8})), progress=False
    )
    trials = pd.read_csv(result.run.trials_csv)
    assert (trials["feasible"] == (trials["params"] <= 12)).all()
    assert not trials["feasible"].all() and trials["feasible"].any()
    front = pd.read_csv(result.run.pareto_csv)
    assert len(front) >= 2 and front["feasible"].all() and front["duplicate_of"].isna().all()
    feasible = trials[trials["feasible"]]
    for _, row in front.iterrows():
        better = feasible[
            (feasible["val_accuracy"] >= row["val_accuracy"])
            & (feasible["params"] <= row["params"])
            & (
                (feasible["val_accuracy"] > row["val_accuracy"])
                | (feasible["params"] < row["params"])
            )
        ]
        assert better.empty


def test_nas_show_pareto_prints_the_front(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    result = run_search(
        resolve_config(toy(tmp_path, {"name": "nsga2", "population_size": 8})), progress=False
    )
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


def late_feasible_share_and_best(
    tmp_path: Path, seed: int, objectives: dict, constraint: dict, constrained: bool
) -> tuple[float, float]:
    """Evolution on 4**8 architectures for 120 trials: the share of the second half of its trials
    that meet ``constraint`` and the best score among all feasible ones (the constraint is checked
    here, so a run without it is measured the same way)."""
    check = parse_constraints(constraint)[0]
    config = resolve_config(
        toy(
            tmp_path,
            {"name": "evolution", "population_size": 10, "sample_size": 3},
            space={"name": "tests.strategies.toy:GridSpace", "n": 8},
            seed=seed,
            trials=120,
            objectives=objectives,
            constraints=constraint if constrained else {},
        )
    )
    archs = [t.params for t in search_in_memory(config).trials]
    feasible = [check.violation({"val_accuracy": score(a), "params": cost(a)}) <= 0 for a in archs]
    late = feasible[len(feasible) // 2 :]
    return sum(late) / len(late), max(
        (score(a) for a, ok in zip(archs, feasible, strict=False) if ok), default=-math.inf
    )


@pytest.mark.parametrize(
    ("objectives", "constraint"),
    [
        ({"val_accuracy": "maximize"}, {"params": "<= 24"}),  # the best score costs 48
        (OBJECTIVES, {"val_accuracy": ">= 20"}),  # the cheap end of the front scores 0.5
    ],
)
def test_evolution_keeps_to_the_constraints_where_the_objectives_pull_away_from_them(
    tmp_path: Path,
    objectives: dict,
    constraint: dict,
) -> None:
    """Evolution selects feasible parents: with the constraint its late trials are mostly
    feasible, without it (the same search otherwise) they drift to where the objectives lead."""
    seeds = range(4)
    kept = [late_feasible_share_and_best(tmp_path, s, objectives, constraint, True) for s in seeds]
    free = [late_feasible_share_and_best(tmp_path, s, objectives, constraint, False) for s in seeds]
    assert all(k[0] > f[0] for k, f in zip(kept, free, strict=False)), (kept, free)
    assert min(k[0] for k in kept) >= 0.5 and max(f[0] for f in free) <= 0.35, (kept, free)
    if (
        len(objectives) == 1
    ):  # and it finds better feasible architectures (the best feasible scores 16.5)
        assert all(k[1] >= f[1] for k, f in zip(kept, free, strict=False)) and sum(
            k[1] for k in kept
        ) > sum(f[1] for f in free)
        assert min(k[1] for k in kept) >= 15
