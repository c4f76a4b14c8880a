"""End-to-end: the command line as a user runs it, in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def nas(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nas", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_console_script_points_at_the_cli() -> None:
    (script,) = [ep for ep in entry_points(group="console_scripts") if ep.name == "nas"]
    assert script.value == "nas.cli.main:main"


@pytest.mark.parametrize("command", [[], ["search"], ["show"], ["list"]])
def test_help_explains_every_command(command: list[str]) -> None:
    out = nas(*command, "--help")
    assert out.returncode == 0, out.stderr
    assert "usage: nas" in out.stdout and "options:" in out.stdout


def test_list_shows_one_line_per_registered_name() -> None:
    out = nas("list", "spaces")
    assert out.returncode == 0
    assert any(
        line.startswith("nb201 ") and "NAS-Bench-201" in line for line in out.stdout.splitlines()
    )
    everything = nas("list").stdout
    for kind, name in [
        ("strategies:", "evolution"),
        ("evaluators:", "partial"),
        ("datasets:", "digits"),
    ]:
        assert kind in everything and f"  {name} " in everything


def test_search_show_and_resume_end_to_end(tmp_path: Path, tiny_config: dict) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config))
    out = nas(
        "search",
        str(config),
        "trials=3",
        "strategy.population_size=3",
        "strategy.sample_size=1",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "trial" in out.stderr and "best val_accuracy=" in out.stderr  # the progress bar
    assert "Best architectures of tiny (3 evaluated" in out.stdout
    run = out.stdout.strip().splitlines()[-1].removeprefix("run folder: ")
    assert (Path(run) / "trials.csv").is_file()
    assert (
        yaml.safe_load((Path(run) / "config.yaml").read_text())["strategy"]["population_size"] == 3
    )

    shown = nas("show", run, cwd=tmp_path)
    assert shown.returncode == 0
    header, *rows = shown.stdout.strip().splitlines()
    assert header.split()[:3] == ["trial", "state", "val_accuracy"] and len(rows) == 3

    resumed = nas("search", "--resume", run, "trials=4", "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "(4 evaluated" in resumed.stdout and resumed.stderr == ""
    refused = nas("search", "--resume", run, "seed=5", cwd=tmp_path)
    assert refused.returncode == 2 and "cannot change 'seed' of an existing run" in refused.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "missing.yaml"], "error: config file 'missing.yaml' does not exist"),
        (["search", "bad.yaml"], "error: unknown config key 'trails' (did you mean 'trials'?)"),
        (["search", "trials=3"], "error: nas search needs a config file first"),
        (["show", "nowhere"], "error: run folder 'nowhere' does not exist"),
        (["show", "."], "is not a nas run folder"),
        (
            ["search", "latin1.yaml"],
            "error: config file 'latin1.yaml' is not UTF-8 text (byte 0xe9 on line 1)",
        ),
        (
            ["search", "twice.yaml"],
            "error: config file 'twice.yaml' gives key 'seed' twice on lines 1 and 3",
        ),
    ],
)
def test_bad_input_is_one_line_and_non_zero(
    tmp_path: Path, tiny_config: dict, args: list[str], message: str
) -> None:
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**tiny_config, "trails": 3}))
    (tmp_path / "latin1.yaml").write_bytes("name: caf\u00e9\n".encode("latin-1"))
    (tmp_path / "twice.yaml").write_text("seed: 1\ntrials: 2\nseed: 2\n")
    out = nas(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and message in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "results").exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    out = nas("--debug", "search", "missing.yaml", cwd=tmp_path)
    assert out.returncode != 0 and "Traceback" in out.stderr


#: The cheapest settings of each evaluator, as command-line overrides.
EVALUATOR_OVERRIDES = {
    "full": ["evaluator.epochs=1"],
    "partial": [
        "evaluator.epochs=2",
        "evaluator.data_fraction=0.1",
        "evaluator.resolution=4",
        "pruner=median",
    ],
    "weight_sharing": [
        "evaluator.epochs=1",
        "evaluator.data_fraction=0.1",
        "evaluator.random_subnets=0",
        "evaluator.calibration_batches=1",
    ],
}


@pytest.mark.parametrize("evaluator", sorted(EVALUATOR_OVERRIDES))
@pytest.mark.parametrize("space", ["nb201", "darts", "mbconv"])
def test_every_evaluator_scores_every_space_from_the_command_line(
    tmp_path: Path,
    tiny_config: dict,
    capsys: pytest.CaptureFixture,
    space: str,
    evaluator: str,
) -> None:
    from nas.cli.main import main
    from tests.search_spaces.conftest import SMALL_OPTIONS

    config = tmp_path / "tiny.yaml"
    config.write_text(
        yaml.safe_dump({**tiny_config, "space": {"name": space, **SMALL_OPTIONS[space]}})
    )
    args = [
        "search",
        str(config),
        "trials=2",
        "strategy=random",
        "training.batch_size=128",
        "dataset.test_fraction=0.6",  # 360 training images
        f"evaluator={evaluator}",
        *EVALUATOR_OVERRIDES[evaluator],
        "--quiet",
    ]
    assert main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "Best architectures of tiny (2 evaluated" in out
    run = Path(out.strip().splitlines()[-1].removeprefix("run folder: "))
    frame = pd.read_csv(run / "trials.csv")
    assert (
        len(frame) == 2
        and frame["val_accuracy"].between(0, 100).all()
        and (frame["flops"] > 0).all()
    )
    assert (run / "supernet.pt").is_file() == (evaluator == "weight_sharing")
