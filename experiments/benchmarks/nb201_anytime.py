"""NAS-Bench-201 anytime curves: how good a search is after 25, 50, 100 and 200 queries.

    python experiments/benchmarks/nb201_anytime.py --seeds 100 --workers 1

For each strategy, data set (CIFAR-10, CIFAR-100, ImageNet16-120) and seed it runs one search
of ``--budget`` (200) queried architectures through the toolkit's search loop (in-memory study,
tabular evaluator) and reads every smaller budget off the same search (anytime): the
architecture with the best 12-epoch validation accuracy among the first B queried is the one
the search returns at budget B. Per strategy, data set and budget the report gives the mean
200-epoch test accuracy of that architecture, the share of searches whose returned
architecture is the validation-optimal one of the whole space, the mean validation regret, and
the strategy's own CPU seconds per query (process time spent inside the sampler: fitting,
candidates, acquisition). Strategies see only validation accuracies.

Each finished search is appended to ``--runs`` (one JSON line) at once; running the command
again runs only the missing searches, so the benchmark can be run in pieces. Writes
results/benchmarks/nb201_anytime.md, a JSON of the cells, and a plotly page of the curves.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "results/benchmarks"
DATASETS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet16-120"}
BUDGETS = (25, 50, 100, 200)
#: Two architectures whose validation accuracies differ by less are tied (CIFAR-100 has such a tie
#: at the top: 61.32 and 61.3199999, float32 noise in the table).
TIE = 1e-4
#: Architectures in the NAS-Bench-201 space.
NB201_SIZE = 15_625
SYNFLOW = str(ROOT / "results/benchmarks/nb201_synflow.csv.gz")
#: synflow of a scaled-down network (C=8, N=1, 16x16): nb201_synflow.py --channels 8 --cells 1 --size 16
SYNFLOW_SMALL = str(ROOT / "results/benchmarks/nb201_synflow_small.csv.gz")
_SYNFLOW_TOP10 = {"proxy": "synflow", "pool": 1000, "top": 10, "scores": SYNFLOW}
#: The network each score file was computed on (channels, cells per stage, input size): what the
#: report charges per pool member.
SCORED_NETWORK = {SYNFLOW: (16, 5, 32), SYNFLOW_SMALL: (8, 1, 16)}
#: label -> strategy config. The zero-cost rows read synflow from a precomputed file
#: (experiments/benchmarks/nb201_synflow.py: CIFAR-10 networks, used for every data set).
STRATEGIES: dict[str, dict] = {
    "BANANAS (MLP ensemble, ITS)": {"name": "bananas"},
    "BANANAS, GP (Tanimoto kernel)": {"name": "bananas", "predictor": "gp"},
    "BANANAS, gradient-boosted trees": {"name": "bananas", "predictor": "gbt"},
    "Predictor local search (MLP ensemble, UCB)": {"name": "predictor_ls"},
    "Predictor local search, GP": {"name": "predictor_ls", "predictor": "gp"},
    "Synflow top 10 of 1,000, then predictor local search": {
        "name": "prefilter",
        "base": "predictor_ls",
        **_SYNFLOW_TOP10,
    },
    "Synflow top 10 of 1,000, then BANANAS with a synflow feature": {
        "name": "prefilter",
        "base": "bananas",
        "base_options": {"proxy_feature": {"proxy": "synflow", "scores": SYNFLOW}},
        **_SYNFLOW_TOP10,
    },
    "Synflow of a scaled-down network (C=8, N=1, 16x16), top 10 of all 15,625, then predictor local search": {
        "name": "prefilter",
        "base": "predictor_ls",
        **{**_SYNFLOW_TOP10, "pool": 15_625, "scores": SYNFLOW_SMALL},
    },
    "Local search (best-first, swaps)": {"name": "local_search"},
    "Synflow top 10 of 1,000, then local search": {
        "name": "prefilter",
        "base": "local_search",
        **_SYNFLOW_TOP10,
    },
    "REA (P=10, S=3)": {"name": "evolution", "population_size": 10, "sample_size": 3},
    "Random search": {"name": "random"},
}


def _config(strategy: dict, dataset: str, seed: int, budget: int) -> dict:
    return {
        "name": "nb201_anytime",
        "seed": seed,
        "trials": budget,
        "space": {"name": "nb201"},
        "strategy": strategy,
        "evaluator": {"name": "tabular", "dataset": dataset},
        "objectives": {"val_accuracy": "maximize"},
    }


def timed(sampler):  # noqa: ANN001, ANN201 - defined in the worker, where optuna is imported
    """``sampler`` wrapped so that the process time of every call into it is summed per trial."""
    from nas.strategies.base import ForwardingSampler

    class Timed(ForwardingSampler):
        def __init__(self, inner) -> None:  # noqa: ANN001
            self.inner = inner
            self.cpu: dict[int, float] = {}

        def delegate(self, trial):  # noqa: ANN001, ANN202
            return self.inner

        def reseed_rng(self) -> None:
            self.inner.reseed_rng()

    for name in (
        "before_trial",
        "infer_relative_search_space",
        "sample_relative",
        "sample_independent",
        "after_trial",
    ):

        def make(name: str):  # noqa: ANN202
            base = getattr(ForwardingSampler, name)

            def call(self, study, trial, *args):  # noqa: ANN001, ANN202
                start = time.process_time()
                try:
                    return base(self, study, trial, *args)
                finally:
                    spent = time.process_time() - start
                    self.cpu[trial.number] = self.cpu.get(trial.number, 0.0) + spent

            return call

        setattr(Timed, name, make(name))
    return Timed(sampler)


def one_search(job: tuple[str, str, int, int]) -> dict:
    """Run one search; the returned architecture's figures at each budget, and its timings."""
    import torch
    from optuna.trial import TrialState

    from nas.config import resolve_config
    from nas.search.components import build_components
    from nas.search.runner import search_in_memory

    torch.set_num_threads(1)
    label, dataset, seed, budget = job
    config = resolve_config(_config(STRATEGIES[label], dataset, seed, budget))
    parts = build_components(config)
    sampler = timed(parts.sampler)
    start = time.perf_counter()
    study = search_in_memory(config, dataclasses.replace(parts, sampler=sampler))
    wall = time.perf_counter() - start
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    queried = [
        t for t in trials if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs
    ]
    record: dict = {"label": label, "dataset": dataset, "seed": seed, "wall_s": wall}
    record["proposals"] = len(trials)
    best = None
    for b in BUDGETS:
        if b > len(queried):
            break
        last = queried[b - 1].number
        best = max(queried[:b], key=lambda t: (t.values[0], -t.number))  # never reads test accuracy
        cpu = sum(s for n, s in sampler.cpu.items() if n <= last)
        record[str(b)] = {
            "val": best.values[0],
            "test": best.user_attrs["metrics"]["test_accuracy"],
            "arch": best.user_attrs["arch"],
            "cpu_s": cpu,
        }
    return record


