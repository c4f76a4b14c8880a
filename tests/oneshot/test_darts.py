"""DARTS searches: it finds a clearly best operation, the remedies act, derived cells build."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
import torch

from nas import NasError, create_space
from nas.data import subset
from nas.data.digits import digits
from nas.oneshot.base import SearchEnv
from nas.oneshot.darts import Darts, count_skips
from nas.supernet import HasMixedSupernet
from tests.oneshot.toy import ToyCellSpace, toy_data
from tests.search_spaces.conftest import SMALL_OPTIONS

TOY = {"epochs": 15, "batch_size": 32, "lr": 0.05, "arch_lr": 0.01}
CPU = torch.device("cpu")


def last_weights(folder: Path) -> pd.DataFrame:
    alphas = pd.read_csv(folder / "alphas.csv")
    return alphas[alphas["epoch"] == alphas["epoch"].max()]


@pytest.mark.parametrize(
    ("task", "order", "best"),
    [
        ("circles", 1, "square"),
        ("circles", 2, "square"),
        ("halfplanes", 1, "skip_connect"),
    ],
)
def test_darts_derives_the_operation_that_is_clearly_best(
    tmp_path: Path, task: str, order: int, best: str
) -> None:
    result = Darts(ToyCellSpace(), order=order, **TOY).search(
        SearchEnv(toy_data(task=task), tmp_path, 0, CPU)
    )
    assert result.arch == {"e0": best, "e1": best}
    assert result.metrics["supernet_val_accuracy"] > 80 and result.metrics["search_epochs"] == 15
    weights = last_weights(tmp_path)
    assert (weights.loc[weights["choice"] == best, "weight"] > 0.5).all()
    assert {"alphas.csv", "epochs.csv", "alphas.html", "checkpoint.pt"} <= {
        p.name for p in tmp_path.iterdir()
    }
    assert "plotly" in (tmp_path / "alphas.html").read_text()[:5000].lower()


def test_beta_decay_flattens_the_alphas_and_keeps_the_best_operation(tmp_path: Path) -> None:
    data = toy_data(task="circles")
    plain = Darts(ToyCellSpace(), **TOY).search(SearchEnv(data, tmp_path / "plain", 0, CPU))
    beta = Darts(ToyCellSpace(), beta_decay=2.0, **TOY).search(
        SearchEnv(data, tmp_path / "beta", 0, CPU)
    )
    assert plain.arch == beta.arch == {"e0": "square", "e1": "square"}
    assert (
        last_weights(tmp_path / "beta")["weight"].max()
        < last_weights(tmp_path / "plain")["weight"].max() - 0.05
    )
    ramp = pd.read_csv(tmp_path / "beta" / "epochs.csv")["beta_weight"]
    assert list(ramp) == pytest.approx([2.0 * e / 15 for e in range(15)])


def test_stop_at_skips_ends_the_search_once_the_cell_holds_that_many(tmp_path: Path) -> None:
    search = Darts(ToyCellSpace(), stop_at_skips=2, **TOY)
    result = search.search(SearchEnv(toy_data(task="halfplanes"), tmp_path, 0, CPU))
    epochs = pd.read_csv(tmp_path / "epochs.csv")
    assert result.metrics["search_epochs"] == len(epochs) < 15
    assert list(epochs["skips"])[-1] == count_skips(result.arch) == 2
    assert (epochs["skips"].iloc[:-1] < 2).all()


MIXED = [
    name
    for name in SMALL_OPTIONS
    if isinstance(create_space(name, **SMALL_OPTIONS[name]), HasMixedSupernet)
]


@pytest.mark.parametrize("name", MIXED)
def test_derived_architectures_validate_against_the_space_and_build(
    tmp_path: Path, name: str
) -> None:
    space = create_space(name, **SMALL_OPTIONS[name])
    data = digits()
    data = dataclasses.replace(data, train=subset(data.train, 0.15, 0))
    result = Darts(space, epochs=1, batch_size=64).search(SearchEnv(data, tmp_path, 0, CPU))
    assert space.validate(result.arch) == result.arch
    model = space.build(result.arch, num_classes=data.num_classes, input_shape=data.input_shape)
    assert model(torch.zeros(2, *data.input_shape)).shape == (2, data.num_classes)
    decisions = pd.read_csv(tmp_path / "alphas.csv")["decision"].unique()
    assert (
        len(decisions) >= len(space.decisions()) // 4
    )  # an edge per row (DARTS: 28 edges, 24 decisions)


def test_darts_refuses_a_space_without_a_mixed_supernet() -> None:
    with pytest.raises(NasError, match="mixed_supernet"):
        Darts(create_space("mbconv", **SMALL_OPTIONS["mbconv"]))
