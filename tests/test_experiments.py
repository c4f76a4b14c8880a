"""Every example config in experiments/ loads and validates (plugins' options included)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.config import load_config
from nas.registry import SPACES

EXPERIMENTS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_example_config_is_valid(path: Path) -> None:
    config = load_config(path)
    assert config.trials > 0
    SPACES.get(config.space.name)(**config.space.options)
