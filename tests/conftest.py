"""Shared fixtures: tiny experiment configs that run in seconds on a CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

# tiny networks train fastest on one thread, and a shared or busy machine makes two much slower
torch.set_num_threads(1)


@pytest.fixture
def one_thread():
    """Restore torch's thread count after a test whose config trains with ``training.threads: 1``
    (tiny networks train fastest on one thread, and on a busy machine two are much slower)."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_config(tmp_path: Path) -> dict[str, Any]:
    """A raw config for a search that takes about a second per trial."""
    return {
        "name": "tiny",
        "seed": 0,
        "trials": 4,
        "space": {"name": "nb201", "channels": 4, "cells_per_stage": 1},
        "dataset": {"name": "digits"},
        "strategy": {"name": "evolution", "population_size": 2, "sample_size": 2},
        "evaluator": {"name": "partial", "epochs": 1, "data_fraction": 0.3},
        "training": {"batch_size": 64, "threads": 1},
        "output": str(tmp_path / "results"),
    }


@pytest.fixture(scope="session")
def searched_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny search (5 trials) that kept each trained network's weights; treat as read-only."""
    from nas import load_config, run_search

    root = tmp_path_factory.mktemp("searched")
    config = root / "tiny.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "seed": 0,
                "trials": 5,
                "space": {"name": "nb201", "channels": 4, "cells_per_stage": 1},
                "dataset": {"name": "digits"},
                "strategy": {"name": "evolution", "population_size": 3, "sample_size": 2},
                "evaluator": {
                    "name": "partial",
                    "epochs": 1,
                    "data_fraction": 0.3,
                    "save_weights": True,
                },
                "training": {"batch_size": 64, "threads": 1},
                "output": str(root / "results"),
            }
        )
    )
    return run_search(load_config(config), progress=False).run.path
