"""Latency profiles: the file format, its checks, lookup-table prediction and few-shot transfer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from nas.arch import Choice
from nas.config import CostsConfig
from nas.costs.measure import cost_metrics
from nas.costs.profile import LatencyProfile, load_profile, predicted_latency, read_profile
from nas.costs.profiling import fit_overhead, profile_device, time_module
from nas.costs.transfer import META_TRAIN, design, device_latency, fit_transfer, table_archs
from nas.costs.units import LatencyProfilable, LatencyUnit
from nas.errors import NasError
from nas.factories import create_space
from nas.registry import SPACES
from nas.space import SearchSpace

SHAPE = (3, 8, 8)
TINY = {"nb201": {"channels": 4, "cells_per_stage": 1}, "darts": {"channels": 4, "layers": 3}}
FAST = {"repeats": 3, "warmup": 0}


class OneConvSpace(SearchSpace):
    """A third party's space whose network is a single convolution: its kernel size is the choice."""

    name = "one_conv"

    def decisions(self) -> dict[str, tuple[Choice, ...]]:
        return {"kernel": (1, 3)}

    def build(
        self, arch: Mapping[str, Choice], *, num_classes: int, input_shape=SHAPE
    ) -> nn.Module:
        return self.build_latency_unit(self.latency_units(arch, input_shape)[0])

    def latency_units(self, arch: Mapping[str, Choice], input_shape) -> list[LatencyUnit]:
        k = int(self.validate(arch)["kernel"])
        return [LatencyUnit("conv", tuple(input_shape), 8, 1, (("kernel", k),))]

    def all_latency_units(self, input_shape) -> list[LatencyUnit]:
        return [u for k in (1, 3) for u in self.latency_units({"kernel": k}, input_shape)]

    def build_latency_unit(self, unit: LatencyUnit) -> nn.Module:
        k = dict(unit.extra)["kernel"]
        return nn.Conv2d(unit.input_shape[0], unit.channels, k, padding=k // 2)


@pytest.fixture(scope="module")
def nb201_profile(tmp_path_factory: pytest.TempPathFactory) -> tuple[LatencyProfile, Path]:
    space = create_space("nb201", **TINY["nb201"])
    profile = profile_device(space, SHAPE, batch_sizes=[1, 2], samples=3, **FAST)
    return profile, profile.save(tmp_path_factory.mktemp("profile") / "nb201.json")


def test_profile_file_round_trips(nb201_profile: tuple[LatencyProfile, Path]) -> None:
    profile, path = nb201_profile
    again = read_profile(path)
    assert again == profile
    assert json.loads(path.read_text())["format"] == "nas-latency-profile"  # plain JSON
    space = create_space("nb201", **TINY["nb201"])
    arch = space.sample(np.random.default_rng(1))
    predicted = again.predict(arch, space)
    assert predicted == profile.predict(arch, space)
    assert set(predicted) == {"predicted_latency_ms", "predicted_latency_ms_b2"}
    assert all(v > 0 for v in predicted.values())


def test_a_tampered_profile_is_refused(
    nb201_profile: tuple[LatencyProfile, Path], tmp_path: Path
) -> None:
    data = json.loads(nb201_profile[1].read_text())
    key = next(iter(data["units"]["1"]))
    data["units"]["1"][key] /= 2
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    with pytest.raises(NasError, match="changed after nas profile wrote it"):
        read_profile(edited)
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(NasError, match="not a latency profile"):
        read_profile(tmp_path / "junk.json")


def test_a_profile_of_another_space_or_input_shape_is_refused(
    nb201_profile: tuple[LatencyProfile, Path],
) -> None:
    profile, path = nb201_profile
    arch = create_space("nb201").sample(np.random.default_rng(0))
    with pytest.raises(
        NasError, match=r"made for NB201Space\(channels=4.*not NB201Space\(channels=16"
    ):
        predicted_latency(str(path), arch, create_space("nb201"), SHAPE)
    with pytest.raises(NasError, match="measured on 3x8x8 inputs, this run's are 3x16x16"):
        predicted_latency(str(path), arch, create_space("nb201", **TINY["nb201"]), (3, 16, 16))
    with pytest.raises(NasError, match="made for"):
        profile.check(create_space("darts"))


def test_prediction_is_exact_for_a_network_of_one_profiled_op(tmp_path: Path) -> None:
    space = OneConvSpace()
    assert isinstance(space, LatencyProfilable)
    profile = profile_device(space, SHAPE, samples=0, **FAST)
    path = profile.save(tmp_path / "one.json")
    for k in (1, 3):
        unit = space.latency_units({"kernel": k}, SHAPE)[0]
        got = predicted_latency(str(path), {"kernel": k}, space, SHAPE)
        assert got == {"predicted_latency_ms": profile.units["1"][unit.key()]}
    assert load_profile(path) is load_profile(path)  # read once per file version


def test_the_overhead_fit_corrects_a_sum_that_misses_fixed_parts() -> None:
    sums = [1.0, 2.0, 4.0]
    assert fit_overhead(sums, [2 * s + 0.5 for s in sums]) == pytest.approx([2.0, 0.5])
    assert fit_overhead([1.0], [1.5]) == pytest.approx([1.0, 0.5])  # one sample: an offset only
    assert fit_overhead([], []) == [1.0, 0.0]


#: The shipped spaces that describe their operations as latency units (unet does not).
PROFILABLE = ("nb201", "darts", "mbconv")


def test_every_shipped_space_is_profilable_or_refused_in_one_line() -> None:
    shipped = {"nb201", "darts", "mbconv", "unet"}
    assert shipped <= set(SPACES.names())
    for name in shipped - set(PROFILABLE):
        with pytest.raises(
            NasError, match=r"cannot be profiled per operation: it needs latency_units"
        ):
            profile_device(create_space(name), SHAPE, samples=0, **FAST)


@pytest.mark.parametrize("name", PROFILABLE)
def test_every_profilable_space_prices_its_candidates_by_units(name: str) -> None:
    options = TINY.get(name, {"width_coefficient": 0.25, "layers": [2, 1]})
    space = create_space(name, **options)
    shape = (3, 8, 8) if name != "darts" else (3, 4, 4)
    every = set(space.all_latency_units(shape))
    rng = np.random.default_rng(0)
    for _ in range(20):
        units = space.latency_units(space.sample(rng), shape)
        assert units and set(units) <= every
    unit = sorted(every, key=LatencyUnit.key)[0]
    out = space.build_latency_unit(unit).eval()(torch.zeros(1, *unit.input_shape))
    assert out.shape[1] == unit.channels


def test_nb201_units_count_what_the_cell_runs() -> None:
    space = create_space("nb201", channels=4, cells_per_stage=2)
    empty = space.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert [u.op for u in space.latency_units(empty, SHAPE)] == ["zeros"] * 3 * 3 * 2
    full = space.parse(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|"
    )
    ops = [u.op for u in space.latency_units(full, SHAPE)]
    assert ops.count("nor_conv_3x3") == 2 * 6 and ops.count("add") == 6  # node 2 adds two terms
    assert {u.input_shape for u in space.latency_units(full, SHAPE)} == {
        (4, 8, 8),
        (8, 4, 4),
        (16, 2, 2),
    }


def test_transfer_recovers_a_device_it_was_meta_trained_on() -> None:
    archs = design(10)
    assert len(set(archs)) == 10 and design(10) == archs  # a fixed design
    truth = device_latency("pixel3")
    index = {a: i for i, a in enumerate(table_archs())}
    model = fit_transfer({a: float(truth[index[a]]) for a in archs})
    assert model.devices == META_TRAIN
    assert spearmanr(model.predict(), truth).statistic > 0.95  # one-hot ridge on 20: about 0.7


def test_transfer_is_refused_outside_nb201() -> None:
    with pytest.raises(NasError, match="exist only for the nb201 space"):
        profile_device(create_space("darts"), (3, 32, 32), method="transfer", samples=2)


def test_cost_metrics_add_the_predicted_latency(nb201_profile: tuple[LatencyProfile, Path]) -> None:
    profile, path = nb201_profile
    space = create_space("nb201", **TINY["nb201"])
    arch = space.sample(np.random.default_rng(2))
    model = space.build(arch, num_classes=10, input_shape=SHAPE)
    costs = CostsConfig(memory=False, latency_profile=str(path))
    metrics = cost_metrics(model, SHAPE, costs, arch=arch, space=space)
    assert metrics["predicted_latency_ms"] == profile.predict(arch, space)["predicted_latency_ms"]


def test_onnxruntime_backend_times_the_exported_graph() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    assert (
        time_module(model, SHAPE, 2, device=torch.device("cpu"), backend="onnxruntime", **FAST) > 0
    )


def test_the_thread_clock_times_one_cpu_thread() -> None:
    model = nn.Conv2d(3, 4, 3, padding=1)
    assert time_module(model, SHAPE, 1, device=torch.device("cpu"), clock="thread", **FAST) > 0
    space = create_space("nb201", **TINY["nb201"])
    with pytest.raises(NasError, match="--clock thread times one CPU thread"):
        profile_device(space, SHAPE, clock="thread", threads=2, **FAST)


def test_a_unit_without_weights_is_timed_on_the_profiled_device() -> None:
    """A pooling or skip unit has no parameters to say where it lives: it must still be timed on
    the device being profiled (here 'meta', which any tensor can be put on), not on the CPU."""
    from nas.costs.profiling import time_module

    seen: list[torch.device] = []

    class Probe(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x.device)
            return x

    time_module(Probe(), (2, 4, 4), 3, device=torch.device("meta"), repeats=1, warmup=0)
    assert seen and all(d.type == "meta" for d in seen)
