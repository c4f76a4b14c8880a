"""Plain Optuna studies driven by a registered strategy's sampler, the way Optuna users drive samplers:
``optuna.create_study(sampler=...).optimize(objective, n_trials=N, n_jobs=2)``.

Each study runs in a child process (:func:`in_child`), so that a sampler that kills its
process fails its test instead of taking the test session down. Used by test_conformance.py
(and test_reinforce.py, for the LSTM controller shared by threads).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import optuna

from nas import STRATEGIES, NasError, SearchSpace, create_space

SPACE_OPTIONS = {"channels": 4, "cells_per_stage": 1}  # nb201: 6 decisions of 5 operations
SCORE = {
    "none": 0.0,
    "skip_connect": 1.0,
    "avg_pool_3x3": 2.0,
    "nor_conv_1x1": 3.0,
    "nor_conv_3x3": 4.0,
}
COST = {
    "none": 0.0,
    "skip_connect": 0.0,
    "avg_pool_3x3": 1.0,
    "nor_conv_1x1": 2.0,
    "nor_conv_3x3": 5.0,
}
ONE = {"accuracy": "maximize"}
TWO = {"accuracy": "maximize", "cost": "minimize"}
#: The fate of trial ``n`` in the "failing" study is FATES[n % 5].
FATES = ("value", "nan", "raise", "pruned", "pruned_at_once")
EXPECTED_STATE = {
    "value": "COMPLETE",
    "nan": "FAIL",
    "raise": "FAIL",
    "pruned": "PRUNED",
    "pruned_at_once": "PRUNED",
}


@lru_cache(maxsize=1)
def space() -> SearchSpace:
    """The NAS-Bench-201 space the studies search."""
    return create_space("nb201", **SPACE_OPTIONS)


def sampler(
    name: str, options: dict[str, Any], objectives: dict[str, str]
) -> optuna.samplers.BaseSampler:
    """The sampler the strategy's factory builds (seed 0)."""
    return STRATEGIES.get(name)(space(), 0, objectives, **options)


def _pace() -> None:
    time.sleep(0.001)  # lets the other thread in, so that proposals overlap


def whole(trial: optuna.Trial) -> float:
    """Asks for every decision of the space."""
    _pace()
    arch = {
        name: trial.suggest_categorical(name, list(c)) for name, c in space().decisions().items()
    }
    return sum(SCORE[v] for v in arch.values())


def conditional(trial: optuna.Trial) -> float:
    """Asks for some decisions only (which ones, the first decides), and for a parameter outside the space."""
    _pace()
    decisions = space().decisions()
    names = list(decisions)
    first = trial.suggest_categorical(names[0], list(decisions[names[0]]))
    branch = {"none": names[1:4], "skip_connect": names[1:4], "nor_conv_3x3": names[1:]}.get(
        first, names[3:]
    )
    ops = [first] + [trial.suggest_categorical(name, list(decisions[name])) for name in branch]
    batch_size = trial.suggest_int("batch_size", 16, 64, step=16)  # enumerable, for brute force
    return sum(SCORE[v] for v in ops) - abs(batch_size - 32) / 16


def failing(trial: optuna.Trial) -> float:
    """Returns NaN, raises or prunes, by the trial's number (FATES)."""
    fate = FATES[trial.number % len(FATES)]
    if fate == "pruned_at_once":
        raise optuna.TrialPruned()
    value = whole(trial)
    trial.report(value, step=0)
    if fate == "nan":
        return float("nan")
    if fate == "raise":
        raise ValueError("this trial fails")
    if fate == "pruned":
        raise optuna.TrialPruned()
    return value


def two_objectives(trial: optuna.Trial) -> tuple[float, float]:
    """Accuracy (maximised) and cost (minimised) of every decision."""
    _pace()
    arch = {
        name: trial.suggest_categorical(name, list(c)) for name, c in space().decisions().items()
    }
    return sum(SCORE[v] for v in arch.values()), sum(COST[v] for v in arch.values())


