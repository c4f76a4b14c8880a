"""NAS-Bench-201 paper table by table lookup, and the toolkit's per-trial overhead.

    python experiments/benchmarks/nb201_table.py

For each strategy and data set (CIFAR-10, CIFAR-100, ImageNet16-120) it runs ``--seeds``
searches of ``--budget`` queried architectures through the toolkit's search loop (in-memory
studies, the tabular evaluator), takes the architecture with the best 12-epoch validation
accuracy among those queried and reports the mean ± std of its 200-epoch test accuracy.
Then it times 1,000-trial searches: a bare Optuna ask/tell loop (random sampler, in-memory),
the toolkit's loop in memory, and the full runner with its on-disk journal storage.
Writes results/benchmarks/nb201_table.md (and a JSON of the raw numbers beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
#: Synflow of every architecture's CIFAR-10 network (experiments/benchmarks/nb201_synflow.py).
SYNFLOW = str(ROOT / "results/benchmarks/nb201_synflow.csv.gz")
_REA = {"population_size": 10, "sample_size": 3}
DATASETS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet16-120"}
#: label -> (strategy config, seeds cap or None). Slow samplers get fewer seeds (stated in the table).
STRATEGIES: dict[str, dict] = {
    "Random search": {"name": "random"},
    "REA (P=10, S=3)": {"name": "evolution", "population_size": 10, "sample_size": 3},
    "REINFORCE": {"name": "reinforce"},
    "Local search (best-first, swaps)": {"name": "local_search"},
    "Optuna TPE": {"name": "tpe"},
    "Optuna NSGA-II (pop 20)": {"name": "nsga2", "population_size": 20},
    "Optuna QMC (Sobol)": {"name": "qmc"},
    "REINFORCE (LSTM controller, lr 0.001)": {
        "name": "reinforce",
        "controller": "lstm",
        "learning_rate": 0.001,
    },
    "Optuna GP": {"name": "gp"},
    # zero-cost pre-filtering by synflow (scores read from SYNFLOW; CIFAR-10 networks)
    "Synflow pre-filter: top 100 of 1,000 random": {
        "name": "prefilter",
        "base": "random",
        "proxy": "synflow",
        "pool": 1000,
        "top": 100,
        "scores": SYNFLOW,
    },
    "Synflow top 100 of all 15,625": {
        "name": "prefilter",
        "base": "random",
        "proxy": "synflow",
        "pool": 15625,
        "top": 100,
        "scores": SYNFLOW,
    },
    "REA, synflow warm start (best 10 of 1,000)": {
        "name": "evolution",
        **_REA,
        "warm_start": {"proxy": "synflow", "pool": 1000, "scores": SYNFLOW},
    },
    "REA, synflow warm start (best 10 of 15,625)": {
        "name": "evolution",
        **_REA,
        "warm_start": {"proxy": "synflow", "pool": 15625, "scores": SYNFLOW},
    },
    "Local search after synflow pre-filter (best 10 of 1,000)": {
        "name": "prefilter",
        "base": "local_search",
        "proxy": "synflow",
        "pool": 1000,
        "top": 10,
        "scores": SYNFLOW,
    },
}
#: The zero-cost rows, reported on their own (results/benchmarks/nb201_prefilter.md).
PROXY_ROWS = [label for label in STRATEGIES if "synflow" in label]
PAPER_CIFAR10 = {
    "Random search": "93.70 ± 0.36",
    "REA (P=10, S=3)": "93.92 ± 0.30",
    "REINFORCE": "93.85 ± 0.37",
}
#: Samplers too slow for --seeds on two cores: at most this many seeds, on these data sets only.
#: Optuna's GP takes about 10 s a search of 100 trials, but a search of seed 27 or 28 did not
#: finish in 15 minutes here (not investigated), so the cap stops below it.
SLOW = {"Optuna GP": (27, tuple(DATASETS))}


def _config(strategy: dict, dataset: str, seed: int, budget: int, table: str | None) -> dict:
    """A search's config; ``table`` None reads the table shipped with nas."""
    evaluator = {"name": "tabular", "dataset": dataset, **({"table": table} if table else {})}
    return {
        "name": "nb201_table",
        "seed": seed,
        "trials": budget,
        "space": {"name": "nb201"},
        "strategy": strategy,
        "evaluator": evaluator,
        "objectives": {"val_accuracy": "maximize"},
    }


