"""Searches on a real local Ray instance (2 CPUs): same run folder as in-process, retries, ASHA."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import ray
import torch
import yaml
from torch import nn

from nas.arch import Choice
from nas.config import resolve_config
from nas.evaluators import EvalContext, Evaluator
from nas.registry import DATASETS
from nas.search.runner import run_search
from nas.space import SearchSpace
from nas.supernet import Supernet
from nas.training.loop import seeded
from nas.training.supernet import train_supernet
from tests.plugins import ToySpace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance for the module (starting one takes seconds)."""
    # Ray Train polls its workers every 2 s by default: most of a tiny data-parallel run's time
    before = os.environ.get("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S")
    os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] = "0.2"
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()
    if before is None:
        del os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"]
    else:
        os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] = before


class CountingEvaluator(Evaluator):
    """Appends a line to ``attempts`` per evaluation; raises for a == ``fail_when_a`` with b == 'tanh'."""

    def __init__(self, context: EvalContext, *, attempts: str = "", fail_when_a: int = -1) -> None:
        self.attempts, self.fail_when_a = Path(attempts), fail_when_a

    def evaluate(
        self, arch: Mapping[str, Choice], space: SearchSpace, budget: Any = None, report: Any = None
    ) -> dict[str, Any]:
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

    def evaluate(
        self, arch: Mapping[str, Choice], space: SearchSpace, budget: Any = None, report: Any = None
    ) -> dict[str, Any]:
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


def test_cli_switch_moves_a_local_run_onto_a_running_ray(tmp_path: Path) -> None:
    config = resolve_config(
        {
            "name": "toy",
            "trials": 3,
            "space": {"name": "tests.plugins:ToySpace"},
            "strategy": "random",
            "evaluator": {"name": "tests.plugins:ToyEvaluator"},
            "output": str(tmp_path / "results"),
        }
    )
    run = run_search(config, progress=False).run.path  # in-process
    address = ray.get_runtime_context().gcs_address  # this module's Ray, as a cluster to join
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "nas",
            "search",
            "--resume",
            str(run),
            "trials=5",
            "executor=ray",
            f"executor.address={address}",
            "executor.max_concurrent=2",
            "--quiet",
        ],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "(5 evaluated" in resumed.stdout and "Traceback" not in resumed.stderr
    assert yaml.safe_load((run / "config.yaml").read_text())["executor"]["name"] == "ray"
    frame = pd.read_csv(run / "trials.csv")
    assert (
        frame.loc[frame["duplicate_of"].isna(), "arch_id"].nunique() == 5 and (run / "ray").is_dir()
    )


def test_a_trial_that_raises_is_retried_then_recorded_as_failed(tmp_path: Path) -> None:
    attempts = tmp_path / "attempts.txt"
    config = resolve_config(
        _ray(
            {
                "name": "retry",
                "trials": 4,
                "space": {"name": "tests.plugins:ToySpace", "widths": 2},
                "strategy": {"name": "random"},
                "output": str(tmp_path / "results"),
                "evaluator": {
                    "name": "tests.executors.test_ray:CountingEvaluator",
                    "attempts": str(attempts),
                    "fail_when_a": 1,
                },
            },
            max_retries=1,
            max_concurrent=2,
        )
    )
    result = run_search(config, progress=False)
    frame = pd.read_csv(result.run.path / "trials.csv")
    evaluated = frame[frame["duplicate_of"].isna()]
    assert len(evaluated) == 4 and evaluated["arch_id"].is_unique  # the whole space, each once
    failed = evaluated[evaluated["state"] == "fail"]
    assert len(failed) == 1 and "candidate a=1 crashed (after 1 retries)" in failed["error"].iloc[0]
    assert sorted(evaluated.loc[evaluated["state"] == "complete", "val_accuracy"]) == [0, 1, 1]
    tries = attempts.read_text().split()
    assert (
        tries.count("1") == 2 + 1 and tries.count("0") == 2
    )  # the failing one ran twice (1 retry)


