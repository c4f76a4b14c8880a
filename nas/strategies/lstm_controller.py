"""The NASNet / ENAS controller (Zoph et al. 2018, Pham et al. 2018), shared by the black-box
``reinforce`` strategy (``controller: lstm``) and the one-shot ``enas`` strategy.

An LSTM emits one decision of the space after another, each fed back as the next input;
logits are squashed as ``tanh_constant * tanh(logits / temperature)``; REINFORCE with Adam on
``-advantage * log p(arch) - entropy_weight * entropy``.

Safe to share between threads (Optuna's ``n_jobs``): every use of the torch module holds the
controller's lock, since autograd and Adam's in-place steps on one module from two threads at
once corrupt it (or abort the process); sampling runs under ``torch.inference_mode``.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from nas.strategies.base import Guarded


class _LSTM(nn.Module):
    def __init__(self, sizes: Sequence[int], hidden: int) -> None:
        super().__init__()
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.cell = nn.LSTMCell(hidden, hidden)
        self.embed = nn.ModuleList(nn.Embedding(n, hidden) for n in sizes)
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in sizes)


class LSTMController(Guarded):
    """Samples choice indices, one per decision, autoregressively; learns by REINFORCE."""

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        hidden_size: int = 64,
        learning_rate: float = 0.0035,
        tanh_constant: float = 1.1,
        temperature: float = 5.0,
        entropy_weight: float = 1e-4,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.sizes = list(sizes)
        self._lock = threading.Lock()
        self.tanh_constant, self.temperature, self.entropy_weight = (
            tanh_constant,
            temperature,
            entropy_weight,
        )
        self.net = _LSTM(self.sizes, hidden_size)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.net.parameters():
                p.uniform_(-0.1, 0.1, generator=generator)  # ENAS's initialisation
        self.net.to(dtype)
        self.dtype = dtype
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=learning_rate)

    def _run(
        self,
        choices: Sequence[int] | None,
        rng: np.random.Generator | None,
    ) -> tuple[list[int], torch.Tensor, torch.Tensor]:
        """Run the LSTM over the decisions (drawing them from ``rng`` when ``choices`` is None):
        the choices, their log-probability and the entropy of the decisions along the way."""
        net = self.net
        x, state = net.start, None
        picks: list[int] = []
        log_prob, entropy = torch.zeros((), dtype=self.dtype), torch.zeros((), dtype=self.dtype)
        for d in range(len(self.sizes)):
            state = net.cell(x, state)
            logits = self.tanh_constant * torch.tanh(net.heads[d](state[0])[0] / self.temperature)
            logp = torch.log_softmax(logits, dim=-1)
            if choices is None:
                p = logp.detach().exp().double().numpy()
                picks.append(int(rng.choice(len(p), p=p / p.sum())))  # type: ignore[union-attr]
            else:
                picks.append(int(choices[d]))
            log_prob = log_prob + logp[picks[-1]]
            entropy = entropy - (logp.exp() * logp).sum()
            x = net.embed[d](torch.tensor([picks[-1]]))
        return picks, log_prob, entropy

    def sample(self, rng: np.random.Generator) -> list[int]:
        """Draw one architecture's choice indices."""
        return self.sample_with_entropy(rng)[0]

    def sample_with_entropy(self, rng: np.random.Generator) -> tuple[list[int], float]:
        """Draw choice indices, with the entropy of the decisions along the way."""
        with self._lock, torch.inference_mode():
            picks, _, entropy = self._run(None, rng)
            return picks, float(entropy)

    def learn(self, choices: Sequence[int], advantage: float) -> None:
        """One Adam step on ``-advantage * log p(choices) - entropy_weight * entropy``."""
        with self._lock:
            _, log_prob, entropy = self._run(choices, None)
            loss = -advantage * log_prob - self.entropy_weight * entropy
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            del log_prob, entropy, loss  # free the graph while the lock is held

    def state_dict(self) -> dict[str, Any]:
        """A copy of the LSTM's weights and its optimiser's state."""
        with self._lock:
            return copy.deepcopy(
                {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict()}
            )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""
        with self._lock:
            self.net.load_state_dict(state["net"])
            self.optimizer.load_state_dict(state["optimizer"])

    def clone(self) -> LSTMController:
        """An independent controller in the same state (it samples and learns exactly as this one would)."""
        with self._lock:
            net = copy.deepcopy(self.net)
            optimizer_state = copy.deepcopy(self.optimizer.state_dict())
        twin = copy.copy(self)  # with a lock of its own (Guarded)
        twin.net = net
        twin.optimizer = torch.optim.Adam(net.parameters(), lr=self.optimizer.defaults["lr"])
        twin.optimizer.load_state_dict(optimizer_state)
        return twin
