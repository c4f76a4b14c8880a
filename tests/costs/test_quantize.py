from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from nas import create_space
from nas.cli.main import main
from nas.config import TrainingConfig, resolve_config
from nas.costs.int8 import INT8_METRICS, calibration_batches, int8_metrics, quantize_int8
from nas.data import subset
from nas.deploy.export import export_model, load_model
from nas.deploy.int8_export import export_int8
from nas.registry import DATASETS
from nas.results.plots import pareto_figures
from nas.results.runs import PlotOptions, load_run
from nas.search.runner import run_search
from nas.training.loop import train_model

CPU = torch.device("cpu")
#: The stated tolerance: int8 validation accuracy on digits within this many points of float.
TOLERANCE = 2.0
NB201 = create_space("nb201", channels=8, cells_per_stage=1)
NB201_ARCH = NB201.parse(
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)


@pytest.fixture(scope="module")
def digits():
    return DATASETS.get("digits")()


@pytest.fixture(scope="module")
def trained(digits) -> nn.Module:
    """An NB201 network trained to about 97% validation accuracy on digits (a few seconds)."""
    model = NB201.build(NB201_ARCH, num_classes=10, input_shape=digits.input_shape)
    train_model(
        model, digits, TrainingConfig(batch_size=64, threads=1), epochs=3, seed=0, device=CPU
    )
    return model.eval()


def test_int8_metrics_of_a_trained_network(trained: nn.Module, digits) -> None:
    metrics = int8_metrics(trained, digits, latency_repeats=3)
    assert metrics["int8_val_accuracy"] > 90
    assert abs(metrics["int8_accuracy_drop"]) <= TOLERANCE
    assert metrics["int8_size_bytes"] < 0.5 * metrics["size_bytes"]
    assert metrics["int8_latency_ms"] > 0 and "int8_error" not in metrics
    assert next(trained.parameters()).dtype == torch.float32  # the float network is left as it was


@pytest.mark.parametrize(
    "space_name,options",
    [
        (
            "mbconv",
            {
                "width_coefficient": 0.25,
                "layers": (1, 2),
                "kernel_sizes": (3, 5),
                "expand_ratios": (1, 3),
            },
        ),
        ("darts", {"channels": 4, "layers": 3}),
    ],
)
def test_other_spaces_quantize(space_name: str, options: dict, digits) -> None:
    space = create_space(space_name, **options)
    model = space.build(
        space.sample(np.random.default_rng(0)), num_classes=10, input_shape=digits.input_shape
    )
    train_model(
        model,
        digits,
        TrainingConfig(batch_size=64, threads=1),
        epochs=1,
        seed=0,
        device=CPU,
        train_split=subset(digits.train, 0.2, 0),
    )
    metrics = int8_metrics(model, digits, calibration=2, latency_repeats=3)
    assert all(math.isfinite(metrics[k]) for k in INT8_METRICS), metrics.get("int8_error")
    assert abs(metrics["int8_accuracy_drop"]) <= 2 * TOLERANCE


class DataDependent(nn.Module):
    """Branches on the values of its input, which torch.fx cannot trace."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 4, 3), nn.Linear(4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            x = -x
        return self.fc(self.conv(x).mean((2, 3)))


def test_an_untraceable_network_reports_why_instead_of_failing(digits) -> None:
    metrics = int8_metrics(DataDependent(), digits, latency_repeats=3)
    assert all(math.isnan(metrics[k]) for k in INT8_METRICS)
    assert "TraceError" in metrics["int8_error"] and metrics["size_bytes"] > 0


def test_int8_export_loads_with_plain_import_and_matches(
    trained: nn.Module, digits, tmp_path: Path
) -> None:
    module = export_model(
        NB201,
        NB201_ARCH,
        tmp_path / "pkg",
        "net",
        num_classes=10,
        input_shape=digits.input_shape,
        state_dict=trained.state_dict(),
    )
    path, measured = export_int8(module, digits)
    assert path.name == "net_int8.py" and (tmp_path / "pkg" / "net_int8.pt").is_file()
    assert abs(measured["val_accuracy"] - measured["int8_val_accuracy"]) <= TOLERANCE
    assert measured["val_accuracy"] > 90 and measured["int8_size_bytes"] < measured["size_bytes"]
    x = calibration_batches(digits, 1, 32)[0]
    direct = quantize_int8(trained, calibration_batches(digits, 4, 64))
    assert torch.equal(load_model(path)(x), direct(x))
    code = (
        "import sys, torch; import pkg.net_int8 as m; net = m.build_model(); "
        "assert not any(k == 'nas' or k.startswith('nas.') for k in sys.modules); "
        "print(tuple(net(torch.zeros(3, 1, 8, 8)).shape))"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(3, 10)"


def test_nas_export_int8_command(searched_run: Path, tmp_path: Path, capsys) -> None:
    assert (
        main(["export", str(searched_run), "--best", "--int8", "--out", str(tmp_path / "out")]) == 0
    )
    printed = capsys.readouterr().out
    assert "best_int8.py" in printed and "val accuracy" in printed
    assert isinstance(
        load_model(tmp_path / "out" / "best_int8.py")(torch.zeros(1, 1, 8, 8)), torch.Tensor
    )


def test_int8_metrics_in_a_search_as_objective_and_constraint(
    tiny_config: dict, one_thread
) -> None:
    config = resolve_config(
        {
            **tiny_config,
            "trials": 3,
            "costs": {"int8": True, "int8_calibration_batches": 2, "latency_repeats": 3},
            "objectives": {"val_accuracy": "maximize", "int8_size_bytes": "minimize"},
            "constraints": {"int8_accuracy_drop": "<= 0.5"},
        }
    )
    result = run_search(config, progress=False)
    frame = pd.read_csv(result.run.path / "trials.csv")
    assert set(frame["state"]) == {"complete"}
    assert frame[[*INT8_METRICS, "size_bytes"]].notna().all().all()
    assert (frame[["int8_val_accuracy", "int8_size_bytes", "int8_latency_ms"]] > 0).all().all()
    assert list(frame["feasible"]) == list(frame["int8_accuracy_drop"] <= 0.5)
    (figure,) = pareto_figures([load_run(result.run.path)], PlotOptions())
    assert figure.layout.xaxis.title.text == "int8_size_bytes"
    assert sorted(figure.data[0].x) == sorted(frame["int8_size_bytes"])
