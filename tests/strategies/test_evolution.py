from __future__ import annotations

import numpy as np
import optuna
import pytest

from nas import NasError, create_space
from nas.strategies.base import decision_distributions
from nas.strategies.evolution import RegularizedEvolutionSampler
from nas.strategies.optuna_samplers import random
from search_spaces.nb201 import EDGES
from tests.strategies.toy import GridSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)
SPACE = create_space("nb201", channels=4, cells_per_stage=1)
SCORES = {"none": 0, "skip_connect": 1, "avg_pool_3x3": 2, "nor_conv_1x1": 3, "nor_conv_3x3": 4}


def score(arch: dict) -> float:
    return float(sum(SCORES[arch[e]] for e in EDGES))


def run(
    sampler: optuna.samplers.BaseSampler, n: int, study: optuna.Study | None = None
) -> list[dict]:
    study = study or optuna.create_study(direction="maximize", sampler=sampler)
    archs = []
    for _ in range(n):
        trial = study.ask()
        arch = {
            name: trial.suggest_categorical(name, list(c)) for name, c in SPACE.decisions().items()
        }
        study.tell(trial, score(arch))
        archs.append(arch)
    return archs


def test_children_are_one_mutation_from_a_tournament_winner_of_the_last_p() -> None:
    p, s = 5, 3
    archs = run(RegularizedEvolutionSampler(SPACE, population_size=p, sample_size=s, seed=0), 40)
    for i in range(p, len(archs)):
        population = archs[i - p : i]
        distances = [sum(archs[i][e] != parent[e] for e in EDGES) for parent in population]
        assert 1 in distances, f"child {i} is not a one-decision mutation of its population"


def test_evolution_improves_over_random_on_a_known_optimum() -> None:
    def best_of(sampler: optuna.samplers.BaseSampler) -> float:
        return max(score(a) for a in run(sampler, 150))

    evo = np.mean([best_of(RegularizedEvolutionSampler(SPACE, seed=s)) for s in range(3)])
    rnd = np.mean([best_of(random(SPACE, s, {"val_accuracy": "maximize"})) for s in range(3)])
    assert evo >= 23 and evo > rnd  # the optimum, all nor_conv_3x3, scores 24


def test_minimize_direction_selects_the_lowest() -> None:
    study = optuna.create_study(
        direction="minimize",
        sampler=RegularizedEvolutionSampler(SPACE, direction="minimize", seed=1),
    )
    archs = run(study.sampler, 150, study)
    assert min(score(a) for a in archs) <= 1


def test_same_seed_same_sequence_and_resume_continues_it() -> None:
    full = run(RegularizedEvolutionSampler(SPACE, seed=3), 30)
    assert full == run(RegularizedEvolutionSampler(SPACE, seed=3), 30)
    assert full != run(RegularizedEvolutionSampler(SPACE, seed=4), 30)
    # stop after 17 trials, then continue with a fresh sampler on the same study
    study = optuna.create_study(
        direction="maximize", sampler=RegularizedEvolutionSampler(SPACE, seed=3)
    )
    first = run(study.sampler, 17, study)
    study.sampler = RegularizedEvolutionSampler(SPACE, seed=3)
    assert first + run(study.sampler, 13, study) == full


def test_random_search_is_seeded() -> None:
    objectives = {"val_accuracy": "maximize"}
    assert run(random(SPACE, 5, objectives), 10) == run(random(SPACE, 5, objectives), 10)


def test_bad_options() -> None:
    with pytest.raises(NasError, match="sample_size <= population_size"):
        RegularizedEvolutionSampler(SPACE, population_size=2, sample_size=3)


# Several objectives: selection by Pareto rank, then crowding distance (then age), in a real study.
GRID = GridSpace(n=8)
TWO = ["maximize", "minimize"]


def parent_of_next_child(values: list[tuple[float, float]]) -> int:
    """Fill a study with the population all-a, all-b, ... (one letter per member, 8 apart) told
    ``values``, ask evolution (tournament = whole population) for a child and return which member
    it mutated."""
    letters = "abcd"[: len(values)]
    sampler = RegularizedEvolutionSampler(
        GRID, population_size=len(values), sample_size=len(values), direction=TWO, seed=0
    )
    study = optuna.create_study(directions=TWO, sampler=sampler)
    for letter, value in zip(letters, values, strict=False):
        study.add_trial(
            optuna.trial.create_trial(
                params={name: letter for name in GRID.decisions()},
                distributions=decision_distributions(GRID),
                values=list(value),
            )
        )
    trial = study.ask()
    child = [trial.suggest_categorical(name, list(c)) for name, c in GRID.decisions().items()]
    (parent,) = [i for i, letter in enumerate(letters) if sum(c != letter for c in child) == 1]
    return parent


