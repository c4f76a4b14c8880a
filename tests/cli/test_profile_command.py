"""``nas profile`` end to end: profile in a subprocess, then search under the predicted latency."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]


def nas(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nas", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def search_config(tmp_path: Path, profile: str) -> Path:
    config = tmp_path / "search.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "under_latency",
                "trials": 12,
                "space": {"name": "nb201"},
                "strategy": {"name": "random"},
                "evaluator": {"name": "tabular"},
                "costs": {"latency_profile": profile},
                "objectives": {"val_accuracy": "maximize", "predicted_latency_ms": "minimize"},
                "constraints": {"predicted_latency_ms": "<= 1e9"},
                "output": str(tmp_path / "results"),
            }
        )
    )
    return config


def test_profile_then_search_under_the_predicted_latency(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text("name: nb201\n")
    out = nas(
        "profile", "space.yaml", "--method", "transfer", "--samples", "3", "--repeats", "3",
        "--warmup", "0", "-o", "dev.json", "--no-progress", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "transfer fitted on 3 networks" in out.stdout and "wrote dev.json" in out.stdout
    profile = json.loads((tmp_path / "dev.json").read_text())
    assert profile["device"]["backend"] == "torch" and len(profile["samples"]) == 3
    out = nas("search", "search.yaml", cwd=search_config(tmp_path, "dev.json").parent)
    assert out.returncode == 0, out.stderr
    (run,) = (tmp_path / "results" / "under_latency").iterdir()
    trials = pd.read_csv(run / "trials.csv")
    assert (trials["predicted_latency_ms"] > 0).all() and trials["feasible"].all()
    shown = nas("show", str(run), cwd=tmp_path)
    assert "predicted_latency_ms" in shown.stdout.splitlines()[0]


def test_a_profile_of_other_space_options_stops_the_search_before_it_starts(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text("name: nb201\nchannels: 4\ncells_per_stage: 1\n")
    out = nas(
        "profile", "space.yaml", "--input-shape", "3x8x8", "--samples", "2", "--repeats", "3",
        "-o", "small.json", "--no-progress", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "plain sum off by" in out.stdout
    out = nas("search", str(search_config(tmp_path, "small.json")), cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.startswith("error: latency profile was made for NB201Space(channels=4")
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "results").exists()


def test_bad_profile_options_get_one_line(tmp_path: Path) -> None:
    mbconv = str(ROOT / "experiments" / "mbconv_digits.yaml")
    out = nas("profile", mbconv, "--method", "transfer", cwd=tmp_path)
    assert out.returncode == 2 and "exist only for the nb201 space" in out.stderr
    out = nas("profile", mbconv, "--input-shape", "3x32", cwd=tmp_path)
    assert out.returncode == 2 and "--input-shape must be CxHxW" in out.stderr
    assert not list(tmp_path.iterdir())
