"""``training.compile``: candidates trained through torch.compile, and a candidate that fails to
compile trained eagerly with a note in its trial row. Compiling costs seconds even for these tiny
networks: about 20 s for the file on two busy cores, most of it the search in a fresh process
(inductor's C++ build itself is never reached)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from torch import nn

from nas import NasError
from nas.config import TrainingConfig, resolve_config
from nas.data.digits import digits
from nas.training.loop import seeded, train_model

CPU = torch.device("cpu")


class SmallNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.norm = nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm(self.conv(x)))  # torch.relu: what the failing backend looks for
        return self.head(nn.functional.adaptive_avg_pool2d(h, 2).flatten(1))


def trained(backend: str | None) -> tuple[torch.Tensor, object]:
    with seeded(0):
        model = SmallNet()
    cfg = TrainingConfig(compile=backend is not None, compile_backend=backend or "inductor")
    result = train_model(model, digits(), cfg, epochs=1, seed=0, device=CPU)
    return torch.cat([t.flatten().float() for t in model.state_dict().values()]), result


@pytest.mark.usefixtures("one_thread")
def test_a_candidate_that_fails_to_compile_trains_eagerly_with_the_reason() -> None:
    # torch's own testing backend fails on any graph calling torch.relu, as a broken compiler would
    weights, result = trained("relu_compile_error_TESTING_ONLY")
    eager_weights, eager = trained(None)
    assert not result.compiled and "ReluCompileError" in result.compile_error
    assert not eager.compiled and eager.compile_error is None
    # the failure struck before anything ran: the fallback trains exactly as eager does
    assert torch.equal(weights, eager_weights) and result.history == eager.history


@pytest.mark.usefixtures("one_thread")
def test_a_compiled_candidate_trains() -> None:
    _, result = trained("aot_eager")
    assert result.compiled and result.compile_error is None and result.val_accuracy > 0.2


def test_an_unknown_backend_is_refused_with_the_known_ones() -> None:
    raw = {"name": "x", "trials": 1, "space": "nb201", "strategy": "random", "evaluator": "partial"}
    with pytest.raises(
        NasError, match="'nope' is not a torch.compile backend; use one of .*inductor"
    ):
        resolve_config({**raw, "training": {"compile": True, "compile_backend": "nope"}})


def test_without_a_cxx_compiler_the_trial_row_says_why_it_ran_eagerly(tmp_path: Path) -> None:
    """A real search in a fresh process whose inductor finds no C++ compiler (about 14 s)."""
    config = {
        "name": "nocc",
        "trials": 1,
        "space": {"name": "nb201", "channels": 4, "cells_per_stage": 1},
        "dataset": "digits",
        "strategy": "random",
        "evaluator": {"name": "partial", "epochs": 1, "data_fraction": 0.3},
        "training": {"threads": 1, "compile": True},
        "output": str(tmp_path / "results"),
    }
    (tmp_path / "nocc.yaml").write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "CXX": str(tmp_path / "no-such-compiler"),
        "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor"),  # nothing compiled before helps
    }
    done = subprocess.run(
        [sys.executable, "-m", "nas", "search", str(tmp_path / "nocc.yaml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (trials,) = (tmp_path / "results" / "nocc").glob("*/trials.csv")
    row = pd.read_csv(trials).iloc[0]
    assert row["state"] == "complete" and row["compiled"] == 0.0
    assert "No working C++ compiler" in row["compile_error"]
