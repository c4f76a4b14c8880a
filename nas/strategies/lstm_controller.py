"""The NASNet / ENAS controller: an LSTM that emits one decision per step (torch, CPU)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

#: ENAS squashes the logits as ``tanh_constant * tanh(logits / temperature)``.
TANH_CONSTANT = 2.5
TEMPERATURE = 5.0


class _Controller(nn.Module):
    def __init__(self, sizes: Sequence[int], hidden: int) -> None:
        super().__init__()
        self.sizes = list(sizes)
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.cell = nn.LSTMCell(hidden, hidden)
        self.embed = nn.ModuleList(nn.Embedding(n, hidden) for n in self.sizes)
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in self.sizes)

    def step(self, d: int, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None):
        h, c = self.cell(x, state)
        logits = TANH_CONSTANT * torch.tanh(self.heads[d](h) / TEMPERATURE)
        return torch.log_softmax(logits, dim=-1)[0], (h, c)


class LSTMPolicy:
    """Samples decisions autoregressively; learns with Adam on -advantage * log p - w * entropy."""

    def __init__(self, sizes: Sequence[int], learning_rate: float, hidden_size: int,
                 entropy_weight: float, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.net = _Controller(sizes, hidden_size).double()
        with torch.no_grad():
            for p in self.net.parameters():
                p.uniform_(-0.1, 0.1, generator=generator)  # ENAS's initialisation
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=learning_rate)
        self.entropy_weight = entropy_weight

    def sample(self, rng: np.random.Generator) -> list[int]:
        """Draw decisions one after another, each fed back as the next input."""
        picks: list[int] = []
        with torch.no_grad():
            x, state = self.net.start, None
            for d in range(len(self.net.sizes)):
                logp, state = self.net.step(d, x, state)
                p = logp.exp().numpy()
                picks.append(int(rng.choice(len(p), p=p / p.sum())))
                x = self.net.embed[d](torch.tensor([picks[-1]]))
        return picks

    def learn(self, choices: list[int], advantage: float) -> None:
        """One Adam step for a rewarded sample."""
        x, state = self.net.start, None
        log_prob = torch.zeros((), dtype=torch.float64)
        entropy = torch.zeros((), dtype=torch.float64)
        for d, choice in enumerate(choices):
            logp, state = self.net.step(d, x, state)
            log_prob = log_prob + logp[choice]
            entropy = entropy - (logp.exp() * logp).sum()
            x = self.net.embed[d](torch.tensor([choice]))
        loss = -advantage * log_prob - self.entropy_weight * entropy
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
