"""ENAS: the controller learns to sample the best subnet; derived architectures build."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from nas import NasError, create_space
from nas.data import subset
from nas.data.digits import digits
from nas.oneshot.base import SearchEnv
from nas.oneshot.enas import Enas, batch_statistics
from nas.space import SearchSpace
from nas.strategies.lstm_controller import LSTMController
from nas.supernet import HasSupernet
from tests.oneshot.toy import ToyCellSpace, toy_data
from tests.search_spaces.conftest import SMALL_OPTIONS

CPU = torch.device("cpu")


def test_the_controller_reward_rises_and_it_settles_on_the_best_subnet(tmp_path: Path) -> None:
    search = Enas(
        ToyCellSpace(),
        epochs=8,
        batch_size=32,
        controller_steps=50,
        controller_lr=0.01,
        derive_samples=20,
    )
    result = search.search(SearchEnv(toy_data(task="circles"), tmp_path, 0, CPU))
    assert result.arch == {"e0": "square", "e1": "square"}
    epochs = pd.read_csv(tmp_path / "epochs.csv")
    assert epochs["reward"].iloc[-3:].mean() > epochs["reward"].iloc[0] + 15
    assert epochs["entropy"].iloc[-1] < epochs["entropy"].iloc[0] - 0.5
    frequencies = pd.read_csv(tmp_path / "alphas.csv")
    square = frequencies[frequencies["choice"] == "square"].groupby("epoch")["weight"].mean()
    assert square.iloc[0] < 0.5 < square.iloc[-3:].mean()  # from about a third to most samples
    assert result.metrics["supernet_val_accuracy"] > 80


def test_the_controller_alone_learns_a_fixed_reward() -> None:
    controller = LSTMController([3, 4], learning_rate=0.01, tanh_constant=2.5, seed=0)
    rng = np.random.default_rng(0)
    baseline = 0.0
    hits = []
    for _ in range(200):
        picks = controller.sample(rng)
        reward = float(picks == [2, 1])
        baseline = 0.9 * baseline + 0.1 * reward
        controller.learn(picks, reward - baseline)
        hits.append(reward)
    assert np.mean(hits[:20]) < 0.2 and np.mean(hits[-50:]) > 0.9  # 1 in 12 at random
    clone = LSTMController([3, 4], seed=1)
    clone.load_state_dict(controller.state_dict())
    assert clone.sample(np.random.default_rng(5)) == controller.sample(np.random.default_rng(5))


def _with_supernet(name: str) -> bool:
    """A classification space with a supernet (ENAS rewards accuracy; unet is refused)."""
    space = create_space(name, **SMALL_OPTIONS[name])
    return isinstance(space, HasSupernet) and space.task == "classification"


@pytest.mark.parametrize("name", [n for n in SMALL_OPTIONS if _with_supernet(n)])
def test_derived_architectures_validate_against_the_space_and_build(
    tmp_path: Path, name: str
) -> None:
    space: SearchSpace = create_space(name, **SMALL_OPTIONS[name])
    data = digits()
    data = dataclasses.replace(data, train=subset(data.train, 0.15, 0))
    search = Enas(space, epochs=1, batch_size=64, controller_steps=5, derive_samples=3)
    result = search.search(SearchEnv(data, tmp_path, 0, CPU))
    assert space.validate(result.arch) == result.arch
    model = space.build(result.arch, num_classes=data.num_classes, input_shape=data.input_shape)
    assert model(torch.zeros(2, *data.input_shape)).shape == (2, data.num_classes)
    assert set(pd.read_csv(tmp_path / "alphas.csv")["decision"]) == set(space.decisions())


def test_batch_statistics_leave_the_running_statistics_alone() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with batch_statistics(model):
        out = model(torch.randn(8, 1, 3, 3) * 5 + 3)
    assert torch.allclose(
        out.mean(dim=(0, 2, 3)), torch.zeros(2), atol=1e-5
    )  # normalised by the batch
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert model.training


def test_enas_refuses_a_space_without_a_supernet() -> None:
    from tests.plugins import ToySpace

    with pytest.raises(NasError, match="supernet"):
        Enas(ToySpace())
    with pytest.raises(NasError, match="'enas' rewards classification accuracy; space 'unet'"):
        Enas(create_space("unet"))
