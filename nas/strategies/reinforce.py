"""REINFORCE controllers (Williams 1992) as Optuna samplers.

``independent`` is NAS-Bench-201's REINFORCE baseline: one categorical distribution per decision
(logits start at zero), Adam on ``-(reward - baseline) * log p(arch)``, where the baseline is an
exponential moving average of the rewards (updated with the current reward first, as there).
``lstm`` is the NASNet / ENAS controller: an LSTM that emits the decisions one after another
(see :mod:`nas.strategies.lstm_controller`).

The policy is a function of the seed and the completed trials, in trial order: the sampler
replays the trials it has not learnt from yet before each proposal, so a resumed search (a
fresh sampler on the same study) rebuilds exactly the policy an uninterrupted one has.
Architectures are drawn with the trial's own numpy generator, never torch's global one.

Under Optuna's ``n_jobs`` trials finish out of order. The sampler keeps the policy learnt from
the *settled* trials (those numbered below every trial still running) and learns the ones that
finished ahead of a running trial into a copy, so a late finisher costs a replay of the few
trials after it, not of the whole study. Its state is guarded by a lock. Only completed trials
that set every decision and have a finite value are learnt from.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from nas.arch import Arch
from nas.constraints import Constraint
from nas.errors import NasError
from nas.space import SearchSpace
from nas.strategies.base import Guarded, SpaceSampler, single_direction, violation


class Policy(Protocol):
    """A distribution over architectures that learns from rewarded samples."""

    def sample(self, rng: np.random.Generator) -> list[int]:
        """Choice indices, one per decision."""

    def learn(self, choices: list[int], advantage: float) -> None:
        """One policy-gradient step for a sample with this advantage."""

    def clone(self) -> Policy:
        """An independent copy in the same state."""


class BiasCorrectedAverage:
    """Bias-corrected exponential moving average (NAS-Bench-201's REINFORCE baseline)."""

    def __init__(self, momentum: float) -> None:
        self.momentum = momentum
        self.numerator = 0.0
        self.denominator = 0.0

    def update(self, value: float) -> float:
        """Add a value and return the new average."""
        self.numerator = self.momentum * self.numerator + (1 - self.momentum) * value
        self.denominator = self.momentum * self.denominator + (1 - self.momentum)
        return self.numerator / self.denominator


class IndependentPolicy:
    """One softmax per decision, trained with Adam (numpy, float64)."""

    def __init__(self, sizes: Sequence[int], learning_rate: float) -> None:
        self.sizes = list(sizes)
        self.lr = learning_rate
        self.logits = [np.zeros(n) for n in self.sizes]
        self._m = [np.zeros(n) for n in self.sizes]
        self._v = [np.zeros(n) for n in self.sizes]
        self._steps = 0

    def probabilities(self) -> list[np.ndarray]:
        """The current distribution of each decision."""
        out = []
        for z in self.logits:
            e = np.exp(z - z.max())
            out.append(e / e.sum())
        return out

    def sample(self, rng: np.random.Generator) -> list[int]:
        """Draw each decision from its softmax."""
        return [int(rng.choice(len(p), p=p)) for p in self.probabilities()]

    def learn(self, choices: list[int], advantage: float) -> None:
        """Adam step on -advantage * log p(choices)."""
        self._steps += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        for d, p in enumerate(self.probabilities()):
            grad = p.copy()
            grad[choices[d]] -= 1.0
            grad *= advantage
            self._m[d] = b1 * self._m[d] + (1 - b1) * grad
            self._v[d] = b2 * self._v[d] + (1 - b2) * grad * grad
            m_hat = self._m[d] / (1 - b1**self._steps)
            v_hat = self._v[d] / (1 - b2**self._steps)
            self.logits[d] -= self.lr * m_hat / (np.sqrt(v_hat) + eps)

    def clone(self) -> IndependentPolicy:
        """An independent copy in the same state."""
        return copy.deepcopy(self)


class Replay:
    """A policy with its reward baseline, learnt from some trials in order (their numbers kept)."""

    def __init__(self, policy: Policy, momentum: float) -> None:
        self.policy = policy
        self.baseline = BiasCorrectedAverage(momentum)
        self.numbers: list[int] = []
        self.worst: float | None = None

    def clone(self) -> Replay:
        """An independent copy in the same state."""
        twin = copy.copy(self)
        twin.policy = self.policy.clone()
        twin.baseline = copy.copy(self.baseline)
        twin.numbers = list(self.numbers)
        return twin

    def reward(self, value: float, violation: float) -> float:
        """The reward of a trial: its value, or for an infeasible one the worst feasible value seen so
        far (no push towards it)."""
        if violation > 0:
            return value if self.worst is None else min(value, self.worst)
        self.worst = value if self.worst is None else min(value, self.worst)
        return value

    def learn(self, number: int, choices: list[int], value: float, violation: float) -> None:
        """One REINFORCE step on a trial."""
        reward = self.reward(value, violation)
        self.policy.learn(choices, reward - self.baseline.update(reward))
        self.numbers.append(number)


class ReinforceSampler(SpaceSampler, Guarded):
    """Samples architectures from a learnt policy; every completed trial is one REINFORCE step.

    ``direction`` defaults to the study's (one objective only).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        controller: Literal["independent", "lstm"] = "independent",
        learning_rate: float = 0.01,
        baseline_momentum: float = 0.9,
        direction: str | None = None,
        hidden_size: int = 64,
        entropy_weight: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(space, seed)
        if learning_rate <= 0 or not 0 <= baseline_momentum < 1:
            raise NasError(
                f"reinforce needs learning_rate > 0 and 0 <= baseline_momentum < 1, "
                f"got {learning_rate} and {baseline_momentum}"
            )
        if controller not in ("independent", "lstm"):
            raise NasError(f"reinforce's controller is 'independent' or 'lstm', got {controller!r}")
        self.controller = controller
        self.learning_rate = learning_rate
        self.baseline_momentum = baseline_momentum
        self.direction = direction
        self.hidden_size = hidden_size
        self.entropy_weight = entropy_weight
        self._choices = [list(c) for c in space.decisions().values()]
        self._lock = threading.Lock()
        self._study: str | None = None
        self._settled = self._fresh()  # learnt from the trials numbered below every running one
        self._ahead: Replay | None = (
            None  # the settled ones and those that finished ahead of a running trial
        )

    @property
    def policy(self) -> Policy:
        """The policy learnt from every completed trial seen at the last proposal."""
        return (self._ahead or self._settled).policy

    def _fresh(self) -> Replay:
        sizes = [len(c) for c in self._choices]
        if self.controller == "lstm":
            import torch

            from nas.strategies.lstm_controller import LSTMController

            # float64 so that replaying the study's history rebuilds the policy exactly
            policy: Policy = LSTMController(
                sizes,
                hidden_size=self.hidden_size,
                learning_rate=self.learning_rate,
                tanh_constant=2.5,
                entropy_weight=self.entropy_weight,
                seed=self.seed,
                dtype=torch.float64,
            )
        else:
            policy = IndependentPolicy(sizes, self.learning_rate)
        return Replay(policy, self.baseline_momentum)

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator) -> Arch:
        """Learn from the trials completed since the last proposal, then sample the policy."""
        sign = 1.0 if single_direction(study, self.direction, "reinforce") == "maximize" else -1.0
        with self._lock:
            replay = self._caught_up(study, sign)
            picks = replay.policy.sample(rng)
        return {
            name: self._choices[d][i]
            for d, (name, i) in enumerate(zip(self._distributions, picks, strict=False))
        }

    def _caught_up(self, study: Study, sign: float) -> Replay:
        """The policy learnt from every usable completed trial, in trial order."""
        trials = study.get_trials(deepcopy=False)
        running = min((t.number for t in trials if not t.state.is_finished()), default=math.inf)
        usable = [
            t
            for t in trials
            if t.state == TrialState.COMPLETE
            and math.isfinite(t.values[0])
            and len(self.known(t)) == len(self._choices)
        ]
        settled = [t for t in usable if t.number < running]
        if study.study_name != self._study:
            if self._study is not None:  # another study: start afresh
                self._settled, self._ahead = self._fresh(), None
            self._study = study.study_name
        self._settled = self._extended(self._settled, settled, None, sign)
        if len(settled) == len(usable):
            self._ahead = None
            return self._settled
        self._ahead = self._extended(self._ahead, usable, self._settled, sign)
        return self._ahead

    def _extended(
        self, replay: Replay | None, trials: list[FrozenTrial], start: Replay | None, sign: float
    ) -> Replay:
        """``replay`` having learnt ``trials`` in order, if it learnt a prefix of them; else a copy of
        ``start`` (or a fresh policy) that has."""
        numbers = [t.number for t in trials]
        if replay is None or numbers[: len(replay.numbers)] != replay.numbers:
            fits = start is not None and numbers[: len(start.numbers)] == start.numbers
            replay = start.clone() if fits else self._fresh()  # type: ignore[union-attr]
        for t in trials[len(replay.numbers) :]:
            known = self.known(t)
            choices = [
                self._choices[d].index(known[name]) for d, name in enumerate(self._distributions)
            ]
            replay.learn(t.number, choices, sign * t.values[0], violation(t))
        return replay


def reinforce(
    space: SearchSpace,
    seed: int,
    objectives: dict[str, str],
    constraints: Sequence[Constraint] = (),
    *,
    controller: Literal["independent", "lstm"] = "independent",
    learning_rate: float = 0.01,
    baseline_momentum: float = 0.9,
    hidden_size: int = 64,
    entropy_weight: float = 0.0,
) -> ReinforceSampler:
    """REINFORCE: a policy over the decisions (independent softmaxes, or an LSTM controller)."""
    if len(objectives) != 1:
        raise NasError(
            f"strategy 'reinforce' optimises one objective but the config lists {list(objectives)}; "
            "keep one objective or use evolution / nsga2 for several"
        )
    return ReinforceSampler(
        space,
        controller=controller,
        learning_rate=learning_rate,
        baseline_momentum=baseline_momentum,
        direction=next(iter(objectives.values())),
        hidden_size=hidden_size,
        entropy_weight=entropy_weight,
        seed=seed,
    )
