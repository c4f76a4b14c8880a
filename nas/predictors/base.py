"""The Predictor interface: fitted on encoded architectures, it predicts a mean and an uncertainty.

A predictor is a model of one objective over the feature rows an encoding gives
(:mod:`nas.predictors.encodings`). It is fitted from scratch on every call of :meth:`fit` and
holds nothing but that fit, so a strategy that refits it on a study's completed trials keeps no
state the study does not hold.

Example:
    >>> model = MeanPredictor().fit(np.eye(3), np.array([1.0, 2.0, 3.0]), seed=0)
    >>> model.predict(np.eye(3)).mean.tolist()
    [2.0, 2.0, 2.0]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from nas.errors import NasError


@dataclass(frozen=True)
class Prediction:
    """Predicted means and standard deviations (the model's uncertainty), one per row."""

    mean: np.ndarray
    std: np.ndarray

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One independent draw per row from N(mean, std): BANANAS' independent Thompson sampling."""
        return self.mean + self.std * rng.standard_normal(len(self.mean))

    def upper(self, kappa: float) -> np.ndarray:
        """The upper confidence bound ``mean + kappa * std``."""
        return self.mean + kappa * self.std


class Predictor(ABC):
    """A model of one objective: ``fit(x, y, seed)`` then ``predict(x) -> Prediction``."""

    @abstractmethod
    def fit(self, x: np.ndarray, y: np.ndarray, *, seed: int) -> Predictor:
        """Fit on feature rows ``x`` (n, d) and targets ``y`` (n,) afresh; returns self."""

    @abstractmethod
    def predict(self, x: np.ndarray) -> Prediction:
        """Mean and standard deviation for each row of ``x``."""


class MeanPredictor(Predictor):
    """The baseline every predictor must beat: the training mean, with the training spread."""

    def __init__(self) -> None:
        self.mean = 0.0
        self.std = 1.0

    def fit(self, x: np.ndarray, y: np.ndarray, *, seed: int) -> MeanPredictor:
        """Remember the targets' mean and standard deviation."""
        y = check_training_set(x, y)
        self.mean, self.std = float(y.mean()), float(y.std())
        return self

    def predict(self, x: np.ndarray) -> Prediction:
        """The training mean for every row."""
        n = len(x)
        return Prediction(np.full(n, self.mean), np.full(n, self.std))


def check_training_set(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y`` as a float vector matching ``x``'s rows, or a NasError naming the mismatch."""
    y = np.asarray(y, dtype=float).reshape(-1)
    if x.ndim != 2 or len(x) != len(y) or len(y) < 2:
        raise NasError(
            f"a predictor needs at least 2 rows of features (n, d) and one target per row, "
            f"got features of shape {x.shape} and {len(y)} targets"
        )
    if not np.isfinite(y).all():
        raise NasError("a predictor's targets must be finite (leave failed trials out)")
    return y


class Standardizer:
    """z-scores of the training targets, and back (a constant target gets unit scale)."""

    def __init__(self, y: np.ndarray) -> None:
        self.mu = float(y.mean())
        spread = float(y.std())
        self.sd = spread if spread > 0 else 1.0

    def forward(self, y: np.ndarray) -> np.ndarray:
        """Targets in z-scores."""
        return (y - self.mu) / self.sd

    def back(self, mean: np.ndarray, std: np.ndarray) -> Prediction:
        """A prediction in z-scores, in the targets' units."""
        return Prediction(mean * self.sd + self.mu, std * self.sd)