def test_asha_stops_poor_trials_early(tmp_path: Path) -> None:
    config = resolve_config(
        _ray(
            {
                "name": "asha",
                "seed": 1,
                "trials": 6,
                "space": {"name": "tests.plugins:ToySpace"},
                "strategy": {"name": "random"},
                "output": str(tmp_path / "results"),
                "evaluator": {"name": "tests.executors.test_ray:CurveEvaluator", "epochs": 9},
                "pruner": {"name": "successive_halving", "min_epochs": 1, "reduction_factor": 3},
            },
            max_concurrent=1,
        )
    )
    result = run_search(config, progress=False)
    frame = pd.read_csv(result.run.path / "trials.csv")
    evaluated = frame[frame["duplicate_of"].isna()]
    pruned, complete = (
        evaluated[evaluated["state"] == "pruned"],
        evaluated[evaluated["state"] == "complete"],
    )
    assert len(pruned) >= 1 and len(complete) >= 1
    assert (pruned["epochs"] < 9).all() and (complete["epochs"] == 9).all()
    assert pruned["val_accuracy"].max() < complete["val_accuracy"].max()


class ToyNet(Supernet):
    """The toy space's supernet: one hidden layer of 12 units, of which a path uses the first 4 (a + 1),
    with the path's activation; no BatchNorm."""

    def __init__(self, inputs: int, num_classes: int) -> None:
        super().__init__()
        self.hidden, self.out = nn.Linear(inputs, 12), nn.Linear(12, num_classes)
        self.width, self.tanh = 12, False

    def set_arch(self, arch: Mapping[str, Choice]) -> None:
        """Follow ``arch``: its width and activation."""
        self.width, self.tanh = 4 * (int(arch["a"]) + 1), arch["b"] == "tanh"

    def subnet_state_dict(self, arch: Mapping[str, Choice]) -> dict[str, torch.Tensor]:
        """The weights of ``arch``'s path, named as in ``ToySpace.build``."""
        w = 4 * (int(arch["a"]) + 1)
        return {
            "1.weight": self.hidden.weight[:w],
            "1.bias": self.hidden.bias[:w],
            "3.weight": self.out.weight[:, :w],
            "3.bias": self.out.bias,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The active path."""
        h = self.hidden(x.flatten(1))[:, : self.width]
        h = torch.tanh(h) if self.tanh else torch.relu(h)
        return nn.functional.linear(h, self.out.weight[:, : self.width], self.out.bias)


class ToySuperSpace(ToySpace):
    """The toy space with a weight-sharing supernet."""

    def supernet(
        self, *, num_classes: int, input_shape: tuple[int, int, int] = (3, 32, 32)
    ) -> Supernet:
        """A :class:`ToyNet` for inputs of ``input_shape``."""
        c, h, w = input_shape
        return ToyNet(c * h * w, num_classes)


def test_data_parallel_supernet_training_matches_one_process(tmp_path: Path) -> None:
    config = resolve_config(
        {
            "name": "ddp",
            "seed": 3,
            "trials": 1,
            "space": {"name": "tests.executors.test_ray:ToySuperSpace"},
            "dataset": {"name": "digits"},
            "strategy": {"name": "random"},
            "output": str(tmp_path / "results"),
            "evaluator": {"name": "weight_sharing", "epochs": 2, "calibration_batches": 0},
            "training": {"batch_size": 96, "lr": 0.1, "threads": 1},
            "executor": {"name": "ray", "train_workers": 2, "max_concurrent": 1},
        }
    )
    result = run_search(
        config, progress=False
    )  # the supernet trains on 2 CPU workers (gloo), then trials
    assert set(pd.read_csv(result.run.path / "trials.csv")["state"]) == {"complete"}
    saved = torch.load(result.run.path / "supernet.pt", weights_only=True)
    assert saved["recipe"]["workers"] == 2
    space, data = ToySuperSpace(), DATASETS.get("digits")()
    with seeded(config.seed):
        single = space.supernet(num_classes=data.num_classes, input_shape=data.input_shape)
    before = {k: v.clone() for k, v in single.state_dict().items()}
    train_supernet(
        single, space, data, config.training, epochs=2, seed=config.seed, device=torch.device("cpu")
    )
    for name, weights in single.state_dict().items():
        assert not torch.equal(weights, before[name])  # it trained
        torch.testing.assert_close(saved["state_dict"][name], weights, rtol=1e-4, atol=1e-5)


def test_darts_seeds_run_as_parallel_ray_tasks(tmp_path: Path) -> None:
    from tests.oneshot.test_run import toy_config

    config = {**toy_config(tmp_path, order=2), "executor": {"name": "ray", "cpus_per_trial": 1}}
    result = run_search(resolve_config(config), progress=False)
    frame = pd.read_csv(result.run.path / "trials.csv")
    assert list(frame["search"]) == [0, 1] and set(frame["state"]) == {"complete"}
    for k in (
        0,
        1,
    ):  # each search kept its folder, as in-process (the same cell as there: see tests/oneshot)
        folder = result.run.path / "oneshot" / f"search-{k}"
        assert (folder / "alphas.csv").is_file()
        assert json.loads((folder / "result.json").read_text())["arch"] == {
            "e0": "square",
            "e1": "square",
        }


def test_a_ray_driver_as_a_worker_of_a_postgresql_study_with_tracking(tmp_path: Path) -> None:
    """Trials in flight on Ray count towards a shared study's budget, duplicates of them wait on the
    driver's side, and Tune's snapshot of the driver's state (heartbeat thread, event files) is empty."""
    from optuna import load_study
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tests.postgres import postgres_server

    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server())
        except RuntimeError as exc:
            pytest.skip(f"no PostgreSQL server: {exc}")
        config = {
            "name": "raypg",
            "trials": 5,
            "space": {"name": "tests.plugins:ToySpace", "widths": 2, "depths": 2},
            "strategy": {"name": "random"},
            "evaluator": {"name": "tests.plugins:ToyEvaluator", "sleep": 0.2},
            "storage": url,
            "output": str(tmp_path / "results"),
            "tracking": {"tensorboard": str(tmp_path / "tb")},
        }
        result = run_search(
            resolve_config(_ray(config, max_concurrent=2)), progress=False, study="rp"
        )
        trials = load_study(study_name="rp", storage=url).trials
    evaluated = [t for t in trials if "duplicate_of" not in t.user_attrs]
    assert result.evaluated == 5 and len(evaluated) == 5
    assert len({t.user_attrs["arch_id"] for t in evaluated}) == 5
    assert all(t.state.name == "COMPLETE" for t in trials)
    events = EventAccumulator(str(tmp_path / "tb" / "raypg" / result.run.path.name))
    events.Reload()
    assert sorted(e.step for e in events.Scalars("trial/val_accuracy")) == [
        t.number for t in trials
    ]


