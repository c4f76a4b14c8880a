"""BANANAS' predictor: an ensemble of small fully connected networks (White et al., AAAI 2021).

The members differ only in their initial weights; the ensemble's mean and spread are the
prediction and its uncertainty. All members train together, full batch, with Adam, as one
batched numpy computation (no torch: a fit on 100 architectures takes about 40 ms on one core).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from nas.errors import NasError
from nas.predictors.base import Prediction, Predictor, Standardizer, check_training_set


class MLPEnsemble(Predictor):
    """An ensemble of ``members`` MLPs (ReLU, ``hidden`` widths) trained with Adam on z-scored targets.

    ``loss``: ``mae`` (BANANAS' choice; robust to the many broken architectures of a benchmark)
    or ``mse``. ``weight_decay`` is an L2 penalty on the weights.
    """

    def __init__(
        self,
        *,
        members: int = 5,
        hidden: list[int] | None = None,
        epochs: int = 100,
        learning_rate: float = 0.02,
        weight_decay: float = 1e-4,
        loss: Literal["mae", "mse"] = "mae",
    ) -> None:
        self.hidden = [32, 32] if hidden is None else list(hidden)
        if members < 1 or epochs < 1 or learning_rate <= 0 or any(h < 1 for h in self.hidden):
            raise NasError(
                "mlp_ensemble needs members >= 1, epochs >= 1, learning_rate > 0 and hidden "
                f"widths >= 1, got members={members}, epochs={epochs}, "
                f"learning_rate={learning_rate}, hidden={self.hidden}"
            )
        self.members = members
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.loss = loss
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []
        self.scale = Standardizer(np.zeros(1))

    def fit(self, x: np.ndarray, y: np.ndarray, *, seed: int) -> MLPEnsemble:
        """Train every member from its own initial weights (drawn with ``seed``)."""
        y = check_training_set(x, y)
        x = np.asarray(x, dtype=float)
        self.scale = Standardizer(y)
        target = self.scale.forward(y)[None, :, None]
        rng = np.random.default_rng(seed)
        sizes = [x.shape[1], *self.hidden, 1]
        self.weights = [
            rng.normal(0.0, np.sqrt(2.0 / a), (self.members, a, b))
            for a, b in zip(sizes, sizes[1:], strict=False)
        ]
        self.biases = [np.zeros((self.members, 1, b)) for b in sizes[1:]]
        params = [*self.weights, *self.biases]
        moments = [np.zeros_like(p) for p in params]
        squares = [np.zeros_like(p) for p in params]
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        n = len(y)
        for step in range(1, self.epochs + 1):
            out, acts = self._forward(x)
            err = out - target
            grad_out = np.sign(err) / n if self.loss == "mae" else 2.0 * err / n
            grads = self._backward(x, grad_out, acts)
            lr = self.learning_rate * np.sqrt(1 - beta2**step) / (1 - beta1**step)
            for p, g, m, v in zip(params, grads, moments, squares, strict=False):
                m *= beta1
                m += (1 - beta1) * g
                v *= beta2
                v += (1 - beta2) * g * g
                p -= lr * m / (np.sqrt(v) + eps)
        return self

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """The members' outputs (members, n, 1) and each hidden layer's input."""
        first, rest = self.weights[0], self.weights[1:]
        m, d, h = first.shape
        # the first layer of every member in one matrix product: (n, d) @ (d, members * h)
        out = (x @ first.transpose(1, 0, 2).reshape(d, m * h)).reshape(len(x), m, h)
        out = out.transpose(1, 0, 2) + self.biases[0]
        acts = []
        for w, b in zip(rest, self.biases[1:], strict=False):
            out = np.maximum(out, 0.0)
            acts.append(out)
            out = out @ w + b
        return out, acts

    def _backward(
        self, x: np.ndarray, grad: np.ndarray, acts: list[np.ndarray]
    ) -> list[np.ndarray]:
        """Gradients of the weights, then of the biases (the order of ``fit``'s parameters)."""
        layers = len(self.weights)
        gw: list[np.ndarray] = [np.empty(0)] * layers
        gb: list[np.ndarray] = [np.empty(0)] * layers
        for k in range(layers - 1, 0, -1):
            gw[k] = acts[k - 1].transpose(0, 2, 1) @ grad + self.weight_decay * self.weights[k]
            gb[k] = grad.sum(axis=1, keepdims=True)
            grad = (grad @ self.weights[k].transpose(0, 2, 1)) * (acts[k - 1] > 0)
        m, n, h = grad.shape
        flat = grad.transpose(1, 0, 2).reshape(n, m * h)  # one matrix product for every member
        gw[0] = (x.T @ flat).reshape(-1, m, h).transpose(1, 0, 2)
        gw[0] = gw[0] + self.weight_decay * self.weights[0]
        gb[0] = grad.sum(axis=1, keepdims=True)
        return [*gw, *gb]

    def predict(self, x: np.ndarray) -> Prediction:
        """The members' mean and standard deviation."""
        if not self.weights:
            raise NasError("mlp_ensemble must be fitted before it predicts")
        out = self._forward(np.asarray(x, dtype=float))[0][:, :, 0]
        return self.scale.back(out.mean(axis=0), out.std(axis=0))
