"""Workers on one PostgreSQL study: throughput of 2 workers vs 1, and storage overhead per trial.

    python experiments/benchmarks/postgres_workers.py                # about 4 minutes on 2 cores
    python experiments/benchmarks/postgres_workers.py --trials 8     # a quicker look

Starts a throwaway PostgreSQL server (tests/postgres.py; Debian's postgresql package), then:

1. Throughput: the same CPU-bound search (random NAS-Bench-201 cells of 16 channels trained for
   2 epochs on digits, one torch thread per trial) as `nas search CONFIG --storage URL --study S`
   in 1 and in 2 worker processes on one study. Throughput = trials / the span from the first
   trial's start to the last trial's end (the database's timestamps; process start-up excluded).
   The machine's ceiling is measured right after: two independent 1-worker searches at once (their
   own journal files, no sharing) vs one. Target on 2 cores: 2 workers >= 1.7x one.
2. Storage overhead: a search whose evaluation costs nothing (the NAS-Bench-201 table lookup) with
   the run's journal file, and with the PostgreSQL study (1 worker; 2 workers): seconds per trial
   is then all bookkeeping (ask, duplicate check, tell, trial log; plus in the database the lock,
   the re-count over every worker's trials and the heartbeats).

Writes results/benchmarks/postgres_workers.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import optuna

from nas.results.run_folder import RunFolder
from tests.postgres import postgres_server

TRAINING = {
    "name": "pg_workers",
    "seed": 0,
    "space": {"name": "nb201", "channels": 16, "cells_per_stage": 1},
    "dataset": {"name": "digits"},
    "strategy": {"name": "random"},
    "evaluator": {"name": "partial", "epochs": 2, "data_fraction": 1.0},
    "training": {"batch_size": 64, "threads": 1},
    "costs": {"memory": False},
}
LOOKUP = {
    "name": "pg_lookup",
    "seed": 0,
    "space": {"name": "nb201"},
    "strategy": {"name": "random"},
    "evaluator": {"name": "tabular"},
}


def _workers(config: Path, n: int, args: list[str], cwd: Path) -> float:
    """Run ``n`` ``nas search`` processes at once; returns the wall time until all have exited."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "nas", "search", str(config), *args, "--quiet"],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"a worker failed:\n{err[-2000:]}")
    return time.perf_counter() - start


def _span(trials: list[optuna.trial.FrozenTrial]) -> float:
    """Seconds from the first trial's start to the last trial's end."""
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    return (max(ends) - min(starts)).total_seconds()


