"""Searches on a real local Ray instance (2 CPUs): same run folder as in-process, retries, ASHA."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from torch import nn

from nas.arch import Choice
from nas.config import resolve_config
from nas.evaluators import EvalContext, Evaluator
from nas.executors.ddp import train_supernet_ddp
from nas.registry import DATASETS
from nas.runner import run_search
from nas.space import SearchSpace
from nas.supernet import Supernet
from nas.supernet_training import train_supernet
from nas.training import seeded
from tests.plugins import ToySpace

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance for the module (starting one takes seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


class CountingEvaluator(Evaluator):
    """Appends a line to ``attempts`` per evaluation; raises for a == ``fail_when_a`` with b == 'tanh'."""

    def __init__(self, context: EvalContext, *, attempts: str = "", fail_when_a: int = -1) -> None:
        self.attempts, self.fail_when_a = Path(attempts), fail_when_a

    def evaluate(self, arch: Mapping[str, Choice], space: SearchSpace, budget: Any = None,
                 report: Any = None) -> dict[str, Any]:
        """a + (b == 'tanh'), or an error."""
        with self.attempts.open("a") as fh:
            fh.write(f"{arch['a']}\n")
        if arch["a"] == self.fail_when_a and arch["b"] == "tanh":
            raise RuntimeError(f"candidate a={arch['a']} crashed")
        return {"val_accuracy": float(arch["a"]) + (arch["b"] == "tanh")}


class CurveEvaluator(Evaluator):
    """A learning curve per architecture, reported each epoch: accuracy = 10 a + epoch (+ 5 for tanh)."""

    def __init__(self, context: EvalContext, *, epochs: int = 9) -> None:
        self.epochs = epochs

    def evaluate(self, arch: Mapping[str, Choice], space: SearchSpace, budget: Any = None,
                 report: Any = None) -> dict[str, Any]:
        """Report every epoch's accuracy; return the last one."""
        value = 0.0
        for epoch in range(1, self.epochs + 1):
            value = 10.0 * arch["a"] + epoch + 5.0 * (arch["b"] == "tanh")
            time.sleep(0.05)
            if report is not None:
                report(epoch, value)
        return {"val_accuracy": value, "epochs": self.epochs}


def _ray(config: dict[str, Any], **executor: Any) -> dict[str, Any]:
    return {**config, "executor": {"name": "ray", "cpus_per_trial": 1, **executor}}


def test_ray_search_writes_the_in_process_run_folder(tiny_config: dict) -> None:
    config = {**tiny_config, "strategy": {"name": "random"}, "trials": 3}
    local = run_search(resolve_config(config), progress=False).run.path
    remote = run_search(resolve_config(_ray(config, max_concurrent=1)), progress=False).run.path
    assert {p.name for p in remote.iterdir()} - {"ray"} == {p.name for p in local.iterdir()}
    assert (remote / "ray").is_dir()  # Ray's own files stay in the run folder
    a, b = pd.read_csv(local / "trials.csv"), pd.read_csv(remote / "trials.csv")
    assert list(a.columns) == list(b.columns) and len(b) == 3 and set(b["state"]) == {"complete"}
    # the same seeded sampler proposes the same architectures; the same seeded training scores them alike
    same = ["trial", "arch_id", "val_accuracy", "params", "flops"]
    pd.testing.assert_frame_equal(a[same], b[same])


def test_a_trial_that_raises_is_retried_then_recorded_as_failed(tmp_path: Path) -> None:
    attempts = tmp_path / "attempts.txt"
    config = resolve_config(_ray({
        "name": "retry", "trials": 4, "space": {"name": "tests.plugins:ToySpace", "widths": 2},
        "strategy": {"name": "random"}, "output": str(tmp_path / "results"),
        "evaluator": {"name": "tests.executors.test_ray:CountingEvaluator", "attempts": str(attempts),
                      "fail_when_a": 1},
    }, max_retries=1, max_concurrent=2))
    result = run_search(config, progress=False)
    frame = pd.read_csv(result.run.path / "trials.csv")
    evaluated = frame[frame["duplicate_of"].isna()]
    assert len(evaluated) == 4 and evaluated["arch_id"].is_unique  # the whole space, each once
    failed = evaluated[evaluated["state"] == "fail"]
    assert len(failed) == 1 and "candidate a=1 crashed (after 1 retries)" in failed["error"].iloc[0]
    assert sorted(evaluated.loc[evaluated["state"] == "complete", "val_accuracy"]) == [0, 1, 1]
    tries = attempts.read_text().split()
    assert tries.count("1") == 2 + 1 and tries.count("0") == 2  # the failing one ran twice (1 retry)


