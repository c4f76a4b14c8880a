"""The predictor-guided strategies (bananas, predictor_ls, bananas_mo) beyond the conformance suite:
one fit per batch on the completed trials before it, proxy features, hypervolume improvement,
bad options, and a real training search run, resumed and plotted."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from nas import NasError, canonical_json
from nas.config import resolve_config
from nas.factories import create_space, create_strategy
from nas.predictors.mlp import MLPEnsemble
from nas.search.runner import run_search, search_in_memory
from nas.strategies.bananas_mo import epsilon_gap, hypervolume_improvement
from nas.strategies.predictive import PredictiveSampler
from tests.strategies.toy import cost, optimum, score

ONE = {"val_accuracy": "maximize"}


class CountingMLP(MLPEnsemble):
    """The MLP ensemble, recording the size of every training set it is fitted on."""

    sizes: ClassVar[list[int]] = []

    def fit(self, x: np.ndarray, y: np.ndarray, *, seed: int) -> CountingMLP:
        CountingMLP.sizes.append(len(y))
        return super().fit(x, y, seed=seed)


def toy(strategy: dict, *, trials: int, objectives: dict | None = None, seed: int = 0) -> dict:
    return {
        "name": "toy",
        "seed": seed,
        "trials": trials,
        "space": {"name": "tests.strategies.toy:GridSpace", "n": 3},
        "strategy": strategy,
        "evaluator": {"name": "tests.strategies.toy:ToyScore"},
        "objectives": objectives or ONE,
    }


@pytest.mark.parametrize("name", ["bananas", "predictor_ls", "bananas_mo"])
def test_one_fit_per_batch_on_the_completed_trials_before_it(name: str) -> None:
    CountingMLP.sizes.clear()
    strategy = {
        "name": name,
        "predictor": "tests.strategies.test_predictive:CountingMLP",
        "initial": 4,
        "batch_size": 5,
    }
    study = search_in_memory(resolve_config(toy(strategy, trials=20)))
    assert len(study.trials) == 20  # no re-proposals: each trial takes an unseen architecture
    # trials 0-4 random (no model before trial 5), then a fit at trials 5, 10 and 15
    assert CountingMLP.sizes == [5, 10, 15]


def test_bananas_and_predictor_ls_beat_their_random_start_on_the_toy_space() -> None:
    for name in ("bananas", "predictor_ls"):
        study = search_in_memory(resolve_config(toy({"name": name, "initial": 5}, trials=20)))
        values = [t.values[0] for t in sorted(study.trials, key=lambda t: t.number)]
        assert max(values) == optimum(3), name
        assert max(values[10:]) > max(values[:10]), name


def test_bananas_mo_finds_more_of_the_front_of_two_objectives_than_random_search() -> None:
    objectives = {"val_accuracy": "maximize", "params": "minimize"}
    space = create_space("tests.strategies.toy:GridSpace", n=3)
    everything = [
        dict(zip(space.decisions(), combo, strict=True))
        for combo in itertools.product("abcd", repeat=3)
    ]
    points = {(score(a), cost(a)) for a in everything}
    front = {p for p in points if not any(q != p and q[0] >= p[0] and q[1] <= p[1] for q in points)}

    def found(strategy: dict) -> int:
        total = 0
        for seed in range(4):
            config = toy(strategy, trials=24, objectives=objectives, seed=seed)
            study = search_in_memory(resolve_config(config))
            total += len({tuple(t.values) for t in study.trials} & front)
        return total

    # 12 of the 27 distinct (score, cost) points are on the front; 24 of 64 architectures queried
    assert found({"name": "bananas_mo", "initial": 6, "batch_size": 4}) > found({"name": "random"})


def test_hypervolume_improvement_of_two_objectives_against_the_exact_area() -> None:
    front = np.array([[0.0, 1.0], [1.0, 0.0]])
    points = np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]])
    gain = hypervolume_improvement(front, points, np.random.default_rng(0), 40_000)
    # the box runs from (0, 0) to 1.1 x the front's worst: (0, 0) adds the unit square, (0.5, 0.5)
    # the square (0.5, 1) x (0.5, 1), a dominated point nothing
    assert gain == pytest.approx([1.0, 0.25, 0.0], abs=0.02)
    assert epsilon_gap(front, points).tolist() == [0.0, 0.0, 0.0]
    assert epsilon_gap(front, np.array([[1.5, 1.5]])).tolist() == [0.5]


def test_a_proxy_feature_is_read_from_a_score_file(tmp_path: Path) -> None:
    space = create_space("tests.strategies.toy:GridSpace", n=3)
    archs = [
        dict(zip(space.decisions(), c, strict=True)) for c in itertools.product("abcd", repeat=3)
    ]
    rows = {canonical_json(a): cost(a) for a in archs}  # the toy space's notation: canonical JSON
    file = tmp_path / "scores.csv.gz"
    pd.DataFrame({"arch": list(rows), "params": list(rows.values())}).to_csv(file, index=False)
    sampler = create_strategy(
        "bananas",
        space,
        0,
        ONE,
        options={"proxy_feature": {"proxy": "params", "scores": str(file)}},
    )
    assert isinstance(sampler, PredictiveSampler)
    study = search_in_memory(resolve_config(toy({"name": "bananas", "initial": 5}, trials=6)))
    train = sampler.training_set(study, 6)
    x = sampler.features(train.archs, train)
    assert x.shape == (len(train), sampler.encoder.width + 1)
    costs = np.array([cost(a) for a in train.archs])
    assert np.argsort(x[:, -1], kind="stable").tolist() == np.argsort(costs, kind="stable").tolist()
    assert x[:, -1].min() == 0.0 and x[:, -1].max() == 1.0  # scaled by the training set's range
    missing = tmp_path / "few.csv"
    missing.write_text("arch,params\n")
    lacking = create_strategy(
        "bananas",
        space,
        0,
        ONE,
        options={"proxy_feature": {"proxy": "params", "scores": str(missing)}},
    )
    assert isinstance(lacking, PredictiveSampler)
    with pytest.raises(NasError, match="has no score for"):
        lacking.features(train.archs, train)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"predictor": "mlp"},
            "unknown predictor 'mlp'; choose one of: gbt, gp, mean, mlp_ensemble",
        ),
        (
            {"predictor_options": {"members": "x"}},
            "config key 'strategy.predictor_options.members'",
        ),
        (
            {"predictor_options": {"depth": 3}},
            "unknown config key 'strategy.predictor_options.depth'",
        ),
        ({"encoding": "path"}, "the path encoding needs a cell space"),
        ({"batch_size": 0}, "need batch_size >= 1 and initial >= 2"),
        ({"proxy_feature": {"proxy": "synflw"}}, "unknown zero-cost proxy 'synflw'"),
        ({"proxy_feature": {"pool": 3}}, "unknown config key 'strategy.proxy_feature.pool'"),
        ({"acquisition": "ei"}, "config key 'strategy.acquisition'"),
    ],
)
def test_bad_options_get_one_clear_line_before_anything_runs(options: dict, message: str) -> None:
    space = create_space("tests.strategies.toy:GridSpace", n=3)
    with pytest.raises(NasError) as caught:
        create_strategy("bananas", space, 0, ONE, options=options)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bananas_is_a_drop_in_for_a_training_search_resumed_and_plotted(
    tiny_config: dict, tmp_path: Path, one_thread: None
) -> None:
    from nas.cli.main import main

    tiny_config["strategy"] = {"name": "bananas", "initial": 3, "batch_size": 3}
    tiny_config["trials"] = 4
    first = run_search(resolve_config(tiny_config), progress=False)
    resumed = run_search(
        resolve_config({**tiny_config, "trials": 7}), resume=first.run, progress=False
    )
    assert resumed.run.path == first.run.path and len(resumed.frame) == 7
    assert (resumed.frame["state"] == "complete").all()
    # the trials after the resume are the ones an uninterrupted search proposes (models included)
    whole = run_search(
        resolve_config({**tiny_config, "trials": 7, "output": str(tmp_path / "whole")}),
        progress=False,
    )
    assert list(resumed.frame.sort_values("trial")["arch"]) == list(
        whole.frame.sort_values("trial")["arch"]
    )
    assert main(["plot", str(first.run.path), "--no-static"]) == 0
    assert (first.run.path / "plots" / "progress.html").exists()
