"""Plug-in spaces, for real: the worked examples of docs/plugins.md, found by path and by entry point,
and configs that name something other than a plugin, refused through the real command line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
import yaml

from nas import SPACES, NasError, create_space
from nas.cli.main import main
from nas.config import DistillConfig, apply_overrides, resolve_config
from nas.search.runner import run_search
from nas.strategies.prefilter import prefilter
from nas.training.distill import load_teacher

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"
MODULE = "my_spaces"
FAST = {
    "trials": 3,
    "strategy.population_size": 2,
    "evaluator.epochs": 1,
    "evaluator.data_fraction": 0.3,
    "training.amp": False,
    "training.threads": 1,
}


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on sys.path holding the documented my_spaces.py (unimported again afterwards)."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / f"{MODULE}.py").write_text(_blocks("python")[0])
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    sys.modules.pop(MODULE, None)


def _overrides(tmp_path: Path) -> list[str]:
    return [f"{k}={v}" for k, v in FAST.items()] + [f"output={tmp_path / 'results'}"]


def _nas(*args: str, cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)} if pythonpath else None
    return subprocess.run(
        [sys.executable, "-m", "nas", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_documented_space_runs_a_real_search_by_module_path(
    plugin_dir: Path, tmp_path: Path, one_thread
) -> None:
    raw = yaml.safe_load(_blocks("yaml")[0])
    assert raw["space"]["name"] == f"{MODULE}:ConvChainSpace"
    config = resolve_config(apply_overrides(raw, _overrides(tmp_path)))
    result = run_search(config, progress=False)
    assert result.evaluated == 3
    done = result.frame[result.frame["state"] == "complete"]
    assert len(done) == 3 and done["val_accuracy"].between(0, 100).all()
    space = create_space(f"{MODULE}:ConvChainSpace", widths=(8, 16, 32))
    for text in done["arch"]:
        assert space.validate(space.parse(text))
    with pytest.raises(NasError, match="unknown config key 'space.width' .*'widths'"):
        create_space(f"{MODULE}:ConvChainSpace", width=3)


def test_entry_point_in_a_dist_info_is_discovered(
    plugin_dir: Path, tmp_path: Path, capsys, one_thread
) -> None:
    name = "convchain_test_plugin"
    assert name not in SPACES.names()
    dist = plugin_dir / "my_spaces_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-spaces-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[nas.search_spaces]\n{name} = {MODULE}:ConvChainSpace\n"
    )
    assert name in [ep.name for ep in entry_points(group="nas.search_spaces")]
    assert name in SPACES.names()
    space = create_space(name, max_depth=2)
    arch = space.sample(np.random.default_rng(0))
    model = space.build(arch, num_classes=4, input_shape=(1, 8, 8))
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 4)
    assert main(["list", "spaces"]) == 0
    assert "A chain of 3x3 or 5x5 conv-BN-activation layers" in capsys.readouterr().out

    raw = {**yaml.safe_load(_blocks("yaml")[0]), "space": {"name": name, "max_depth": 2}}
    config_file = tmp_path / "ep.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    assert main(["search", str(config_file), *_overrides(tmp_path), "--quiet"]) == 0
    assert "Best architectures of convchain-digits" in capsys.readouterr().out


def test_a_removed_plugin_is_no_longer_listed(plugin_dir: Path) -> None:
    dist = plugin_dir / "gone-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gone\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[nas.search_spaces]\ngone_space = {MODULE}:ConvChainSpace\n"
    )
    assert "gone_space" in SPACES.names()
    for f in dist.iterdir():
        f.unlink()
    dist.rmdir()
    assert "gone_space" not in SPACES.names()


def test_a_config_naming_optuna_delete_study_is_refused_and_the_study_survives(
    tmp_path: Path,
) -> None:
    storage = f"sqlite:///{tmp_path / 'victim.db'}"
    optuna.create_study(study_name="victim", storage=storage)
    raw = yaml.safe_load((ROOT / "experiments" / "quickstart.yaml").read_text())
    raw["space"] = {
        "name": "optuna:delete_study",
        "study_name": "victim",
        "storage": "sqlite:///victim.db",
    }
    (tmp_path / "victim.yaml").write_text(yaml.safe_dump(raw))
    out = _nas(
        "search", "victim.yaml", cwd=tmp_path
    )  # the relative storage URL is tmp_path/victim.db
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.splitlines() == [
        "error: 'optuna:delete_study' is not a search space plugin (a subclass of nas.space.SearchSpace, or a "
        "factory registered with @nas.register_space or the nas.search_spaces entry point); it is a function that "
        "is not registered: register it, or name a registered search space (nas list shows them)"
    ]
    assert optuna.study.get_all_study_names(storage) == ["victim"]
    assert optuna.load_study(study_name="victim", storage=storage).trials == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "victim.db",
        "victim.yaml",
    ]  # no run folder


def test_an_unregistered_function_by_path_is_refused_before_it_is_called(
    plugin_dir: Path, tmp_path: Path
) -> None:
    # the documented factory without its decorator: a plain function that returns a space
    (plugin_dir / "my_helpers.py").write_text(
        _blocks("python")[1].replace('@nas.register_space("narrow_convchain")\n', "")
    )
    raw = {
        **yaml.safe_load(_blocks("yaml")[0]),
        "space": {"name": "my_helpers:narrow_convchain", "max_depth": 2},
    }
    try:
        with pytest.raises(
            NasError,
            match="^'my_helpers:narrow_convchain' is not a search space plugin .*"
            "it is a function that is not registered",
        ):
            resolve_config(apply_overrides(raw, _overrides(tmp_path)))
    finally:
        sys.modules.pop("my_helpers", None)
    assert "narrow_convchain" not in SPACES.names()
    assert not (tmp_path / "results").exists()


def test_a_registered_function_factory_runs_a_real_search_by_module_path(tmp_path: Path) -> None:
    # in a subprocess: the decorator registers the function in that process only
    folder = tmp_path / "site"
    folder.mkdir()
    my_spaces, my_factories = _blocks("python")[:2]
    (folder / f"{MODULE}.py").write_text(my_spaces)
    (folder / "my_factories.py").write_text(my_factories)
    raw = {
        **yaml.safe_load(_blocks("yaml")[0]),
        "space": {"name": "my_factories:narrow_convchain", "max_depth": 2},
    }
    (tmp_path / "narrow.yaml").write_text(yaml.safe_dump(raw))
    out = _nas(
        "search",
        "narrow.yaml",
        *_overrides(tmp_path),
        "trials=1",
        "--quiet",
        cwd=tmp_path,
        pythonpath=folder,
    )
    assert out.returncode == 0, out.stderr
    (trials,) = (tmp_path / "results" / "convchain-digits").glob("*/trials.csv")
    frame = pd.read_csv(trials)
    assert list(frame["state"]) == ["complete"]
    assert {json.loads(text)["width"] for text in frame["arch"]} <= {
        4,
        8,
    }  # built by the registered function


def test_names_inside_files_and_options_are_checked_the_same_way(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'victim.db'}"
    optuna.create_study(study_name="victim", storage=storage)
    # a distillation teacher: an exported module whose recorded space is not a space
    teacher = tmp_path / "teacher.py"
    teacher.write_text(
        f"SPACE = 'optuna:delete_study'\nSPACE_OPTIONS = {{'study_name': 'victim', 'storage': "
        f"{storage!r}}}\nARCH = {{}}\nNUM_CLASSES = 10\nINPUT_SHAPE = (1, 8, 8)\nWEIGHTS_FILE = None\n"
    )
    with pytest.raises(NasError, match="^'optuna:delete_study' is not a search space plugin"):
        load_teacher(DistillConfig(teacher=str(teacher)), None, torch.device("cpu"))
    # the base strategy that prefilter wraps
    with pytest.raises(NasError, match="^'optuna:delete_study' is not a strategy plugin"):
        prefilter(
            create_space("tests.plugins:ToySpace"),
            0,
            {"val_accuracy": "maximize"},
            base="optuna:delete_study",
            base_options={"study_name": "victim", "storage": storage},
            proxy="params",
            pool=2,
            top=1,
        )
    assert optuna.study.get_all_study_names(storage) == ["victim"]