def run_jobs(args: argparse.Namespace) -> list[dict]:
    """Run the searches missing from ``--runs``; return every record for the asked cells."""
    runs = Path(args.runs)
    records = []
    for line in runs.read_text().splitlines() if runs.exists() else []:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line torn by a killed run: that search runs again
            print(f"skipping a torn line of {runs.name}: {line[:60]!r}", flush=True)
    done = {(r["label"], r["dataset"], r["seed"]) for r in records}
    jobs = [
        (label, ds, seed, args.budget)
        for seed in range(args.first_seed, args.first_seed + args.seeds)
        for label in args.strategies
        for ds in args.datasets
        if (label, ds, seed) not in done
    ]
    if jobs and not args.report_only:
        runs.parent.mkdir(parents=True, exist_ok=True)
        print(f"{len(jobs)} searches to run", flush=True)
        with Pool(args.workers) as pool, runs.open("a") as fh:
            for record in pool.imap_unordered(one_search, jobs):
                record["loadavg"] = os.getloadavg()[0]
                fh.write(json.dumps(record) + "\n")
                fh.flush()
                records.append(record)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    return [
        r
        for r in records
        if r["label"] in args.strategies and r["dataset"] in args.datasets and r["seed"] in seeds
    ]


def pool_networks(label: str) -> tuple[int, tuple[int, int, int]]:
    """How many networks a strategy scores by a zero-cost proxy before its first query (its
    pre-filter pool; 0 for the others), and which network (channels, cells, input size). The
    benchmark reads those scores from a file; a search without one computes them (the prefilter
    option ``space_options`` scores a scaled-down network), and the report charges that cost."""
    config = STRATEGIES[label]
    if config["name"] != "prefilter":
        return 0, SCORED_NETWORK[SYNFLOW]
    return min(int(config.get("pool", 1000)), NB201_SIZE), SCORED_NETWORK[config["scores"]]


