"""Every registered predictor ranks held-out NAS-Bench-201 architectures and beats the mean predictor.

Parametrised over the predictor registry, so a new predictor is tested by default: fitted on 100
random architectures of the shipped table (12-epoch CIFAR-10 validation accuracy, the search
signal, on the path encoding), it must reach Kendall's tau >= 0.5 on 1,000 held-out ones and a
smaller RMSE than the training mean. Fits are seeded and start afresh (no state carried over).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from nas import NasError, create_space
from nas.predictors import MeanPredictor, Predictor, encoding
from nas.registry import PREDICTORS
from nas.tables import nb201_table_path
from search_spaces.nb201 import str_to_arch

TRAIN, HELD_OUT = 100, 1000
NAMES = [name for name in PREDICTORS.names() if name != "mean"]


@lru_cache(maxsize=1)
def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Path-encoded architectures and CIFAR-10 validation accuracies: a training and a held-out set."""
    frame = pd.read_csv(nb201_table_path())
    order = np.random.default_rng(0).permutation(len(frame))[: TRAIN + HELD_OUT]
    archs = [str_to_arch(s) for s in frame["arch_str"].to_numpy()[order]]
    x = encoding(create_space("nb201"), "path").encode(archs)
    y = frame["cifar10_val_12ep"].to_numpy()[order]
    return x[:TRAIN], y[:TRAIN], x[TRAIN:], y[TRAIN:]


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


@pytest.mark.parametrize("name", NAMES)
def test_ranks_held_out_architectures_and_beats_the_mean_predictor(name: str) -> None:
    x, y, x_test, y_test = split()
    model: Predictor = PREDICTORS.get(name)().fit(x, y, seed=0)
    prediction = model.predict(x_test)
    tau = kendalltau(prediction.mean, y_test)[0]
    baseline = MeanPredictor().fit(x, y, seed=0).predict(x_test)
    assert tau >= 0.5, f"{name}: Kendall tau {tau:.3f} on held-out architectures"
    assert rmse(prediction.mean, y_test) < rmse(baseline.mean, y_test)
    assert prediction.std.shape == y_test.shape
    assert np.isfinite(prediction.std).all() and (prediction.std >= 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_a_fit_is_seeded_and_starts_afresh(name: str) -> None:
    x, y, x_test, _ = split()
    first = PREDICTORS.get(name)().fit(x, y, seed=3).predict(x_test)
    model = PREDICTORS.get(name)().fit(x[:50], y[:50] + 10.0, seed=4)  # other data, other seed
    again = model.fit(x, y, seed=3).predict(x_test)  # the same object, refitted
    np.testing.assert_allclose(again.mean, first.mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(again.std, first.std, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", PREDICTORS.names())
def test_bad_training_sets_and_unfitted_models_get_one_clear_line(name: str) -> None:
    x, y, _, _ = split()
    factory = PREDICTORS.get(name)
    with pytest.raises(NasError, match="at least 2 rows of features"):
        factory().fit(x[:10], y[:9], seed=0)
    with pytest.raises(NasError, match="targets must be finite"):
        factory().fit(x[:10], np.r_[y[:9], np.nan], seed=0)
    if name != "mean":
        with pytest.raises(NasError, match="must be fitted before it predicts"):
            factory().predict(x[:3])


def test_bad_options_are_refused_when_the_predictor_is_built() -> None:
    with pytest.raises(NasError, match="mlp_ensemble needs members >= 1"):
        PREDICTORS.get("mlp_ensemble")(members=0)
    with pytest.raises(NasError, match="gbt needs"):
        PREDICTORS.get("gbt")(subsample=0.0)
    with pytest.raises(NasError, match="gp kernel must be"):
        PREDICTORS.get("gp")(kernel="linear")
    with pytest.raises(NasError, match="tanimoto kernel needs non-negative features"):
        PREDICTORS.get("gp")().fit(-np.ones((3, 2)), np.arange(3.0), seed=0)


def test_the_mean_predictor_predicts_the_training_mean() -> None:
    prediction = (
        MeanPredictor().fit(np.eye(3), np.array([1.0, 2.0, 6.0]), seed=0).predict(np.eye(2))
    )
    assert prediction.mean.tolist() == [3.0, 3.0]
    assert prediction.std == pytest.approx([np.std([1.0, 2.0, 6.0])] * 2)