def one_search(
    job: tuple[str, str, int, int, str | None],
) -> tuple[str, str, int, float, float, int, float]:
    """Run one search; return (label, dataset, seed, chosen test acc, chosen val acc, trials, seconds)."""
    import torch
    from optuna.trial import TrialState

    from nas.config import resolve_config
    from nas.search.runner import search_in_memory

    torch.set_num_threads(1)
    label, dataset, seed, budget, table = job
    start = time.perf_counter()
    study = search_in_memory(
        resolve_config(_config(STRATEGIES[label], dataset, seed, budget, table))
    )
    seconds = time.perf_counter() - start
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    queried = [t for t in trials if "duplicate_of" not in t.user_attrs]
    assert len(queried) == budget, (label, len(queried))
    chosen = max(
        queried, key=lambda t: (t.values[0], -t.number)
    )  # never looks at the test accuracy
    metrics = chosen.user_attrs["metrics"]
    return (
        label,
        dataset,
        seed,
        metrics["test_accuracy"],
        metrics["val_accuracy"],
        len(trials),
        seconds,
    )


def quality(args: argparse.Namespace) -> dict:
    """Mean ± std of the chosen architecture's test accuracy per strategy and data set.

    Each finished search is appended to ``--runs`` (JSON lines) at once, and searches already
    there are not run again, so an interrupted benchmark continues where it stopped.
    """
    runs = Path(args.runs)
    done = set()
    if runs.exists() and not args.fresh:
        done = {
            (r["label"], r["dataset"], r["seed"])
            for r in map(json.loads, runs.read_text().splitlines())
        }
    elif runs.exists():
        runs.unlink()
    jobs = []
    for label in args.strategies:
        seeds, datasets = SLOW.get(label, (args.seeds, args.datasets))
        jobs += [
            (label, ds, seed, args.budget, args.table)
            for ds in args.datasets
            if ds in datasets
            for seed in range(min(seeds, args.seeds))
            if (label, ds, seed) not in done
        ]
    # seed-major (the slow samplers last): an interrupted run leaves every strategy with about as
    # many seeds
    order = {label: i for i, label in enumerate(args.strategies)}
    jobs.sort(key=lambda job: (job[0] in SLOW, job[2], order[job[0]], job[1]))
    runs.parent.mkdir(parents=True, exist_ok=True)
    if jobs and not args.report_only:
        with Pool(args.workers) as pool, runs.open("a") as fh:
            for label, ds, seed, test, val, n, sec in pool.imap(one_search, jobs, chunksize=4):
                record = {
                    "label": label,
                    "dataset": ds,
                    "seed": seed,
                    "test": test,
                    "val": val,
                    "trials": n,
                    "seconds": sec,
                }
                fh.write(json.dumps(record) + "\n")
                fh.flush()
    results: dict = {}
    for r in map(json.loads, runs.read_text().splitlines()):
        if r["label"] in args.strategies and r["dataset"] in args.datasets:
            cell = results.setdefault(r["label"], {}).setdefault(
                r["dataset"], {k: [] for k in ("test", "val", "trials", "seconds")}
            )
            for key in cell:
                cell[key].append(r[key])
    return results


def overhead(args: argparse.Namespace) -> dict:
    """Seconds per trial: bare Optuna loop, the toolkit in memory, the full runner on disk."""
    import optuna

    from nas.config import resolve_config
    from nas.search.components import build_components
    from nas.search.runner import run_search, search_in_memory

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n = args.overhead_trials
    config = resolve_config(_config(STRATEGIES["REA (P=10, S=3)"], "cifar10", 0, n, args.table))
    parts = build_components(config)  # loads the table once, outside the timings
    decisions = parts.space.decisions()
    rows = parts.evaluator.rows
    from search_spaces.nb201 import arch_to_str

    load = {"before": os.getloadavg()}
    start = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(n):
        trial = study.ask()
        arch = {name: trial.suggest_categorical(name, list(c)) for name, c in decisions.items()}
        study.tell(trial, rows[arch_to_str(arch)]["val_accuracy"])
    bare = time.perf_counter() - start

    start = time.perf_counter()
    study = search_in_memory(config, build_components(config))
    memory = time.perf_counter() - start
    memory_trials = len(study.trials)

    with tempfile.TemporaryDirectory() as out:
        disk_config = config.model_copy(update={"output": out})
        start = time.perf_counter()
        result = run_search(disk_config, progress=False)
        disk = time.perf_counter() - start
        disk_trials = len(result.frame)
    load["after"] = os.getloadavg()
    return {
        "trials": n,
        "bare_s": bare,
        "memory_s": memory,
        "memory_trials": memory_trials,
        "disk_s": disk,
        "disk_trials": disk_trials,
        "loadavg": load,
    }