@pytest.mark.parametrize(
    ("values", "winner"),
    [
        # the front is 0, 1, 2 (3 is dominated by 2); its ends have infinite crowding, the earlier one wins,
        # here the worst on the first objective
        ([(10, 5), (20, 10), (30, 50), (29, 60)], 0),
        # the oldest member is on the front but between its ends: crowding ranks it after them
        ([(20, 10), (10, 5), (30, 50), (29, 60)], 1),
        # the oldest member is alone in the second rank (infinite crowding there): rank comes first
        ([(5, 60), (20, 10), (10, 5), (30, 50)], 2),
    ],
)
def test_the_tournament_winner_is_the_nsga_best_not_the_best_on_the_first_objective(
    values: list[tuple[float, float]],
    winner: int,
) -> None:
    assert parent_of_next_child(values) == winner


def two_objectives(arch: dict) -> tuple[float, float]:
    """A synthetic trade-off: x0 and x1 set t (accuracy t, maximised; cost t + g, minimised) and
    x2..x7 add the cost g only, so the front is g = 0 at every t (one in 4**6 of random draws)."""
    level = [ord(str(arch[f"x{i}"])) - ord("a") for i in range(8)]
    t = level[0] + level[1]
    return float(t), float(t + sum(level[2:]))


def dominated_area(points: list[tuple[float, float]]) -> float:
    """The area the points dominate up to the reference (accuracy -1, cost 25): the hypervolume
    (the true front, t = 0..6 at cost t, scores 154)."""
    area, best = 0.0, -1.0
    ordered = sorted(points, key=lambda p: p[1])
    for (accuracy, cost), after in zip(ordered, [p[1] for p in ordered[1:]] + [25.0], strict=False):
        best = max(best, accuracy)
        area += (after - cost) * (best + 1.0)
    return area


def front_area(sampler: optuna.samplers.BaseSampler, trials: int = 150) -> float:
    study = optuna.create_study(directions=TWO, sampler=sampler)
    points = []
    for _ in range(trials):
        trial = study.ask()
        points.append(
            two_objectives(
                {n: trial.suggest_categorical(n, list(c)) for n, c in GRID.decisions().items()}
            )
        )
        study.tell(trial, list(points[-1]))
    return dominated_area(points)


def test_evolution_reaches_a_better_front_than_random_search_at_equal_budget() -> None:
    seeds = range(4)
    evolved = [
        front_area(RegularizedEvolutionSampler(GRID, sample_size=5, direction=TWO, seed=s))
        for s in seeds
    ]
    drawn = [
        front_area(random(GRID, s, dict(zip(("val_accuracy", "params"), TWO, strict=False))))
        for s in seeds
    ]
    assert all(e > d for e, d in zip(evolved, drawn, strict=False)), (evolved, drawn)
    assert np.mean(evolved) - np.mean(drawn) >= 10, (evolved, drawn)


def test_direction_defaults_to_the_study_s_and_a_mismatch_is_one_clear_error() -> None:
    study = optuna.create_study(
        direction="minimize", sampler=RegularizedEvolutionSampler(SPACE, seed=1)
    )
    assert min(score(a) for a in run(study.sampler, 150, study)) <= 1
    study = optuna.create_study(
        directions=["maximize", "minimize"],
        sampler=RegularizedEvolutionSampler(SPACE, direction="maximize"),
    )
    with pytest.raises(
        NasError, match=r"evolution was built for directions \['maximize'\] but the study has"
    ):
        run(study.sampler, 1, study)


def test_a_conditional_objective_s_trials_are_parents_by_the_decisions_they_set() -> None:
    """Trials that set 4 of the 6 decisions: each child is one mutation from a population member on
    those 4 (it agrees on 3 or 4 of them; a random architecture would agree with one of 5 members on
    3 or more about once in eight)."""
    used = EDGES[:4]
    sampler = RegularizedEvolutionSampler(SPACE, population_size=5, sample_size=2, seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    archs = []
    for _ in range(40):
        trial = study.ask()
        arch = {e: trial.suggest_categorical(e, list(SPACE.decisions()[e])) for e in used}
        study.tell(trial, score({**dict.fromkeys(EDGES, "none"), **arch}))
        archs.append(arch)
    for i in range(5, len(archs)):
        assert max(sum(archs[i][e] == parent[e] for e in used) for parent in archs[i - 5 : i]) >= 3
