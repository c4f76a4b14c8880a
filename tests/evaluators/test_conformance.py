"""Conformance suite: every registered evaluator scores architectures through a real search.

Parametrised over the registry, so a new evaluator is tested by default (give it cheap options
in ``OPTIONS`` and the metric it optimises in ``OBJECTIVE`` when the defaults do not fit).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from nas.config import resolve_config
from nas.registry import EVALUATORS
from nas.results.trials import LEAD_COLUMNS, TAIL_COLUMNS
from nas.search.components import build_components
from nas.search.runner import run_search

#: Options that keep each evaluator to a second or two on the tiny NB201 space and digits.
OPTIONS: dict[str, dict[str, Any]] = {
    "partial": {"epochs": 1, "data_fraction": 0.2},
    "full": {"epochs": 1},
    "weight_sharing": {
        "epochs": 1,
        "data_fraction": 0.1,
        "random_subnets": 0,
        "calibration_batches": 1,
    },
    "zero_cost": {"proxy": "synflow"},
}
#: The metric each evaluator is searched on, where it is not ``val_accuracy``.
OBJECTIVE = {"zero_cost": "synflow"}
#: Metrics that measure time, which differ between two evaluations of the same architecture.
TIMINGS = ("seconds", "duration", "latency")


def _config(name: str, tmp_path: Path, trials: int = 3) -> dict[str, Any]:
    return {
        "name": f"conformance-{name}",
        "seed": 0,
        "trials": trials,
        "space": {"name": "nb201", "channels": 4, "cells_per_stage": 1},
        "dataset": {"name": "digits"},
        "strategy": {"name": "random"},
        "evaluator": {"name": name, **OPTIONS.get(name, {})},
        "objectives": {OBJECTIVE.get(name, "val_accuracy"): "maximize"},
        "training": {"batch_size": 64, "threads": 1, "amp": False},
        "output": str(tmp_path / "results"),
    }


@pytest.mark.parametrize("name", EVALUATORS.names())
def test_every_evaluator_scores_a_real_search_with_finite_metrics(
    name: str, tmp_path: Path
) -> None:
    config = resolve_config(_config(name, tmp_path))
    result = run_search(config, progress=False)
    frame = pd.read_csv(result.run.path / "trials.csv")
    objective = next(iter(config.objectives))
    assert list(frame["state"]) == ["complete"] * 3, frame.get("error")
    assert frame[objective].map(math.isfinite).all()
    metrics = frame.drop(columns=[*LEAD_COLUMNS, *TAIL_COLUMNS], errors="ignore")
    assert objective in metrics and metrics.notna().all().all(), "every trial has every metric"
    assert all(pd.api.types.is_numeric_dtype(metrics[c]) for c in metrics), "metrics are numbers"


@pytest.mark.parametrize("name", EVALUATORS.names())
def test_every_evaluator_scores_the_same_architecture_the_same_way(
    name: str, tmp_path: Path
) -> None:
    """Evaluations are a function of the run seed and the architecture (resume relies on it)."""
    config = resolve_config(_config(name, tmp_path, trials=1))
    scores = []
    for attempt in range(2):
        parts = build_components(config)
        run_dir = tmp_path / f"run{attempt}"
        run_dir.mkdir()
        parts.evaluator.prepare(parts.space, run_dir, parts.executor)
        arch = parts.space.parse(
            "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
        )
        metrics = parts.evaluator.evaluate(arch, parts.space)
        scores.append({k: v for k, v in metrics.items() if not any(t in k for t in TIMINGS)})
    assert scores[0] == scores[1]
    assert next(iter(config.objectives)) in scores[0]
