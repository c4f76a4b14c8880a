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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np
from optuna.study import Study
from optuna.trial import FrozenTrial

from nas.arch import Arch
from nas.constraints import Constraint
from nas.errors import NasError
from nas.space import SearchSpace
from nas.strategies.base import SpaceSampler, violation


class Policy(Protocol):
    """A distribution over architectures that learns from rewarded samples."""

    def sample(self, rng: np.random.Generator) -> list[int]:
        """Choice indices, one per decision."""

    def learn(self, choices: list[int], advantage: float) -> None:
        """One policy-gradient step for a sample with this advantage."""


class MovingAverage:
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
            m_hat = self._m[d] / (1 - b1 ** self._steps)
            v_hat = self._v[d] / (1 - b2 ** self._steps)
            self.logits[d] -= self.lr * m_hat / (np.sqrt(v_hat) + eps)


class ReinforceSampler(SpaceSampler):
    """Samples architectures from a learnt policy; every completed trial is one REINFORCE step."""

    def __init__(
        self, space: SearchSpace, *, controller: Literal["independent", "lstm"] = "independent",
        learning_rate: float = 0.01, baseline_momentum: float = 0.9, direction: str = "maximize",
        hidden_size: int = 64, entropy_weight: float = 0.0, seed: int | None = None,
    ) -> None:
        super().__init__(space, seed)
        if learning_rate <= 0 or not 0 <= baseline_momentum < 1:
            raise NasError(f"reinforce needs learning_rate > 0 and 0 <= baseline_momentum < 1, "
                           f"got {learning_rate} and {baseline_momentum}")
        self.controller = controller
        self.learning_rate = learning_rate
        self.baseline_momentum = baseline_momentum
        self.sign = 1.0 if direction == "maximize" else -1.0
        self.hidden_size = hidden_size
        self.entropy_weight = entropy_weight
        self._choices = [list(c) for c in space.decisions().values()]
        self._reset()

    def _reset(self) -> None:
        sizes = [len(c) for c in self._choices]
        if self.controller == "lstm":
            import torch

            from nas.strategies.lstm_controller import LSTMController

            # float64 so that replaying the study's history rebuilds the policy exactly
            self.policy: Policy = LSTMController(
                sizes, hidden_size=self.hidden_size, learning_rate=self.learning_rate, tanh_constant=2.5,
                entropy_weight=self.entropy_weight, seed=self.seed, dtype=torch.float64)
        else:
            self.policy = IndependentPolicy(sizes, self.learning_rate)
        self.baseline = MovingAverage(self.baseline_momentum)
        self._learnt: list[int] = []
        self._worst: float | None = None

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator) -> Arch:
        """Learn from the trials completed since the last proposal, then sample the policy."""
        self._catch_up(self.completed(study))
        picks = self.policy.sample(rng)
        return {name: self._choices[d][i] for d, (name, i) in enumerate(zip(self._distributions, picks))}

    def _catch_up(self, done: list[FrozenTrial]) -> None:
        k = len(self._learnt)
        if k > len(done) or [t.number for t in done[:k]] != self._learnt:
            self._reset()  # another study, or trials finished out of order: replay from scratch
            k = 0
        for t in done[k:]:
            choices = [self._choices[d].index(t.params[name]) for d, name in enumerate(self._distributions)]
            reward = self._reward(t)
            self.policy.learn(choices, reward - self.baseline.update(reward))
            self._learnt.append(t.number)

    def _reward(self, trial: FrozenTrial) -> float:
        # an infeasible architecture earns the worst reward seen so far: no push towards it
        value = self.sign * trial.values[0]
        if violation(trial) > 0:
            return value if self._worst is None else min(value, self._worst)
        self._worst = value if self._worst is None else min(value, self._worst)
        return value


def reinforce(
    space: SearchSpace, seed: int, objectives: dict[str, str], constraints: Sequence[Constraint] = (), *,
    controller: Literal["independent", "lstm"] = "independent", learning_rate: float = 0.01,
    baseline_momentum: float = 0.9, hidden_size: int = 64, entropy_weight: float = 0.0,
) -> ReinforceSampler:
    """REINFORCE: a policy over the decisions (independent softmaxes, or an LSTM controller)."""
    if len(objectives) != 1:
        raise NasError(f"strategy 'reinforce' optimises one objective but the config lists {list(objectives)}; "
                       "keep one objective or use evolution / nsga2 for several")
    return ReinforceSampler(
        space, controller=controller, learning_rate=learning_rate, baseline_momentum=baseline_momentum,
        direction=next(iter(objectives.values())), hidden_size=hidden_size,
        entropy_weight=entropy_weight, seed=seed,
    )
