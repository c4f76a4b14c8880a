"""Throughput of the same CPU-bound search in-process and on a local Ray instance (1 and 2 trials at once).

    python experiments/benchmarks/ray_scaling.py                 # about 4 minutes on 2 cores
    python experiments/benchmarks/ray_scaling.py --trials 4      # a quicker look

The search: random architectures of a small NAS-Bench-201 network, each trained for a few epochs
on digits (partial training), one torch thread per trial (``executor.cpus_per_trial: 1``). Ray is
started once (its start-up is timed on its own) and each search runs to the same number of
trials. Per-trial overhead of Ray = mean trial duration (ask to tell, from trials.csv) minus the
training time the evaluator measured, compared with the same figure in-process. Writes
results/benchmarks/ray_scaling.json and .md; the target on 2 cores is 2 concurrent trials at
>= 1.7x the throughput of 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from nas.config import resolve_config
from nas.search.runner import run_search

ROOT = Path(__file__).resolve().parents[2]


def _config(out: Path, trials: int, executor: dict[str, Any] | None) -> dict[str, Any]:
    config = {
        "name": "ray_scaling",
        "seed": 0,
        "trials": trials,
        "space": {"name": "nb201", "channels": 16, "cells_per_stage": 1},
        "dataset": {"name": "digits"},
        "strategy": {"name": "random"},
        "evaluator": {"name": "partial", "epochs": 3, "data_fraction": 1.0},
        "training": {"batch_size": 64, "threads": 1},
        "costs": {"memory": False},
        "output": str(out),
    }
    if executor:
        config["executor"] = executor
    return config


def _measure(label: str, config: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter()
    result = run_search(resolve_config(config), progress=False)
    wall = time.perf_counter() - start
    frame = pd.read_csv(result.run.path / "trials.csv")
    done = frame[frame["state"] == "complete"]
    metrics = pd.json_normalize([json.loads(m) for m in _metrics(result.run.path)])
    overhead = float(done["duration_s"].mean() - metrics["train_seconds"].mean())
    row = {
        "mode": label,
        "trials": len(done),
        "wall_s": round(wall, 2),
        "trials_per_min": round(60 * len(done) / wall, 2),
        "mean_trial_s": round(float(done["duration_s"].mean()), 2),
        "mean_train_s": round(float(metrics["train_seconds"].mean()), 2),
        "overhead_per_trial_s": round(overhead, 2),
    }
    print(row, flush=True)
    return row


def _burn(_: int = 0) -> float:
    """Seconds one thread takes for a fixed amount of matrix work (no Ray, no nas)."""
    torch.set_num_threads(1)
    x, w = torch.randn(256, 256), torch.randn(256, 256)
    start = time.perf_counter()
    for _ in range(1500):
        x = torch.tanh(x @ w)
    return time.perf_counter() - start


def _ceiling() -> float:
    """Throughput of 2 plain processes at once over 1: what this machine allows right now."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(_burn, [0, 0])  # start-up
        alone = pool.apply(_burn)
        together = max(pool.map(_burn, [0, 0]))
    return 2 * alone / together


def _metrics(run: Path) -> list[str]:
    """Each complete trial's metrics, as stored in the study (train_seconds is not a trials.csv column)."""
    import optuna

    from nas.results.run_folder import STUDY_NAME, RunFolder

    study = optuna.load_study(study_name=STUDY_NAME, storage=RunFolder(run).storage(None))
    return [
        json.dumps(t.user_attrs["metrics"])
        for t in study.get_trials(deepcopy=False)
        if t.state == optuna.trial.TrialState.COMPLETE
    ]


def main() -> None:
    """Run the three searches and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import ray

    rows = []
    ceiling = _ceiling()
    print(f"2 plain processes vs 1: {ceiling:.2f}x throughput", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        rows.append(_measure("in-process", _config(out, args.trials, None)))
        start = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        startup = time.perf_counter() - start
        try:
            for concurrent in (1, 2):
                executor = {"name": "ray", "cpus_per_trial": 1, "max_concurrent": concurrent}
                rows.append(
                    _measure(f"ray, {concurrent} concurrent", _config(out, args.trials, executor))
                )
        finally:
            ray.shutdown()
    speedup = rows[2]["trials_per_min"] / rows[1]["trials_per_min"]
    after = _ceiling()
    report = {
        "rows": rows,
        "ray_startup_s": round(startup, 2),
        "speedup_2_vs_1": round(speedup, 2),
        "target": 1.7,
        "cpus": os.cpu_count(),
        "plain_2_vs_1_before": round(ceiling, 2),
        "plain_2_vs_1_after": round(after, 2),
        "machine": platform.platform(),
        "note": "2-core machine shared with other jobs",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ray_scaling.json").write_text(json.dumps(report, indent=2) + "\n")
    table = (
        pd.DataFrame(rows).to_markdown(index=False)
        if _has_tabulate()
        else pd.DataFrame(rows).to_string()
    )
    text = (
        f"# Ray scaling ({args.trials} trials of partial training on digits, 1 thread per trial)\n\n"
        f"{table}\n\nRay start-up (not in the walls above): {startup:.1f} s. "
        f"2 concurrent vs 1: {speedup:.2f}x throughput (target 1.7x). "
        f"Two plain 1-thread torch processes vs one, measured just before and after: {ceiling:.2f}x and "
        f"{after:.2f}x (the machine's own ceiling at the time). "
        f"Machine: {report['cpus']} CPUs, shared with other jobs while measured.\n"
    )
    (args.out / "ray_scaling.md").write_text(text)
    print(text)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
