"""The architecture step of DARTS (Liu et al. 2019), kept apart from the weight step.

First order: the gradient of the validation loss with respect to the alphas at the current
weights. Second order: the gradient of the validation loss after one virtual SGD step on the
training batch, ``w' = w - lr * (momentum * buffer + grad_w L_train(w, a) + weight_decay * w)``:

    grad_a L_val(w', a) - lr * (grad_a L_train(w+, a) - grad_a L_train(w-, a)) / (2 eps')

with ``w+- = w +- eps' * grad_w' L_val(w', a)`` and ``eps' = eps / |grad_w' L_val(w', a)|``, the
paper's finite-difference Hessian-vector product (eq. 7 and 8). The virtual step is taken in
place on the supernet's weights and undone exactly, rather than on a copy of the network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import nn

from nas.supernet import MixedSupernet

Batch = tuple[torch.Tensor, torch.Tensor]
#: A function of the alphas added to the architecture loss (a collapse remedy), or None.
Regularizer = Callable[[Sequence[torch.Tensor]], torch.Tensor]


def _grads(loss: torch.Tensor, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    grads = torch.autograd.grad(loss, list(params), allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=False)]


class Architect:
    """Computes the alphas' gradient for one step and applies the architecture optimiser."""

    def __init__(
        self,
        model: MixedSupernet,
        weight_optimizer: torch.optim.SGD,
        arch_optimizer: torch.optim.Optimizer,
        *,
        order: Literal[1, 2] = 1,
        hvp_epsilon: float = 0.01,
    ) -> None:
        self.model = model
        self.weight_optimizer = weight_optimizer
        self.arch_optimizer = arch_optimizer
        self.order = order
        self.hvp_epsilon = hvp_epsilon
        self.criterion = nn.CrossEntropyLoss()
        group = weight_optimizer.param_groups[0]
        self.momentum = float(group.get("momentum", 0.0))
        self.weight_decay = float(group.get("weight_decay", 0.0))

    def loss(self, batch: Batch) -> torch.Tensor:
        """Cross-entropy of the supernet on a batch."""
        x, y = batch
        return self.criterion(self.model(x), y)

    def step(
        self, train: Batch, val: Batch, lr: float, regularizer: Regularizer | None = None
    ) -> float:
        """One Adam step on the alphas; returns the validation loss it was computed from."""
        alphas = self.model.arch_parameters()
        if self.order == 2:
            grads, val_loss = self.hypergradient(train, val, lr)
        else:
            loss = self.loss(val)
            grads, val_loss = _grads(loss, alphas), loss.item()
        if regularizer is not None:
            grads = [
                g + r for g, r in zip(grads, _grads(regularizer(alphas), alphas), strict=False)
            ]
        for alpha, g in zip(alphas, grads, strict=False):
            alpha.grad = g.detach()
        self.arch_optimizer.step()
        self.arch_optimizer.zero_grad(set_to_none=True)
        return val_loss

    def hypergradient(
        self, train: Batch, val: Batch, lr: float
    ) -> tuple[list[torch.Tensor], float]:
        """The second-order gradient of the alphas (eq. 7-8 of the paper) and the unrolled validation loss."""
        weights, alphas = self.model.weight_parameters(), self.model.arch_parameters()
        saved = [w.detach().clone() for w in weights]
        train_grads = _grads(self.loss(train), weights)
        with torch.no_grad():
            for w, g in zip(weights, train_grads, strict=False):
                step = g + self.weight_decay * w
                buffer = self.weight_optimizer.state.get(w, {}).get("momentum_buffer")
                if buffer is not None and self.momentum:
                    step = step + self.momentum * buffer
                w.sub_(lr * step)
        val_loss = self.loss(val)
        unrolled = _grads(val_loss, [*alphas, *weights])
        direct, vector = unrolled[: len(alphas)], unrolled[len(alphas) :]
        self._restore(weights, saved)
        implicit = self.hessian_vector_product(train, vector, saved)
        return [d - lr * h for d, h in zip(direct, implicit, strict=False)], val_loss.item()

    def hessian_vector_product(
        self,
        train: Batch,
        vector: Sequence[torch.Tensor],
        saved: Sequence[torch.Tensor],
    ) -> list[torch.Tensor]:
        """(grad_a L_train(w + r v) - grad_a L_train(w - r v)) / 2r with r = eps / |v| (eq. 8)."""
        weights, alphas = self.model.weight_parameters(), self.model.arch_parameters()
        norm = torch.cat([v.reshape(-1) for v in vector]).norm()
        r = self.hvp_epsilon / norm.clamp_min(1e-12)
        grads = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for w, s, v in zip(weights, saved, vector, strict=False):
                    w.copy_(s + sign * r * v)
            grads.append(_grads(self.loss(train), alphas))
        self._restore(weights, saved)
        return [(p - n) / (2 * r) for p, n in zip(*grads, strict=False)]

    @staticmethod
    def _restore(weights: Sequence[torch.Tensor], saved: Sequence[torch.Tensor]) -> None:
        with torch.no_grad():
            for w, s in zip(weights, saved, strict=False):
                w.copy_(s)