def test_a_segmentation_search_on_ray_writes_the_in_process_run_folder(tmp_path: Path) -> None:
    """The task travels to Ray's workers: the same trials, scored by mIoU, as in-process."""
    config = {
        "name": "seg",
        "seed": 0,
        "trials": 2,
        "task": "segmentation",
        "space": {"name": "unet", "levels": 2, "base_width": 4},
        "dataset": {"name": "digit_scenes", "scenes": 30, "size": 16, "scale": 1},
        "strategy": {"name": "random"},
        "evaluator": {"name": "partial", "epochs": 1},
        "training": {"batch_size": 8, "optimizer": "adamw", "lr": 0.01, "threads": 1},
        "output": str(tmp_path / "results"),
    }
    local = run_search(resolve_config(config), progress=False).run.path
    remote = run_search(resolve_config(_ray(config, max_concurrent=1)), progress=False).run.path
    a, b = pd.read_csv(local / "trials.csv"), pd.read_csv(remote / "trials.csv")
    assert "val_miou" in b.columns and "val_accuracy" not in b.columns
    assert set(b["state"]) == {"complete"} and len(b) == 2
    same = ["trial", "arch_id", "val_miou", "val_pixel_accuracy", "params"]
    pd.testing.assert_frame_equal(a[same], b[same])