def synflow_cpu_per_network(
    network: tuple[int, int, int] = (16, 5, 32), samples: int = 30, seed: int = 0
) -> float:
    """Mean process CPU seconds to build one NAS-Bench-201 network (``network``: channels, cells
    per stage, input size; 10 classes) and score it by synflow, one torch thread: what a
    pre-filter pays per pool member when it has no score file."""
    from experiments.benchmarks.nb201_synflow import score_chunk
    from search_spaces.nb201 import NB201Space

    space, rng = NB201Space(), np.random.default_rng(seed)
    rows = [(i, space.format(space.sample(rng))) for i in range(samples)]
    return float(np.mean([seconds for *_, seconds in score_chunk((rows, seed, network))]))


def cells(
    records: list[dict],
    optimum: dict[str, float],
    per_network: dict[tuple[int, int, int], float] | None = None,
) -> dict:
    """label -> dataset -> budget -> the figures of the cell; ``per_network``: the CPU seconds of
    one zero-cost score on each network, charged for each pool member (:func:`pool_networks`)."""
    out: dict = {}
    for r in records:
        proxy_s = 0.0
        if per_network and r["label"] in STRATEGIES:
            count, network = pool_networks(r["label"])
            proxy_s = count * per_network[network] if count else 0.0
        for b in BUDGETS:
            if str(b) not in r:
                continue
            at = r[str(b)]
            cell = (
                out.setdefault(r["label"], {})
                .setdefault(r["dataset"], {})
                .setdefault(str(b), {"test": [], "found": [], "regret": [], "cpu": [], "proxy": []})
            )
            cell["test"].append(at["test"])
            cell["found"].append(at["val"] >= optimum[r["dataset"]] - TIE)
            cell["regret"].append(optimum[r["dataset"]] - at["val"])
            cell["cpu"].append((at["cpu_s"] + proxy_s) / b)
            cell["proxy"].append(proxy_s / b)
    for by_ds in out.values():
        for by_b in by_ds.values():
            for b, cell in by_b.items():
                by_b[b] = {
                    "seeds": len(cell["test"]),
                    "test_mean": float(np.mean(cell["test"])),
                    "test_std": float(np.std(cell["test"])),
                    "found_share": float(np.mean(cell["found"])),
                    "regret_mean": float(np.mean(cell["regret"])),
                    "cpu_per_query": float(np.mean(cell["cpu"])),
                    "cpu_per_query_max": float(np.max(cell["cpu"])),
                    "proxy_cpu_per_query": float(np.mean(cell["proxy"])),
                }
    return out


def optima() -> tuple[dict[str, float], dict[str, float]]:
    """The best 12-epoch validation accuracy of each data set, and the best 200-epoch test accuracy."""
    import pandas as pd

    from nas.tables import nb201_table_path

    frame = pd.read_csv(nb201_table_path())
    return (
        {d: float(frame[f"{d}_val_12ep"].max()) for d in DATASETS},
        {d: float(frame[f"{d}_test_200ep"].max()) for d in DATASETS},
    )


def main(argv: list[str] | None = None) -> int:
    """Run the missing searches, then write the report, its JSON and the plotly page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=max(BUDGETS))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument(
        "--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES)
    )
    parser.add_argument("--runs", default=str(OUT / "nb201_anytime_runs.jsonl"))
    parser.add_argument("--output", default=str(OUT / "nb201_anytime.md"))
    parser.add_argument("--report-only", action="store_true", help="run nothing new")
    parser.add_argument(
        "--note", default="", help="a paragraph added to the report (machine load, ...)"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from experiments.benchmarks.nb201_anytime_report import write_outputs

    load_before = os.getloadavg()
    start = time.perf_counter()
    records = run_jobs(args)
    val_best, test_best = optima()
    per_network = {net: synflow_cpu_per_network(net) for net in set(SCORED_NETWORK.values())}
    table = cells(records, val_best, per_network)
    meta = {
        "seeds": args.seeds,
        "first_seed": args.first_seed,
        "budget": args.budget,
        "workers": args.workers,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "loadavg_per_search": [r.get("loadavg") for r in records if "loadavg" in r],
        "wall_s": time.perf_counter() - start,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "val_optimum": val_best,
        "test_optimum": test_best,
        "synflow_cpu_s_per_network": {
            f"C={c}, N={n}, {s}x{s}": v for (c, n, s), v in sorted(per_network.items())
        },
        "note": args.note,
    }
    text = write_outputs(args, table, meta)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
