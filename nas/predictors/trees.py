"""Gradient-boosted trees (scikit-learn) as a predictor; an ensemble of a few gives the uncertainty."""

from __future__ import annotations

import numpy as np

from nas.errors import NasError
from nas.predictors.base import Prediction, Predictor, Standardizer, check_training_set


class GradientBoosting(Predictor):
    """Gradient-boosted trees: ``members`` scikit-learn regressors, each on its own row subsample.

    Their mean is the prediction and their spread the uncertainty (``subsample`` < 1 makes them differ).
    """

    def __init__(
        self,
        *,
        members: int = 3,
        n_estimators: int = 100,
        max_depth: int = 3,
        learning_rate: float = 0.1,
        subsample: float = 0.8,
    ) -> None:
        if members < 1 or n_estimators < 1 or max_depth < 1 or not 0 < subsample <= 1:
            raise NasError(
                "gbt needs members >= 1, n_estimators >= 1, max_depth >= 1 and 0 < subsample <= 1, "
                f"got {members}, {n_estimators}, {max_depth}, {subsample}"
            )
        self.members = members
        self.options = {
            "n_estimators": n_estimators,
            "max_depth": max_depth,
            "learning_rate": learning_rate,
            "subsample": subsample,
        }
        self.models: list = []
        self.scale = Standardizer(np.zeros(1))

    def fit(self, x: np.ndarray, y: np.ndarray, *, seed: int) -> GradientBoosting:
        """Fit every member (member k with random state ``seed + k``)."""
        from sklearn.ensemble import GradientBoostingRegressor

        y = check_training_set(x, y)
        self.scale = Standardizer(y)
        target = self.scale.forward(y)
        self.models = [
            GradientBoostingRegressor(random_state=(seed + k) % 2**32, **self.options).fit(
                x, target
            )
            for k in range(self.members)
        ]
        return self

    def predict(self, x: np.ndarray) -> Prediction:
        """The members' mean and standard deviation."""
        if not self.models:
            raise NasError("gbt must be fitted before it predicts")
        out = np.stack([m.predict(x) for m in self.models])
        return self.scale.back(out.mean(axis=0), out.std(axis=0))