def _evaluations(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    return [
        t
        for t in trials
        if "duplicate_of" not in t.user_attrs and not t.user_attrs.get("interrupted")
    ]


def _db_run(url: str, study: str, config: Path, n: int, cwd: Path) -> dict[str, Any]:
    wall = _workers(config, n, ["--storage", url, "--study", study], cwd)
    trials = optuna.load_study(study_name=study, storage=url).get_trials(deepcopy=False)
    span = _span(trials)
    return {
        "workers": n,
        "trials": len(trials),
        "evaluated": len(_evaluations(trials)),
        "wall_s": round(wall, 2),
        "span_s": round(span, 2),
        "s_per_trial": round(span / len(trials), 4),
    }


def _journal_runs(config: Path, n: int, cwd: Path) -> dict[str, Any]:
    """``n`` independent searches at once, each with its own journal; their trials pooled."""
    out = cwd / f"journal-{n}-{time.monotonic_ns()}"
    wall = _workers(config, n, ["--output", str(out)], cwd)
    trials, spans = [], []
    for run in sorted((out / yaml.safe_load(config.read_text())["name"]).iterdir()):
        mine = optuna.load_study(study_name="nas", storage=RunFolder(run).storage(None)).get_trials(
            deepcopy=False
        )
        trials += mine
        spans.append(_span(mine))
    return {
        "workers": n,
        "trials": len(trials),
        "evaluated": len(_evaluations(trials)),
        "wall_s": round(wall, 2),
        "span_s": round(max(spans), 2),
        "s_per_trial": round(max(spans) / len(trials), 4),
    }


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main() -> None:
    """Measure and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24, help="trials of the training search")
    parser.add_argument("--lookups", type=int, default=300, help="trials of the lookup search")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks")
    args = parser.parse_args()
    load = {"before": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory() as tmp, postgres_server() as url:
        cwd = Path(tmp)
        train = _write(cwd / "train.yaml", {**TRAINING, "trials": args.trials})
        one = _db_run(url, "train-1", train, 1, cwd)
        two = _db_run(url, "train-2", train, 2, cwd)
        ceiling = [_journal_runs(train, 1, cwd), _journal_runs(train, 2, cwd)]
        lookup = _write(cwd / "lookup.yaml", {**LOOKUP, "trials": args.lookups})
        overhead = {
            "journal file": _journal_runs(lookup, 1, cwd),
            "postgresql, 1 worker": _db_run(url, "lookup-1", lookup, 1, cwd),
            "postgresql, 2 workers": _db_run(url, "lookup-2", lookup, 2, cwd),
        }
    load["after"] = [round(x, 2) for x in os.getloadavg()]
    speedup = one["span_s"] / two["span_s"]
    machine = ceiling[0]["s_per_trial"] / ceiling[1]["s_per_trial"]
    result = {
        "training": {"1 worker": one, "2 workers": two},
        "speedup": round(speedup, 2),
        "ceiling": {"1 process": ceiling[0], "2 processes": ceiling[1]},
        "machine_ceiling": round(machine, 2),
        "overhead": overhead,
        "load_average_1_5_15min": load,
        "machine": f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
        "command": "python experiments/benchmarks/postgres_workers.py " + " ".join(sys.argv[1:]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "postgres_workers.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "postgres_workers.md").write_text(_report(result, args))
    print(_report(result, args))


def _report(r: dict[str, Any], args: argparse.Namespace) -> str:
    rows = [
        "| run | workers | trials | evaluated | span s | s per trial | wall s |",
        "|---|---|---|---|---|---|---|",
    ]

    def row(label: str, x: dict[str, Any]) -> str:
        return (
            f"| {label} | {x['workers']} | {x['trials']} | {x['evaluated']} | {x['span_s']} | "
            f"{x['s_per_trial']} | {x['wall_s']} |"
        )

    rows += [row(f"training, PostgreSQL study, {k}", v) for k, v in r["training"].items()]
    rows += [row(f"training, independent journals, {k}", v) for k, v in r["ceiling"].items()]
    rows += [row(f"lookup, {k}", v) for k, v in r["overhead"].items()]
    journal = r["overhead"]["journal file"]["s_per_trial"]
    db = r["overhead"]["postgresql, 1 worker"]["s_per_trial"]
    return (
        f"# Workers on one PostgreSQL study\n\nCommand: `{r['command'].strip()}`  \n"
        f"Machine: {r['machine']}; load average (1, 5, 15 min) before {r['load_average_1_5_15min']['before']}, "
        f"after {r['load_average_1_5_15min']['after']} (the machine is shared with other jobs).\n\n"
        + "\n".join(rows)
        + f"\n\n**Throughput, 2 workers vs 1 on one study: {r['speedup']}x** (target 1.7x; span of the "
        f"{args.trials} trials, first start to last end, from the database). The machine's own ceiling at the "
        f"time, two independent searches vs one: {r['machine_ceiling']}x.\n\n"
        f"**Storage overhead per trial** (a lookup evaluation that costs nothing, {args.lookups} trials): "
        f"{journal * 1000:.1f} ms with the run's journal file, {db * 1000:.1f} ms with the PostgreSQL study "
        f"(1 worker: the lock, the re-count over all workers' trials, heartbeats), "
        f"{r['overhead']['postgresql, 2 workers']['s_per_trial'] * 1000:.1f} ms per trial with 2 workers "
        "sharing it.\n"
    )


if __name__ == "__main__":
    main()
