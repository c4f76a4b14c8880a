"""Fixtures of the results tests: a run report and a one-shot run, made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def report_page(searched_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``nas report`` of the tiny searched run (its trials kept their weights): top 3, 4 images."""
    from nas.results.report import write_report

    return write_report(
        [searched_run], tmp_path_factory.mktemp("report") / "report.html", top=3, images=4
    )


@pytest.fixture(scope="session")
def oneshot_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished DARTS search over the toy cell space (no diagram of its own): one search."""
    from nas.config import resolve_config
    from nas.search.runner import run_search

    root = tmp_path_factory.mktemp("oneshot")
    config = {
        "name": "oneshot",
        "seed": 0,
        "trials": 1,
        "space": {"name": "tests.oneshot.toy:ToyCellSpace"},
        "dataset": {"name": "tests.oneshot.toy:toy_data", "task": "circles"},
        "strategy": {"name": "darts", "epochs": 3, "batch_size": 32, "arch_lr": 0.01},
        "evaluator": {"name": "partial", "epochs": 1},
        "training": {"threads": 1, "batch_size": 32},
        "output": str(root / "results"),
    }
    return run_search(resolve_config(config), progress=False).run.path
