"""local_search's swaps (two decisions with the same choices exchange them, a move one-decision
changes cannot make in one step; the README: "best-first over one-decision changes and swaps"),
and local search on an objective that asks for some of the space's decisions only."""

from __future__ import annotations

from collections.abc import Mapping

import optuna
from torch import nn

from nas.arch import Choice
from nas.space import SearchSpace
from nas.strategies.local_search import LocalSearchSampler
from tests.strategies.toy import VALUE, GridSpace


class Mixed(SearchSpace):
    """Two decisions with the same choices (x0, x1) and one with other choices (y)."""

    name = "mixed"

    def decisions(self) -> dict[str, tuple[Choice, ...]]:
        """x0 and x1 choose among a, b, c; y between a and b."""
        return {"x0": ("a", "b", "c"), "x1": ("a", "b", "c"), "y": ("a", "b")}

    def build(
        self,
        arch: Mapping[str, Choice],
        *,
        num_classes: int,
        input_shape: tuple[int, int, int] = (3, 32, 32),
    ) -> nn.Module:
        """A linear layer (never trained here)."""
        c, h, w = input_shape
        return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, num_classes))


def test_swaps_exchange_only_decisions_with_equal_choices() -> None:
    arch = {"x0": "a", "x1": "b", "y": "b"}
    changes = [
        {"x0": "b", "x1": "b", "y": "b"},
        {"x0": "c", "x1": "b", "y": "b"},
        {"x0": "a", "x1": "a", "y": "b"},
        {"x0": "a", "x1": "c", "y": "b"},
        {"x0": "a", "x1": "b", "y": "a"},
    ]
    assert list(LocalSearchSampler(Mixed(), swaps=False).neighbours(arch)) == changes
    # x0 and y hold different values, but their choices differ: no swap between them
    assert list(LocalSearchSampler(Mixed(), swaps=True).neighbours(arch)) == [
        *changes,
        {"x0": "b", "x1": "a", "y": "b"},
    ]
    same = {"x0": "a", "x1": "a", "y": "a"}  # nothing to exchange when the values agree
    assert len(list(LocalSearchSampler(Mixed(), swaps=True).neighbours(same))) == 5


START = {"x0": "d", "x1": "a", "x2": "a"}
SWAPPED = {"x0": "a", "x1": "d", "x2": "a"}  # x0 and x1 exchanged: two decisions away from START


def landscape(arch: Mapping[str, Choice]) -> float:
    """SWAPPED is the optimum and START the next best; the architectures one change away from
    SWAPPED score lowest, so that no path of single changes climbs to it."""
    if arch == SWAPPED:
        return 10.0
    if arch == START:
        return 5.0
    return -1.0 if sum(arch[k] != SWAPPED[k] for k in arch) == 1 else 0.0


def search(swaps: bool, trials: int) -> list[dict[str, Choice]]:
    """The architectures a local search starting at START evaluates, in order."""
    space = GridSpace(n=3)
    study = optuna.create_study(
        direction="maximize", sampler=LocalSearchSampler(space, initial=1, swaps=swaps, seed=0)
    )
    study.enqueue_trial(START)

    def objective(trial: optuna.Trial) -> float:
        return landscape({k: trial.suggest_categorical(k, c) for k, c in space.decisions().items()})

    study.optimize(objective, n_trials=trials)
    return [dict(t.params) for t in study.trials]


def test_a_search_with_swaps_reaches_what_single_changes_cannot_in_one_step() -> None:
    neighbourhood = list(LocalSearchSampler(GridSpace(n=3), swaps=True).neighbours(START))
    assert len(neighbourhood) == 9 + 2 and SWAPPED in neighbourhood
    with_swaps = search(swaps=True, trials=1 + len(neighbourhood))
    assert with_swaps[0] == START and SWAPPED in with_swaps
    # START stayed the best until SWAPPED came: every proposal was one step from START
    found = with_swaps.index(SWAPPED)
    assert all(arch in neighbourhood for arch in with_swaps[1 : found + 1])

    without = search(swaps=False, trials=1 + len(neighbourhood))
    assert without[0] == START and SWAPPED not in without
    assert max(map(landscape, without)) == 5.0


SPACE = GridSpace(n=3)  # x0, x1, x2; the objective below never asks for x2


def test_an_architecture_counts_as_evaluated_by_the_decisions_its_objective_asked_for() -> None:
    """16 distinct (x0, x1): after the random start, each proposal is one not evaluated yet."""
    study = optuna.create_study(
        direction="maximize", sampler=LocalSearchSampler(SPACE, initial=2, seed=0)
    )
    asked = []
    for _ in range(16):
        trial = study.ask()
        pair = tuple(trial.suggest_categorical(name, ["a", "b", "c", "d"]) for name in ("x0", "x1"))
        study.tell(trial, VALUE[pair[0]] + VALUE[pair[1]])
        asked.append(pair)
    later = asked[2:]
    assert len(set(later)) == len(later) and not set(later) & set(asked[:2])
    assert ("d", "d") in asked