def test_asha_stops_poor_trials_early(tmp_path: Path) -> None:
    config = resolve_config(_ray({
        "name": "asha", "seed": 1, "trials": 6, "space": {"name": "tests.plugins:ToySpace"},
        "strategy": {"name": "random"}, "output": str(tmp_path / "results"),
        "evaluator": {"name": "tests.executors.test_ray:CurveEvaluator", "epochs": 9},
        "pruner": {"name": "successive_halving", "min_epochs": 1, "reduction_factor": 3},
    }, max_concurrent=1))
    result = run_search(config, progress=False)
    frame = pd.read_csv(result.run.path / "trials.csv")
    evaluated = frame[frame["duplicate_of"].isna()]
    pruned, complete = evaluated[evaluated["state"] == "pruned"], evaluated[evaluated["state"] == "complete"]
    assert len(pruned) >= 1 and len(complete) >= 1
    assert (pruned["epochs"] < 9).all() and (complete["epochs"] == 9).all()
    assert pruned["val_accuracy"].max() < complete["val_accuracy"].max()


class ToyNet(Supernet):
    """A two-layer supernet without BatchNorm, whose path picks the hidden activation."""

    def __init__(self, inputs: int, num_classes: int) -> None:
        super().__init__()
        self.hidden, self.out = nn.Linear(inputs, 16), nn.Linear(16, num_classes)
        self.act: nn.Module = nn.ReLU()

    def set_arch(self, arch: Mapping[str, Choice]) -> None:
        """Follow ``arch``'s activation."""
        self.act = nn.Tanh() if arch["b"] == "tanh" else nn.ReLU()

    def subnet_state_dict(self, arch: Mapping[str, Choice]) -> dict[str, torch.Tensor]:
        """All weights are shared."""
        return self.state_dict()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Flatten, hidden layer, activation, logits."""
        return self.out(self.act(self.hidden(x.flatten(1))))


class ToySuperSpace(ToySpace):
    """The toy space with a weight-sharing supernet."""

    def supernet(self, *, num_classes: int, input_shape: tuple[int, int, int] = (3, 32, 32)) -> Supernet:
        """A :class:`ToyNet` for inputs of ``input_shape``."""
        c, h, w = input_shape
        return ToyNet(c * h * w, num_classes)


def test_data_parallel_supernet_training_matches_one_process(tmp_path: Path) -> None:
    config = resolve_config({
        "name": "ddp", "seed": 3, "trials": 1, "space": {"name": "tests.executors.test_ray:ToySuperSpace"},
        "dataset": {"name": "digits"}, "strategy": {"name": "random"},
        "evaluator": {"name": "tests.plugins:ToyEvaluator"},
        "training": {"batch_size": 96, "lr": 0.1, "threads": 1},
    })
    space, data = ToySuperSpace(), DATASETS.get("digits")()
    with seeded(config.seed):
        single = space.supernet(num_classes=data.num_classes, input_shape=data.input_shape)
    before = {k: v.clone() for k, v in single.state_dict().items()}
    train_supernet(single, space, data, config.training, epochs=2, seed=config.seed, device=torch.device("cpu"))
    out = tmp_path / "supernet.pt"
    train_supernet_ddp(config.to_yaml_dict(), out, workers=2, use_gpu=False, epochs=2, sandwich=False,
                       random_subnets=0, data_fraction=1.0, storage=tmp_path / "ray")
    parallel = torch.load(out, weights_only=True)
    for name, weights in single.state_dict().items():
        assert not torch.equal(weights, before[name])  # it trained
        torch.testing.assert_close(parallel[name], weights, rtol=1e-4, atol=1e-5)
