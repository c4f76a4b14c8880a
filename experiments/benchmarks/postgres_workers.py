"""Workers on one PostgreSQL study: throughput of 2 workers vs 1, and storage overhead per trial.

    python experiments/benchmarks/postgres_workers.py                # about 6 minutes on 2 cores
    python experiments/benchmarks/postgres_workers.py --rounds 1     # a quicker look

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


def _steady(by_worker: list[list[optuna.trial.FrozenTrial]]) -> float:
    """Seconds per trial while every worker runs: from the moment the last worker (after its process
    start-up) started its first trial to the last trial's end, over the trials that ended then."""
    start = max(min(t.datetime_start for t in mine if t.datetime_start) for mine in by_worker)
    ends = [t.datetime_complete for mine in by_worker for t in mine if t.datetime_complete]
    done = [end for end in ends if end > start]
    return (max(ends) - start).total_seconds() / len(done)


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
    by_worker: dict[int, list[optuna.trial.FrozenTrial]] = {}
    for t in trials:
        by_worker.setdefault(t.user_attrs.get("worker", -1), []).append(t)
    return {
        "steady_s_per_trial": round(_steady([v for k, v in by_worker.items() if k >= 0]), 4),
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
    trials, spans, by_run = [], [], []
    for run in sorted((out / yaml.safe_load(config.read_text())["name"]).iterdir()):
        study = optuna.load_study(study_name="nas", storage=RunFolder(run).storage(None))
        mine = study.get_trials(deepcopy=False)
        trials += mine
        spans.append(_span(mine))
        by_run.append(mine)
    return {
        "steady_s_per_trial": round(_steady(by_run), 4),
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
    parser.add_argument("--trials", type=int, default=16, help="trials of the training search")
    parser.add_argument(
        "--rounds", type=int, default=2, help="interleaved repeats (the best of each is kept)"
    )
    parser.add_argument("--lookups", type=int, default=300, help="trials of the lookup search")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks")
    args = parser.parse_args()
    load = {"before": [round(x, 2) for x in os.getloadavg()]}
    runs: dict[str, list[dict[str, Any]]] = {
        k: [] for k in ("db 1", "db 2", "journal 1", "journal 2")
    }
    with tempfile.TemporaryDirectory() as tmp, postgres_server() as url:
        cwd = Path(tmp)
        train = _write(cwd / "train.yaml", {**TRAINING, "trials": args.trials})
        for i in range(args.rounds):  # interleaved: a change of the machine's load hits all alike
            runs["db 1"].append(_db_run(url, f"train-1-{i}", train, 1, cwd))
            runs["db 2"].append(_db_run(url, f"train-2-{i}", train, 2, cwd))
            runs["journal 1"].append(_journal_runs(train, 1, cwd))
            runs["journal 2"].append(_journal_runs(train, 2, cwd))
        lookup = _write(cwd / "lookup.yaml", {**LOOKUP, "trials": args.lookups})
        overhead = {
            "journal file": _journal_runs(lookup, 1, cwd),
            "postgresql, 1 worker": _db_run(url, "lookup-1", lookup, 1, cwd),
            "postgresql, 2 workers": _db_run(url, "lookup-2", lookup, 2, cwd),
        }
    load["after"] = [round(x, 2) for x in os.getloadavg()]
    best = {k: min(v, key=lambda x: x["steady_s_per_trial"]) for k, v in runs.items()}
    result = {
        "rounds": runs,
        "best": best,
        "speedup": round(
            best["db 1"]["steady_s_per_trial"] / best["db 2"]["steady_s_per_trial"], 2
        ),
        "speedup_per_round": [
            round(a["steady_s_per_trial"] / b["steady_s_per_trial"], 2)
            for a, b in zip(runs["db 1"], runs["db 2"], strict=True)
        ],
        "machine_ceiling": round(
            best["journal 1"]["steady_s_per_trial"] / best["journal 2"]["steady_s_per_trial"], 2
        ),
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
    head = "| run | round | workers | trials | evaluated | span s | s per trial | steady s per trial | wall s |"
    rows = [head, "|---|---|---|---|---|---|---|---|---|"]
    labels = {
        "db 1": "training, one PostgreSQL study",
        "db 2": "training, one PostgreSQL study",
        "journal 1": "training, independent journal runs",
        "journal 2": "training, independent journal runs",
    }

    def row(label: str, i: str, x: dict[str, Any]) -> str:
        return (
            f"| {label} | {i} | {x['workers']} | {x['trials']} | {x['evaluated']} | {x['span_s']} | "
            f"{x['s_per_trial']} | {x['steady_s_per_trial']} | {x['wall_s']} |"
        )

    for key, runs in r["rounds"].items():
        rows += [row(labels[key], str(i + 1), x) for i, x in enumerate(runs)]
    rows += [row(f"lookup, {k}", "", v) for k, v in r["overhead"].items()]
    journal = r["overhead"]["journal file"]["s_per_trial"]
    db = r["overhead"]["postgresql, 1 worker"]["s_per_trial"]
    load = r["load_average_1_5_15min"]
    return (
        f"# Workers on one PostgreSQL study\n\nCommand: `{r['command'].strip()}`  \n"
        f"Machine: {r['machine']}; load average (1, 5, 15 min) before {load['before']}, after {load['after']} "
        "(the machine is shared with other jobs).\n\n"
        + "\n".join(rows)
        + f"\n\n**Throughput, 2 workers vs 1 on one study: {r['speedup']}x** (target 1.7x; best of "
        f"{args.rounds} interleaved rounds, per round {r['speedup_per_round']}; 'steady s per trial': from the "
        "moment the last worker, after its process start-up, started its first trial to the last trial's end, "
        "over the trials that ended in that window, from the database's timestamps; 'span' counts from the "
        "first trial's start, so a second worker's start-up counts against it). "
        f"The machine's own ceiling at the time, two independent searches (journal files) vs one: "
        f"{r['machine_ceiling']}x; the shared study reached {r['speedup'] / r['machine_ceiling']:.0%} of it.\n\n"
        f"**Storage overhead per trial** (a lookup evaluation that costs nothing, {args.lookups} trials): "
        f"{journal * 1000:.1f} ms with the run's journal file, {db * 1000:.1f} ms with the PostgreSQL study "
        f"(1 worker: the lock, the re-count over all workers' trials, heartbeats), "
        f"{r['overhead']['postgresql, 2 workers']['s_per_trial'] * 1000:.1f} ms per trial with 2 workers "
        "sharing it.\n"
    )


if __name__ == "__main__":
    main()
