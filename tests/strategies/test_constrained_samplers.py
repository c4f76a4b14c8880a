"""Constraints reach Optuna's constraint-aware samplers tpe, gp and nsga3 (the README: "samplers
that take constraints (nsga2, nsga3, tpe, gp, our evolution) use them"): every trial records its
feasibility, carries the values the samplers read (``FrozenTrial.constraints``, set by the runner
with ``Trial.set_constraint``), and the samplers act on them. nsga2 and evolution: test_constraints.py."""

from __future__ import annotations

from typing import Any

import pytest
from optuna import Study

from nas.config import resolve_config
from nas.constraints import VIOLATIONS_ATTR
from nas.results.trials import trial_row
from nas.search.runner import search_in_memory
from tests.strategies.toy import cost

BOUND = 9  # params <= 9: the toy's best architectures ("d" everywhere, cost 18) are infeasible
OBJECTIVES = {"val_accuracy": "maximize"}
#: Options and budget that keep each sampler quick on the 64-architecture toy space.
CASES: dict[str, tuple[dict[str, Any], int]] = {
    "tpe": ({"n_startup_trials": 6}, 30),
    "nsga3": ({"population_size": 6}, 30),
    "gp": ({"n_startup_trials": 4}, 10),  # a GP fit per trial
}


def search(name: str, constrained: bool) -> Study:
    """A search of the toy space with sampler ``name``, with or without the constraint."""
    options, trials = CASES[name]
    return search_in_memory(
        resolve_config(
            {
                "name": "constrained",
                "seed": 0,
                "trials": trials,
                "space": {"name": "tests.strategies.toy:GridSpace", "n": 3},
                "strategy": {"name": name, **options},
                "evaluator": {"name": "tests.strategies.toy:ToyScore"},
                "objectives": OBJECTIVES,
                "output": "unused",
                **({"constraints": {"params": f"<= {BOUND}"}} if constrained else {}),
            }
        )
    )


def feasible_queries(study: Study) -> int:
    """How many of the architectures the search evaluated (duplicates not counted) are feasible."""
    return sum(cost(t.params) <= BOUND for t in study.trials if "duplicate_of" not in t.user_attrs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_sampler_reads_the_constraints_and_proposes_more_feasible_architectures(
    name: str,
) -> None:
    constrained = search(name, constrained=True)
    for trial in constrained.trials:
        violation = cost(trial.params) - BOUND
        assert trial.user_attrs[VIOLATIONS_ATTR] == [violation]
        assert trial_row(trial, OBJECTIVES)["feasible"] == (violation <= 0)
        assert trial.constraints == {f"params <= {BOUND}": violation}  # what Optuna's samplers read
    free = search(name, constrained=False)
    assert all(trial.constraints == {} for trial in free.trials)
    # the same seed and budget without the constraint: the sampler used what it read
    assert feasible_queries(constrained) > feasible_queries(free)
