"""Local search on an objective that asks for some of the space's decisions only."""

from __future__ import annotations

import optuna

from nas.strategies.local_search import LocalSearchSampler
from tests.strategies.toy import VALUE, GridSpace

SPACE = GridSpace(n=3)  # x0, x1, x2; the objective below never asks for x2


def test_an_architecture_counts_as_evaluated_by_the_decisions_its_objective_asked_for() -> None:
    """16 distinct (x0, x1): after the random start, each proposal is one not evaluated yet."""
    study = optuna.create_study(direction="maximize", sampler=LocalSearchSampler(SPACE, initial=2, seed=0))
    asked = []
    for _ in range(16):
        trial = study.ask()
        pair = tuple(trial.suggest_categorical(name, ["a", "b", "c", "d"]) for name in ("x0", "x1"))
        study.tell(trial, VALUE[pair[0]] + VALUE[pair[1]])
        asked.append(pair)
    later = asked[2:]
    assert len(set(later)) == len(later) and not set(later) & set(asked[:2])
    assert ("d", "d") in asked
