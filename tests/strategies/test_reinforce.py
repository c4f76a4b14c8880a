"""REINFORCE: the NAS-Bench-201 baseline's update rule, and the LSTM controller."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest

from nas import NasError
from nas.strategies.reinforce import (
    BiasCorrectedAverage,
    IndependentPolicy,
    ReinforceSampler,
    Replay,
    reinforce,
)
from tests.strategies.toy import GridSpace, score

SPACE = GridSpace(n=3)


def test_moving_average_is_the_bias_corrected_ema_of_nas_bench_201() -> None:
    avg = BiasCorrectedAverage(0.9)
    assert avg.update(10.0) == pytest.approx(10.0)  # bias-corrected: the first value itself
    assert avg.update(20.0) == pytest.approx((0.09 * 10 + 0.1 * 20) / (0.09 + 0.1))


def test_a_positive_advantage_raises_the_probability_of_the_sampled_choices() -> None:
    policy = IndependentPolicy([4, 3], learning_rate=0.1)
    before = policy.probabilities()
    policy.learn([2, 0], advantage=1.0)
    after = policy.probabilities()
    assert after[0][2] > before[0][2] and after[1][0] > before[1][0]
    assert np.allclose([p.sum() for p in after], 1.0)
    policy.learn([1, 1], advantage=-1.0)
    assert policy.probabilities()[0][1] < after[0][1]


def test_gradient_matches_autograd() -> None:
    torch = pytest.importorskip("torch")
    policy = IndependentPolicy([5], learning_rate=0.1)
    policy.logits[0] = np.array([0.3, -0.2, 0.1, 0.0, 0.5])
    logits = torch.tensor(policy.logits[0], requires_grad=True)
    (-2.0 * torch.log_softmax(logits, 0)[3]).backward()
    p = policy.probabilities()[0]
    manual = p.copy()
    manual[3] -= 1.0
    assert np.allclose(2.0 * manual, logits.grad.numpy())


def run(sampler: ReinforceSampler, n: int, study: optuna.Study | None = None) -> list[dict]:
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


def test_the_independent_policy_concentrates_on_the_optimum() -> None:
    archs = run(ReinforceSampler(SPACE, learning_rate=0.1, seed=0), 100)
    assert np.mean([score(a) for a in archs[-30:]]) > 11  # the optimum scores 12.5; uniform: 5.25


def test_the_lstm_controller_learns_and_is_seeded() -> None:
    sampler = ReinforceSampler(SPACE, controller="lstm", learning_rate=0.1, seed=0)
    best = [SPACE.decisions()[name].index("d") for name in SPACE.decisions()]
    rng = np.random.default_rng(0)
    before = np.mean([sampler.policy.sample(rng) == best for _ in range(50)])
    for _ in range(12):
        sampler.policy.learn(best, advantage=1.0)
    after = np.mean([sampler.policy.sample(rng) == best for _ in range(50)])
    assert before < 0.15 and after > 0.5
    full = run(ReinforceSampler(SPACE, controller="lstm", seed=3), 8)
    assert full == run(ReinforceSampler(SPACE, controller="lstm", seed=3), 8)
    study = optuna.create_study(
        direction="maximize", sampler=ReinforceSampler(SPACE, controller="lstm", seed=3)
    )
    first = run(study.sampler, 3, study)
    study.sampler = ReinforceSampler(
        SPACE, controller="lstm", seed=3
    )  # a resumed search: policy replayed
    assert first + run(study.sampler, 5, study) == full


def test_one_lstm_controller_shared_by_threads(tmp_path: Path) -> None:
    """Unguarded, two threads training one controller corrupt it or abort the process (c10::Error in
    THPVariable_clear, a segfault, a corrupted heap): run in a child, so that a crash fails the test."""
    from tests.strategies.optuna_studies import in_child, share_a_controller

    assert in_child(tmp_path, share_a_controller, 2, 100) == []


@pytest.mark.parametrize("controller", ["independent", "lstm"])
def test_trials_finishing_out_of_order_leave_the_policy_a_fresh_sampler_rebuilds(
    controller: str,
) -> None:
    """The policy learnt while trials finish out of order (as under n_jobs) is the one a fresh
    sampler rebuilds from the study, and the one an uninterrupted, in-order replay gives."""

    def sampler() -> ReinforceSampler:
        return ReinforceSampler(SPACE, controller=controller, learning_rate=0.1, seed=1)

    study = optuna.create_study(direction="maximize", sampler=sampler())
    rng = np.random.default_rng(0)
    running: list[optuna.Trial] = []
    told: list[int] = []
    for _ in range(30):
        trial = study.ask()
        arch = {
            name: trial.suggest_categorical(name, list(c)) for name, c in SPACE.decisions().items()
        }
        frozen = study.get_trials(deepcopy=False)[trial.number]
        fresh = sampler()
        assert (
            fresh.sample_relative(study, frozen, fresh.infer_relative_search_space(study, frozen))
            == arch
        )
        running.append(trial)
        while len(running) > 3 or (
            running and rng.random() < 0.4
        ):  # a random one of up to 4 finishes
            done = running.pop(int(rng.integers(len(running))))
            study.tell(done, score(done.params))
            told.append(done.number)
    assert told != sorted(told)


def test_direction_defaults_to_the_study_s_and_a_mismatch_is_one_clear_error() -> None:
    study = optuna.create_study(
        direction="minimize", sampler=ReinforceSampler(SPACE, learning_rate=0.1, seed=0)
    )
    archs = run(study.sampler, 60, study)
    assert np.mean([score(a) for a in archs[-20:]]) < np.mean([score(a) for a in archs[:20]])
    study = optuna.create_study(
        direction="minimize", sampler=ReinforceSampler(SPACE, direction="maximize")
    )
    with pytest.raises(
        NasError, match=r"built for directions \['maximize'\] but the study has \['minimize'\]"
    ):
        run(study.sampler, 1, study)
    with pytest.raises(NasError, match="reinforce optimises one objective but the study has 2"):
        optuna.create_study(
            directions=["maximize", "minimize"], sampler=ReinforceSampler(SPACE)
        ).optimize(
            lambda t: (
                score({n: t.suggest_categorical(n, list(c)) for n, c in SPACE.decisions().items()}),
                0.0,
            ),
            n_trials=1,
        )


def test_infeasible_trials_earn_the_worst_reward_seen() -> None:
    replay = Replay(IndependentPolicy([2], learning_rate=0.1), momentum=0.9)
    assert replay.reward(7.0, violation=1.0) == 7.0  # nothing feasible seen yet: its own value
    assert replay.reward(5.0, violation=0.0) == 5.0
    assert replay.reward(9.0, violation=2.0) == 5.0
    assert replay.reward(3.0, violation=0.0) == 3.0 and replay.reward(4.0, violation=0.5) == 3.0


def test_one_objective_only() -> None:
    with pytest.raises(NasError, match="'reinforce' optimises one objective"):
        reinforce(SPACE, 0, {"val_accuracy": "maximize", "params": "minimize"})
    with pytest.raises(NasError, match="learning_rate > 0"):
        ReinforceSampler(SPACE, learning_rate=0.0)
