"""A Gaussian process on the encoded architectures, in numpy.

Kernels: ``tanimoto`` (Σ min / Σ max of two feature rows: on path counts a graph kernel that
compares the operation sequences two cells share, in the spirit of NAS-BOWL's graph kernels) or
``rbf`` on the squared Euclidean distance (on one-hot rows, the Hamming distance). The signal
variance is profiled out of the marginal likelihood; the noise level (and the RBF length scale)
are the best of a small grid by marginal likelihood, so a fit is deterministic and has no
optimiser to go astray.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from nas.errors import NasError
from nas.predictors.base import Prediction, Predictor, Standardizer, check_training_set

#: Noise levels (as a share of the signal variance) tried by marginal likelihood.
NOISE_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
#: RBF length scales, as multiples of the median distance between training rows.
SCALE_GRID = (0.25, 0.5, 1.0, 2.0)


def tanimoto(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ min(a, b) / Σ max(a, b) for every pair of rows of non-negative ``a`` and ``b`` (1 for two zero rows)."""
    low = np.minimum(a[:, None, :], b[None, :, :]).sum(-1)
    high = np.maximum(a[:, None, :], b[None, :, :]).sum(-1)
    return np.where(high > 0, low / np.maximum(high, 1e-12), 1.0)


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance between every pair of rows."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


class GaussianProcess(Predictor):
    """GP regression with a ``kernel`` (``tanimoto`` or ``rbf``) and hyperparameters chosen by marginal likelihood."""

    def __init__(self, *, kernel: Literal["tanimoto", "rbf"] = "tanimoto") -> None:
        if kernel not in ("tanimoto", "rbf"):
            raise NasError(f"gp kernel must be 'tanimoto' or 'rbf', got {kernel!r}")
        self.kernel = kernel
        self.length_scale = 1.0
        self.x = np.zeros((0, 0))
        self.scale = Standardizer(np.zeros(1))

    def _k(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self.kernel == "tanimoto":
            return tanimoto(a, b)
        return np.exp(-0.5 * squared_distances(a, b) / self.length_scale**2)

    def fit(self, x: np.ndarray, y: np.ndarray, *, seed: int) -> GaussianProcess:
        """Choose noise (and length scale) by marginal likelihood and condition on the data."""
        y = check_training_set(x, y)
        if self.kernel == "tanimoto" and (x < 0).any():
            raise NasError("the tanimoto kernel needs non-negative features; use kernel: rbf")
        self.x = np.asarray(x, dtype=float)
        self.scale = Standardizer(y)
        target = self.scale.forward(y)
        scales = [1.0]
        if self.kernel == "rbf":
            dist = np.sqrt(squared_distances(self.x, self.x))
            median = float(np.median(dist[dist > 0])) if (dist > 0).any() else 1.0
            scales = [s * median for s in SCALE_GRID]
        best: tuple[float, float, float] | None = None
        for length in scales:
            self.length_scale = length
            gram = self._k(self.x, self.x)
            for noise in NOISE_GRID:
                ll = _log_likelihood(gram, noise, target)
                if best is None or ll > best[0]:
                    best = (ll, length, noise)
        assert best is not None
        _, self.length_scale, self.noise = best
        gram = self._k(self.x, self.x) + self.noise * np.eye(len(target))
        self._chol = np.linalg.cholesky(gram)
        self._alpha = np.linalg.solve(self._chol.T, np.linalg.solve(self._chol, target))
        self._signal = float(target @ self._alpha) / len(target)  # profiled signal variance
        return self

    def predict(self, x: np.ndarray) -> Prediction:
        """Posterior mean and standard deviation of the latent function."""
        if not len(self.x):
            raise NasError("gp must be fitted before it predicts")
        cross = self._k(np.asarray(x, dtype=float), self.x)
        mean = cross @ self._alpha
        v = np.linalg.solve(self._chol, cross.T)
        var = np.maximum(1.0 - (v * v).sum(0), 1e-12) * self._signal  # both kernels: k(x, x) = 1
        return self.scale.back(mean, np.sqrt(var))


def _log_likelihood(gram: np.ndarray, noise: float, y: np.ndarray) -> float:
    """Log marginal likelihood (up to a constant) with the signal variance profiled out."""
    try:
        chol = np.linalg.cholesky(gram + noise * np.eye(len(y)))
    except np.linalg.LinAlgError:
        return -np.inf
    a = np.linalg.solve(chol, y)
    n = len(y)
    return float(-0.5 * n * np.log(max(float(a @ a) / n, 1e-300)) - np.log(np.diag(chol)).sum())