STUDIES = {
    "whole": (whole, ONE),
    "conditional": (conditional, ONE),
    "failing": (failing, ONE),
    "two_objectives": (two_objectives, TWO),
}


def run_study(name: str, options: dict[str, Any], study_kind: str, trials: int) -> dict[str, Any]:
    """Run one study with ``n_jobs=2``; what the test checks: each trial's state and whether its
    parameters are valid choices, and whether a fresh sampler proposes what the used one does next."""
    objective, objectives = STUDIES[study_kind]
    try:
        used = sampler(name, options, objectives)
    except NasError as exc:
        return {"refused": str(exc)}
    study = optuna.create_study(sampler=used, directions=list(objectives.values()))
    study.optimize(objective, n_trials=trials, n_jobs=2, catch=(ValueError,))
    decisions = space().decisions()
    rows = [
        {
            "number": t.number,
            "state": t.state.name,
            "params": t.params,
            "values": t.values,
            "decisions": sorted(set(t.params) & set(decisions)),
            "valid": all(v in decisions[k] for k, v in t.params.items() if k in decisions),
        }
        for t in study.trials
    ]
    return {"trials": rows, "next_agrees": _next_agrees(name, options, objectives, study)}


def _next_agrees(
    name: str, options: dict[str, Any], objectives: dict[str, str], study: optuna.Study
) -> bool:
    """Whether the used sampler and a fresh one (a resumed search) propose the same for the next trial."""
    study.ask()
    trial = study.get_trials(deepcopy=False)[-1]
    fresh = sampler(name, options, objectives)
    fresh.before_trial(study, trial)
    proposals = [
        s.sample_relative(study, trial, s.infer_relative_search_space(study, trial))
        for s in (study.sampler, fresh)
    ]
    return proposals[0] == proposals[1]


def share_a_controller(threads: int, steps: int) -> list[str]:
    """Sample from, train and copy one LSTM controller from several threads at once; the errors raised."""
    import numpy as np
    import torch

    from nas.strategies.lstm_controller import LSTMController

    controller = LSTMController([5] * 6, learning_rate=0.01, dtype=torch.float64)
    errors: list[str] = []

    def work(k: int) -> None:
        rng = np.random.default_rng(k)
        for step in range(steps):
            try:
                controller.learn(controller.sample(rng), float(rng.normal()))
                if step % 25 == 0:
                    controller.clone().load_state_dict(controller.state_dict())
            except Exception as exc:  # noqa: BLE001 - every error counts
                errors.append(repr(exc))

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return errors


def _child(folder: str, target: Callable[..., Any], args: tuple[Any, ...]) -> None:
    log = os.open(os.path.join(folder, "log.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)
    os.dup2(log, 2)
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    Path(folder, "result.json").write_text(json.dumps(target(*args)))


#: Children fork from a server that imported these once (torch._dynamo: Adam imports it, 3 s).
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(
    [
        "torch",
        "torch._dynamo",
        "scipy.stats",
        "scipy.optimize",
        "optuna",
        "tests.strategies.optuna_studies",
        *(
            f"nas.strategies.{m}"
            for m in (
                "optuna_samplers",
                "evolution",
                "reinforce",
                "local_search",
                "prefilter",
                "lstm_controller",
                "bananas",
                "bananas_mo",
                "predictor_ls",
            )
        ),
    ]
)


def in_child(folder: Path, target: Callable[..., Any], *args: Any, timeout: float = 120.0) -> Any:
    """``target(*args)`` (a module-level function returning JSON) in a child process; a child that dies
    or hangs is an AssertionError with its output."""
    child = _CONTEXT.Process(target=_child, args=(str(folder), target, args))
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
    result = folder / "result.json"
    if child.exitcode != 0 or not result.exists():
        log = (
            (folder / "log.txt").read_text(errors="replace")
            if (folder / "log.txt").exists()
            else ""
        )
        raise AssertionError(
            f"{target.__name__}{args} ended with exit code {child.exitcode} (negative: killed "
            f"by a signal; None: still running after {timeout} s):\n{log[-3000:]}"
        )
    return json.loads(result.read_text())