def _cell(values: list[float]) -> str:
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}"


def _overhead_row(loop: str, seconds: float, trials: int) -> str:
    """One row of the overhead table: the loop, its total seconds and milliseconds per trial."""
    return f"| {loop} | {seconds:.2f} | {1000 * seconds / trials:.2f} |"


def report(args: argparse.Namespace, results: dict, over: dict, wall: float) -> str:
    """The markdown report."""
    lines = [
        f"# {args.title}",
        "",
        f"Command: `python experiments/benchmarks/nb201_table.py` (seeds={args.seeds}, budget={args.budget} "
        f"queried architectures, {args.workers} worker processes on a shared 2-core machine). Finished searches "
        f"are kept in `{Path(args.runs).name}`, and running the command again runs only the missing ones; the "
        "seeds column gives the searches per data set behind each cell.",
        "",
        "Each cell: mean ± std over seeds of the 200-epoch test accuracy (%) of the architecture with the best "
        "12-epoch validation accuracy among the queried ones (the search signal; strategies never see test "
        "accuracies). Re-proposals of an already queried architecture are free and not counted.",
        "",
        "| strategy | "
        + " | ".join(DATASETS[d] for d in args.datasets)
        + " | seeds | paper, CIFAR-10 |",
        "|---|" + "---|" * len(args.datasets) + "---|---|",
    ]
    for label in [x for x in args.strategies if x in results]:
        cells = [
            _cell(results[label][d]["test"]) if d in results[label] else "—" for d in args.datasets
        ]
        seeds = "/".join(
            str(len(results[label][d]["test"])) if d in results[label] else "0"
            for d in args.datasets
        )
        lines.append(
            f"| {label} | " + " | ".join(cells) + f" | {seeds} | {PAPER_CIFAR10.get(label, '')} |"
        )
    lines += [
        "",
        "Mean proposals per search (duplicates included) and seconds per search:",
        "",
        "| strategy | proposals | s / search |",
        "|---|---|---|",
    ]
    for label in [x for x in args.strategies if x in results]:
        first = next(iter(results[label].values()))
        lines.append(
            f"| {label} | {np.mean(first['trials']):.0f} | {np.mean(first['seconds']):.3f} |"
        )
    n = over["trials"]
    lines += [
        "",
        f"## Overhead: {n}-trial regularized-evolution searches with the tabular evaluator",
        "",
        "| loop | total s | ms / trial |",
        "|---|---|---|",
        _overhead_row(
            "bare Optuna ask/tell, RandomSampler, in-memory (same table lookup)", over["bare_s"], n
        ),
        _overhead_row(
            f"toolkit loop, in-memory study ({over['memory_trials']} trials incl. duplicates)",
            over["memory_s"],
            n,
        ),
        _overhead_row(
            f"full runner, journal file in the run folder ({over['disk_trials']} trials incl. duplicates)",
            over["disk_s"],
            n,
        ),
        "",
        f"In memory / bare: {over['memory_s'] / over['bare_s']:.2f}×. Load average (1, 5, 15 min) before: "
        f"{', '.join(f'{x:.2f}' for x in over['loadavg']['before'])}; after: "
        f"{', '.join(f'{x:.2f}' for x in over['loadavg']['after'])} (2 cores, shared with other jobs).",
        "",
        f"Python {platform.python_version()}, {platform.machine()}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the table and the overhead measurement; write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--table",
        help="a table in the format of nb201.csv.gz (default: the one shipped "
        "with nas, nas/tables/nb201.csv.gz)",
    )
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument(
        "--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES)
    )
    parser.add_argument("--overhead-trials", type=int, default=1000)
    parser.add_argument("--output", default=str(ROOT / "results/benchmarks/nb201_table.md"))
    parser.add_argument(
        "--runs",
        default=str(ROOT / "results/benchmarks/nb201_table_runs.jsonl"),
        help="one JSON line per finished search; reused when the benchmark is run again",
    )
    parser.add_argument(
        "--title",
        default="NAS-Bench-201 by table lookup: the paper's table, and the toolkit's overhead",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="discard the runs of earlier invocations"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="write the report from --runs; run nothing new"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    start = time.perf_counter()
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    over = overhead(args)
    out.with_suffix(".json").write_text(json.dumps({"overhead": over}, indent=1) + "\n")
    results = quality(args)
    text = report(args, results, over, time.perf_counter() - start)
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
