"""Every registered strategy: finds a known optimum, is seeded, resumes, and keeps fronts non-dominated.

Parametrised over the strategy registry, so a new strategy is tested by default. The toy space
and evaluator live in tests/strategies/toy.py.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from optuna.trial import TrialState

from nas import NasError
from nas.config import resolve_config
from nas.oneshot import OneShot
from nas.pareto import as_minimization
from nas.registry import STRATEGIES
from nas.results.trials import pareto_front, rows_frame, trial_row
from nas.search.runner import run_search, search_in_memory
from tests.strategies.toy import optimum

N = 3  # decisions of the toy space: 64 architectures (2 for the unguided and the slow: 16)
#: Options that keep a strategy quick on a 256-architecture space.
OPTIONS: dict[str, dict[str, Any]] = {
    "tpe": {"n_startup_trials": 6},
    "gp": {"n_startup_trials": 4},
    "nsga2": {"population_size": 6},
    "nsga3": {"population_size": 6},
    "evolution": {"population_size": 6, "sample_size": 3},
    "reinforce": {"learning_rate": 0.3},
    # models from trial 3 on, refitted every 3 trials: a resume at trial 5 is inside a batch
    "bananas": {"initial": 3, "batch_size": 3},
    "bananas_mo": {"initial": 3, "batch_size": 3},
    "predictor_ls": {"initial": 3, "batch_size": 3},
    # every toy network has the same parameter count: the pre-filtered six are a random six
    "prefilter": {
        "base": "evolution",
        "base_options": {"population_size": 6, "sample_size": 3},
        "proxy": "params",
        "pool": 64,
        "top": 6,
        "num_classes": 2,
        "input_shape": [1, 2, 2],
    },
}
#: Strategies that do not learn from results get the whole of a 16-architecture space as their
#: budget (they must still get through it); the others must find the optimum of the
#: 64-architecture space within GUIDED_BUDGET queries (random search would, three times in eight).
UNGUIDED = {"random", "optuna_random", "qmc", "bruteforce"}
GUIDED_BUDGET = 24
#: Samplers that cost seconds a trial (a GP fit each time) run short searches on a 16-architecture
#: space: the optimum within 8 queries (random search would, one time in two).
SLOW = {"gp"}


#: (The LSTM controller of reinforce is checked in test_reinforce.py: torch steps are too slow
#: for a thousand-proposal run here.)
def _black_box(name: str) -> bool:
    """One-shot strategies (DARTS, ENAS) are a separate family with their own suite (tests/oneshot)."""
    factory = STRATEGIES.get(name)
    return not (isinstance(factory, type) and issubclass(factory, OneShot))


CASES = [(name, OPTIONS.get(name, {})) for name in STRATEGIES.names() if _black_box(name)]
IDS = [
    name
    + (
        "-" + "-".join(f"{v}" for v in opts.values() if isinstance(v, str))
        if any(isinstance(v, str) for v in opts.values())
        else ""
    )
    for name, opts in CASES
]


def config(
    name: str,
    options: dict,
    *,
    trials: int,
    seed: int = 0,
    output: Path | None = None,
    objectives: dict | None = None,
    n: int = N,
) -> Any:
    return resolve_config(
        {
            "name": "toy",
            "seed": seed,
            "trials": trials,
            "space": {"name": "tests.strategies.toy:GridSpace", "n": n},
            "strategy": {"name": name, **options},
            "evaluator": {"name": "tests.strategies.toy:ToyScore"},
            "objectives": objectives or {"val_accuracy": "maximize"},
            "output": str(output or "unused"),
        }
    )


def sequence(trials: list) -> list[str]:
    return [t.user_attrs["arch"] for t in sorted(trials, key=lambda t: t.number)]


@pytest.mark.parametrize(("name", "options"), CASES, ids=IDS)
def test_finds_the_optimum_within_its_budget(name: str, options: dict) -> None:
    n = N - 1 if name in UNGUIDED | SLOW else N
    budget = 4**n if name in UNGUIDED else 8 if name in SLOW else GUIDED_BUDGET
    study = search_in_memory(config(name, options, trials=budget, n=n))
    queried = [
        t
        for t in study.trials
        if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs
    ]
    assert len(queried) <= budget  # fewer when a policy has converged (the runner then stops)
    assert max(t.values[0] for t in queried) == optimum(n)


@pytest.mark.parametrize(("name", "options"), CASES, ids=IDS)
def test_same_seed_same_sequence_and_a_resumed_search_continues_it(
    name: str, options: dict, tmp_path: Path
) -> None:
    total, stop = (6, 5) if name in SLOW else (12, 5)
    full = sequence(search_in_memory(config(name, options, trials=total, seed=7)).trials)
    assert full == sequence(search_in_memory(config(name, options, trials=total, seed=7)).trials)
    assert full != sequence(search_in_memory(config(name, options, trials=total, seed=8)).trials)
    # stop after `stop` queries, then resume with fresh components on the run folder's journal
    first = run_search(config(name, options, trials=stop, seed=7, output=tmp_path), progress=False)
    resumed = run_search(
        config(name, options, trials=total, seed=7, output=tmp_path),
        resume=first.run,
        progress=False,
    )
    assert list(resumed.frame.sort_values("trial")["arch"]) == full


@pytest.mark.parametrize(("name", "options"), CASES, ids=IDS)
def test_multi_objective_fronts_are_non_dominated(name: str, options: dict) -> None:
    objectives = {"val_accuracy": "maximize", "params": "minimize"}
    try:
        trials = 6 if name in SLOW else 16
        study = search_in_memory(config(name, options, trials=trials, objectives=objectives))
    except NasError as exc:  # single-objective strategies say so, before any trial runs
        assert "optimises one objective" in str(exc) and "val_accuracy" in str(exc)
        return
    frame = rows_frame([trial_row(t, objectives) for t in study.trials], objectives)
    front = pareto_front(frame, objectives)
    assert len(front) >= 2
    everything = as_minimization(frame[list(objectives)].to_numpy(), list(objectives.values()))
    for point in as_minimization(front[list(objectives)].to_numpy(), list(objectives.values())):
        dominated = (everything <= point).all(1) & (everything < point).any(1)
        assert not dominated.any()
    assert {tuple(p) for p in front[list(objectives)].to_numpy()} == {
        tuple(v) for v in _true_front(frame, objectives)
    }


def _true_front(frame, objectives: dict) -> list[tuple]:
    """The front by brute force over distinct value pairs (an independent check)."""
    values = {tuple(v) for v in frame[list(objectives)].to_numpy()}
    signs = np.array([-1 if d == "maximize" else 1 for d in objectives.values()])
    return [
        v
        for v in values
        if not any((np.array(o) * signs <= np.array(v) * signs).all() and o != v for o in values)
    ]


# --- Samplers in plain Optuna studies, with n_jobs=2 (each study in a child process) ----------------

#: Options that keep a strategy quick on NAS-Bench-201 (6 decisions of 5 operations); a newly
#: registered strategy runs with its defaults.
NB201_OPTIONS: dict[str, dict[str, Any]] = {
    "nsga2": {"population_size": 8},
    "nsga3": {"population_size": 8},
    "gp": {"n_startup_trials": 4},
    "evolution": {"population_size": 8},
    "bananas": {"initial": 4, "batch_size": 4},
    "bananas_mo": {"initial": 4, "batch_size": 4},
    "predictor_ls": {"initial": 4, "batch_size": 4},
    "prefilter": {
        "base": "evolution",
        "base_options": {"population_size": 8},
        "proxy": "params",
        "pool": 16,
        "top": 4,
        "num_classes": 3,
        "input_shape": [1, 8, 8],
    },
}
#: More configurations with state of their own: (test id, strategy, options).
VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "evolution-warm_start",
        "evolution",
        {
            "population_size": 8,
            "warm_start": {
                "proxy": "params",
                "pool": 16,
                "num_classes": 3,
                "input_shape": [1, 8, 8],
            },
        },
    ),
    ("reinforce-lstm", "reinforce", {"controller": "lstm"}),
]
STUDY_CASES = [(name, NB201_OPTIONS.get(name, {})) for name, _ in CASES] + [
    (n, o) for _, n, o in VARIANTS
]
STUDY_IDS = [name for name, _ in CASES] + [i for i, _, _ in VARIANTS]
#: A GP fit costs about a second a trial: fewer trials.
STUDY_TRIALS = {"gp": 8}
#: Asking these twice for one trial gives two proposals: QMC counts its samples in the study, and
#: GP stores its proposal in the trial, which the second ask then takes for another running trial.
ASKS_CHANGE_THE_STUDY = {"qmc", "gp"}
#: Built-ins that optimise several objectives (the others must refuse them when they are built).
SEVERAL_OBJECTIVES = {
    "random",
    "optuna_random",
    "bruteforce",
    "tpe",
    "nsga2",
    "nsga3",
    "gp",
    "qmc",
    "evolution",
    "prefilter",
    "bananas_mo",
}


def _study(name: str, options: dict, kind: str, tmp_path: Path) -> dict:
    from tests.strategies.optuna_studies import in_child, run_study

    return in_child(tmp_path, run_study, name, options, kind, STUDY_TRIALS.get(name, 30))


def _check_state(name: str, result: dict) -> None:
    assert "refused" not in result, result["refused"]
    if name not in ASKS_CHANGE_THE_STUDY:
        assert result["next_agrees"], (
            "a fresh sampler on the study proposes otherwise: the sampler's state drifted"
        )


@pytest.mark.parametrize(("name", "options"), STUDY_CASES, ids=STUDY_IDS)
def test_n_jobs_2_on_the_whole_space(name: str, options: dict, tmp_path: Path) -> None:
    from tests.strategies.optuna_studies import space

    result = _study(name, options, "whole", tmp_path)
    _check_state(name, result)
    trials = result["trials"]
    assert len(trials) == STUDY_TRIALS.get(name, 30)
    assert all(t["state"] == "COMPLETE" and t["valid"] for t in trials)
    assert all(t["decisions"] == sorted(space().decisions()) for t in trials)


@pytest.mark.parametrize(("name", "options"), STUDY_CASES, ids=STUDY_IDS)
def test_a_conditional_objective_gets_the_decisions_it_asks_for(
    name: str, options: dict, tmp_path: Path
) -> None:
    result = _study(name, options, "conditional", tmp_path)
    _check_state(name, result)
    trials = result["trials"]
    assert all(
        t["state"] == "COMPLETE" and t["valid"] and "batch_size" in t["params"] for t in trials
    )
    assert {len(t["decisions"]) for t in trials} <= {
        4,
        6,
    }  # the branches ask for 4 decisions, or all 6
    assert len({tuple(t["decisions"]) for t in trials}) >= 2  # more than one branch taken


@pytest.mark.parametrize(("name", "options"), STUDY_CASES, ids=STUDY_IDS)
def test_nan_raising_and_pruned_trials(name: str, options: dict, tmp_path: Path) -> None:
    from tests.strategies.optuna_studies import EXPECTED_STATE, FATES

    result = _study(name, options, "failing", tmp_path)
    _check_state(name, result)
    states = [t["state"] for t in sorted(result["trials"], key=lambda t: t["number"])]
    assert states == [EXPECTED_STATE[FATES[n % len(FATES)]] for n in range(len(states))]
    assert all(t["valid"] for t in result["trials"])


@pytest.mark.parametrize(("name", "options"), STUDY_CASES, ids=STUDY_IDS)
def test_two_objectives_or_a_clear_refusal(name: str, options: dict, tmp_path: Path) -> None:
    result = _study(name, options, "two_objectives", tmp_path)
    if "refused" in result:  # single-objective strategies say so when they are built
        assert name not in SEVERAL_OBJECTIVES, result["refused"]
        assert (
            f"'{name}' optimises one objective" in result["refused"]
            and "accuracy" in result["refused"]
        )
        return
    _check_state(name, result)
    trials = result["trials"]
    assert all(t["state"] == "COMPLETE" and t["valid"] and len(t["values"]) == 2 for t in trials)


@pytest.mark.parametrize(("name", "options"), STUDY_CASES, ids=STUDY_IDS)
def test_a_sampler_in_use_pickles_the_way_optuna_saves_one(name: str, options: dict) -> None:
    import optuna

    from tests.strategies.optuna_studies import ONE, sampler, whole

    study = optuna.create_study(sampler=sampler(name, options, ONE), direction="maximize")
    study.optimize(whole, n_trials=3)
    study.sampler = pickle.loads(pickle.dumps(study.sampler))
    study.optimize(whole, n_trials=2)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5
