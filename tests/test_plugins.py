"""Plug-in spaces, for real: the worked example of docs/plugins.md, found by path and by entry point."""

from __future__ import annotations

import re
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from nas import SPACES, NasError, create_space
from nas.cli.main import main
from nas.config import apply_overrides, resolve_config
from nas.search.runner import run_search

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
MODULE = "my_spaces"
FAST = {"trials": 3, "strategy.population_size": 2, "evaluator.epochs": 1,
        "evaluator.data_fraction": 0.3, "training.amp": False, "training.threads": 1}


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


def test_documented_space_runs_a_real_search_by_module_path(plugin_dir: Path, tmp_path: Path,
                                                            one_thread) -> None:
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


def test_entry_point_in_a_dist_info_is_discovered(plugin_dir: Path, tmp_path: Path, capsys, one_thread) -> None:
    name = "convchain_test_plugin"
    assert name not in SPACES.names()
    dist = plugin_dir / "my_spaces_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-spaces-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[nas.search_spaces]\n{name} = {MODULE}:ConvChainSpace\n")
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
    (dist / "entry_points.txt").write_text(f"[nas.search_spaces]\ngone_space = {MODULE}:ConvChainSpace\n")
    assert "gone_space" in SPACES.names()
    for f in dist.iterdir():
        f.unlink()
    dist.rmdir()
    assert "gone_space" not in SPACES.names()
