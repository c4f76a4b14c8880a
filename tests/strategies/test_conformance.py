"""Every registered strategy: finds a known optimum, is seeded, resumes, and keeps fronts non-dominated.

Parametrised over the strategy registry, so a new strategy is tested by default. The toy space
and evaluator live in tests/strategies/toy.py.
"""

from __future__ import annotations

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
from nas.search.runner import run_search, search_in_memory
from nas.results.trials import pareto_front, rows_frame, trial_row
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
    # every toy network has the same parameter count: the pre-filtered six are a random six
    "prefilter": {"base": "evolution", "base_options": {"population_size": 6, "sample_size": 3},
                  "proxy": "params", "pool": 64, "top": 6, "num_classes": 2, "input_shape": [1, 2, 2]},
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
IDS = [name + ("-" + "-".join(f"{v}" for v in opts.values() if isinstance(v, str)) if
               any(isinstance(v, str) for v in opts.values()) else "") for name, opts in CASES]


def config(name: str, options: dict, *, trials: int, seed: int = 0, output: Path | None = None,
           objectives: dict | None = None, n: int = N) -> Any:
    return resolve_config({
        "name": "toy", "seed": seed, "trials": trials,
        "space": {"name": "tests.strategies.toy:GridSpace", "n": n},
        "strategy": {"name": name, **options},
        "evaluator": {"name": "tests.strategies.toy:ToyScore"},
        "objectives": objectives or {"val_accuracy": "maximize"},
        "output": str(output or "unused"),
    })


def sequence(trials: list) -> list[str]:
    return [t.user_attrs["arch"] for t in sorted(trials, key=lambda t: t.number)]


@pytest.mark.parametrize(("name", "options"), CASES, ids=IDS)
def test_finds_the_optimum_within_its_budget(name: str, options: dict) -> None:
    n = N - 1 if name in UNGUIDED | SLOW else N
    budget = 4 ** n if name in UNGUIDED else 8 if name in SLOW else GUIDED_BUDGET
    study = search_in_memory(config(name, options, trials=budget, n=n))
    queried = [t for t in study.trials if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs]
    assert len(queried) <= budget  # fewer when a policy has converged (the runner then stops)
    assert max(t.values[0] for t in queried) == optimum(n)


@pytest.mark.parametrize(("name", "options"), CASES, ids=IDS)
def test_same_seed_same_sequence_and_a_resumed_search_continues_it(name: str, options: dict, tmp_path: Path) -> None:
    total, stop = (6, 5) if name in SLOW else (12, 5)
    full = sequence(search_in_memory(config(name, options, trials=total, seed=7)).trials)
    assert full == sequence(search_in_memory(config(name, options, trials=total, seed=7)).trials)
    assert full != sequence(search_in_memory(config(name, options, trials=total, seed=8)).trials)
    # stop after `stop` queries, then resume with fresh components on the run folder's journal
    first = run_search(config(name, options, trials=stop, seed=7, output=tmp_path), progress=False)
    resumed = run_search(config(name, options, trials=total, seed=7, output=tmp_path), resume=first.run,
                         progress=False)
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
    assert {tuple(p) for p in front[list(objectives)].to_numpy()} == {tuple(v) for v in _true_front(frame, objectives)}


def _true_front(frame, objectives: dict) -> list[tuple]:
    """The front by brute force over distinct value pairs (an independent check)."""
    values = {tuple(v) for v in frame[list(objectives)].to_numpy()}
    signs = np.array([-1 if d == "maximize" else 1 for d in objectives.values()])
    return [v for v in values
            if not any((np.array(o) * signs <= np.array(v) * signs).all() and o != v for o in values)]
