"""A segmentation search end to end: search, show, plot, resume, export, and the exported module in
a fresh interpreter giving the searched network's outputs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from nas.cli.main import main
from nas.factories import create_space
from nas.results.plots import default_axes
from nas.results.runs import load_run
from nas.results.weights import load_weights, weights_path

#: Imports the exported module with nas and search_spaces unimportable; saves its output on x.
FRESH = textwrap.dedent("""
    import importlib.abc, json, sys
    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("nas", "search_spaces"):
                raise ImportError("an exported module must not import " + name)
    sys.meta_path.insert(0, Refuse())
    sys.path.insert(0, sys.argv[1])
    import torch
    torch.set_num_threads(1)  # as the test process: the same summation order
    module = __import__("exported.best", fromlist=["build_model"])
    model = module.build_model().eval()
    with torch.no_grad():
        torch.save(model(torch.load(sys.argv[2], weights_only=True)), sys.argv[3])
    print(json.dumps({"task": module.TASK, "arch": module.ARCH}))
""")


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "seg.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "seg",
                "trials": 3,
                "task": "segmentation",
                "space": {"name": "unet", "levels": 2, "base_width": 4},
                "dataset": {"name": "digit_scenes", "scenes": 30, "size": 16, "scale": 1},
                "strategy": {"name": "random"},
                "evaluator": {"name": "partial", "epochs": 1, "save_weights": True},
                "training": {"batch_size": 8, "optimizer": "adamw", "lr": 0.01, "threads": 1},
                "costs": {"latency": True, "latency_repeats": 3, "latency_warmup": 0},
                "output": str(tmp_path / "results"),
            }
        )
    )
    return config


def test_search_show_plot_report_resume_and_export_a_segmentation_run(
    tmp_path: Path, capsys: pytest.CaptureFixture, one_thread: None
) -> None:
    assert main(["search", str(_config(tmp_path)), "--quiet"]) == 0
    out = capsys.readouterr().out
    run = Path(out.strip().splitlines()[-1].removeprefix("run folder: "))
    frame = pd.read_csv(run / "trials.csv")
    assert len(frame) == 3 and frame["val_miou"].between(0, 100).all()
    assert {"val_pixel_accuracy", "train_miou", "params", "flops", "latency_ms"} <= set(frame)

    assert main(["show", str(run)]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[:3] == ["trial", "state", "val_miou"]
    assert main(["plot", str(run), "--no-static"]) == 0
    assert (run / "plots" / "pareto.html").is_file()
    x_axes, y_axis = default_axes([load_run(run)])
    assert y_axis == "val_miou" and {"params", "flops", "latency_ms"} <= set(x_axes)

    assert main(["report", str(run)]) == 0
    assert "No Grad-CAM views: they explain classifiers" in (run / "report.html").read_text()

    assert main(["search", "--resume", str(run), "trials=4", "--quiet"]) == 0
    assert "(4 evaluated" in capsys.readouterr().out

    assert main(["export", str(run), "--best"]) == 0
    best = pd.read_csv(run / "trials.csv").sort_values("val_miou", ascending=False).iloc[0]
    space = create_space("unet", levels=2, base_width=4)
    saved = load_weights(weights_path(run, space.parse(best["arch"])))
    searched = space.build(
        space.parse(best["arch"]), num_classes=saved.num_classes, input_shape=saved.input_shape
    )
    searched.load_state_dict(saved.state_dict)
    x = torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    torch.save(x, tmp_path / "x.pt")
    fresh = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            FRESH,
            str(run),
            str(tmp_path / "x.pt"),
            str(tmp_path / "y.pt"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert fresh.returncode == 0, fresh.stderr
    info = json.loads(fresh.stdout)
    assert info["task"] == "segmentation" and info["arch"] == space.parse(best["arch"])
    exported = torch.load(tmp_path / "y.pt", weights_only=True)
    assert exported.shape == (3, 11, 16, 16)
    with torch.no_grad():
        assert torch.equal(exported, searched.eval()(x))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "task=classification",
            "error: space 'unet' builds segmentation networks but the config's task is "
            "'classification'; set task: segmentation or choose a classification space",
        ),
        ("training.augment.flip=true", "error: training.augment would move images without"),
    ],
)
def test_a_space_of_another_task_or_settings_it_cannot_train_stop_before_any_file(
    tmp_path: Path, capsys: pytest.CaptureFixture, override: str, message: str
) -> None:
    assert main(["search", str(_config(tmp_path)), override, "--quiet"]) == 2
    assert capsys.readouterr().err.startswith(message)
    assert not (tmp_path / "results").exists()
