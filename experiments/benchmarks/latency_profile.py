"""Latency profiles: lookup-table accuracy per space, few-shot transfer, and a latency-constrained search.

    python experiments/benchmarks/latency_profile.py [--parts lut,transfer,search,ceiling]

- ``lut``: for nb201, darts and mbconv at their example sizes (experiments/nb201_tabular.yaml at
  3x32x32, darts_space_digits.yaml and mbconv_digits.yaml at digits' 1x8x8), profile this CPU
  (``nas.costs.profiling.profile_device``: every unit + 10 whole networks for the overhead fit),
  then measure 200 other random candidates whole with the same timer and compare: Spearman rho
  and MAPE of the plain unit sum and of the fitted prediction.
- ``transfer``: HELP's split on the shipped NAS-Bench-201 table. For each meta-test device, the
  "measured" samples are the table's latencies of 10 architectures (10 random draws, and the
  fixed design of ``nas.costs.transfer.design``); rho over all 15,625 architectures. Baselines:
  ridge on one-hot operation features from 20 random samples (10 draws), and the transfer
  model's ceiling (fitted on all 15,625).
- ``search``: pixel2 under its median latency. A profile fitted by few-shot transfer on 10
  pixel2 latencies of the table gives ``predicted_latency_ms``; NSGA-II (tabular evaluator) searches
  val_accuracy vs predicted latency under ``predicted_latency_ms <= budget``. The same search
  with the table's true ``lat_pixel2`` is the reference. Per seed: the share of the returned
  Pareto architectures truly within the budget, and the best truly-feasible val accuracy.

Writes results/benchmarks/latency_profile.json (the figures of latency_profile.md, which is written from it by hand).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch
from scipy.stats import spearmanr

from nas.config import read_yaml
from nas.costs.profile import LatencyProfile
from nas.costs.profiling import profile_device, time_module
from nas.costs.transfer import (
    META_TEST,
    META_TRAIN,
    design,
    device_latency,
    fit_log_ridge,
    fit_transfer,
    meta_features,
    table_archs,
)
from nas.factories import create_space

EXAMPLES = {
    "nb201": ("experiments/nb201_tabular.yaml", (3, 32, 32)),
    "darts": ("experiments/darts_space_digits.yaml", (1, 8, 8)),
    "mbconv": ("experiments/mbconv_digits.yaml", (1, 8, 8)),
}
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def lut(args: argparse.Namespace) -> dict:
    """Per space: profile, then 200 random candidates measured whole vs predicted."""
    out = {}
    for name, (config, shape) in EXAMPLES.items():
        if name not in args.spaces.split(","):
            continue
        if name == "nb201":
            shape = (3, args.nb201_size, args.nb201_size)
        section = dict(read_yaml(ROOT / config)["space"])
        space = create_space(section.pop("name"), **section)
        start = time.perf_counter()
        profile = profile_device(
            space, shape, samples=10, repeats=args.repeats, warmup=args.warmup, clock=args.clock
        )
        seconds = time.perf_counter() - start
        rng = np.random.default_rng(12345)
        measured, summed, predicted, retest = [], [], [], []

        def timed(model: torch.nn.Module, shape: tuple[int, int, int] = shape) -> float:
            cpu = torch.device("cpu")
            return time_module(
                model,
                shape,
                1,
                device=cpu,
                repeats=args.repeats,
                warmup=args.warmup,
                clock=args.clock,
            )

        start = time.perf_counter()
        for _ in range(args.candidates):
            arch = space.sample(rng)
            model = space.build(arch, num_classes=10, input_shape=shape)
            measured.append(timed(model))
            if len(retest) < args.retest:  # the truth's own repeatability
                retest.append(timed(model))
            summed.append(profile.unit_sum(space.latency_units(arch, shape), 1))
            predicted.append(profile.predict(arch, space)["predicted_latency_ms"])
        m, s, p = (np.asarray(v) for v in (measured, summed, predicted))
        out[name] = {
            "config": config,
            "input_shape": list(shape),
            "units": len(profile.units["1"]),
            "profile_seconds": seconds,
            "measure_seconds": time.perf_counter() - start,
            "overhead": profile.overhead["1"],
            "measured_ms": [float(m.min()), float(np.median(m)), float(m.max())],
            "rho_sum": float(spearmanr(s, m).statistic),
            "rho_retest": float(spearmanr(retest, m[: len(retest)]).statistic),
            "rho_fitted": float(spearmanr(p, m).statistic),
            "mape_sum": float(100 * np.mean(np.abs(s - m) / m)),
            "mape_fitted": float(100 * np.mean(np.abs(p - m) / m)),
        }
        print(name, {k: v for k, v in out[name].items() if k != "config"}, flush=True)
    return out


def one_hot() -> np.ndarray:
    """Per architecture, one-hot operation of each of the 6 edges (30 columns)."""
    rows = []
    for text in table_archs():
        ops = re.findall(r"([a-z_0-9]+)~\d", text)
        rows.append([1.0 if OPS.index(op) == j else 0.0 for op in ops for j in range(len(OPS))])
    return np.asarray(rows)


def rho_of_fit(features: np.ndarray, idx: np.ndarray, y: np.ndarray) -> float:
    """Spearman rho over all architectures of a log-space ridge fitted on rows ``idx``."""
    w, b = fit_log_ridge(features[idx], np.log(y[idx]), scale=(features.mean(0), features.std(0)))
    return float(spearmanr(features @ w + b, y).statistic)


def transfer(args: argparse.Namespace) -> dict:
    """Few-shot transfer and its baselines, per meta-test device."""
    archs, index = table_archs(), {a: i for i, a in enumerate(table_archs())}
    features, hot = meta_features(), one_hot()
    fixed = np.asarray([index[a] for a in design(10)])
    out = {}
    for device in META_TEST:
        y = device_latency(device)
        rng = np.random.default_rng(0)
        random10, onehot20 = [], []
        for _ in range(args.draws):
            idx = rng.choice(len(archs), 10, replace=False)
            model = fit_transfer({archs[i]: float(y[i]) for i in idx})
            random10.append(float(spearmanr(model.predict(), y).statistic))
            onehot20.append(rho_of_fit(hot, rng.choice(len(archs), 20, replace=False), y))
        designed = fit_transfer({archs[i]: float(y[i]) for i in fixed})
        out[device] = {
            "design10": float(spearmanr(designed.predict(), y).statistic),
            "random10_mean": float(np.mean(random10)),
            "random10_min": float(np.min(random10)),
            "onehot20_mean": float(np.mean(onehot20)),
            "ceiling": rho_of_fit(features, np.arange(len(archs)), y),
            "distinct_values": int(len(np.unique(y))),
        }
        print(device, out[device], flush=True)
    return out


def _search(profile: str | None, budget: float, seed: int, trials: int) -> list[dict]:
    from optuna.trial import TrialState

    from nas.config import resolve_config
    from nas.search.runner import search_in_memory

    key = "predicted_latency_ms" if profile else "lat_pixel2"
    config = {
        "name": "pixel2", "seed": seed, "trials": trials, "space": {"name": "nb201"},
        "strategy": {"name": "nsga2", "population_size": 20}, "evaluator": {"name": "tabular"},
        "objectives": {"val_accuracy": "maximize", key: "minimize"},
        "constraints": {key: f"<= {budget}"},
        **({"costs": {"latency_profile": profile}} if profile else {}),
    }  # fmt: skip
    study = search_in_memory(resolve_config(config))
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if "duplicate_of" in t.user_attrs:
            continue
        m = t.user_attrs["metrics"]
        rows.append({"acc": m["val_accuracy"], "lat": m[key], "true": m["lat_pixel2"]})
    return rows


def _front(rows: list[dict], budget: float) -> list[dict]:
    feasible = [r for r in rows if r["lat"] <= budget]

    def dominated(r: dict) -> bool:
        return any(
            o["acc"] >= r["acc"]
            and o["lat"] <= r["lat"]
            and (o["acc"], o["lat"]) != (r["acc"], r["lat"])
            for o in feasible
        )

    return [r for r in feasible if not dominated(r)]


def search(args: argparse.Namespace) -> dict:
    """pixel2 under its median latency: predicted (few-shot) vs true latencies, per seed."""
    y = device_latency("pixel2")
    budget = float(np.median(y))
    index = {a: i for i, a in enumerate(table_archs())}
    model = fit_transfer({a: float(y[index[a]]) for a in design(10)})
    space = create_space("nb201")
    profile = LatencyProfile(
        device={"type": "pixel2 (NAS-Bench-201 table)", "backend": "table", "threads": 0},
        space="nb201", space_repr=repr(space), input_shape=(3, 32, 32), batch_sizes=[1],
        method="transfer", transfer={"1": model.to_dict()},
    )  # fmt: skip
    out: dict = {"budget_ms": budget, "trials": args.trials, "runs": []}
    margins = [float(m) for m in args.margins.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        path = str(profile.save(Path(tmp) / "pixel2.json"))
        for seed in range(args.seeds):
            true = _search(None, budget, seed, args.trials)
            best_true = max(r["acc"] for r in true if r["true"] <= budget)
            for margin in margins:
                limit = budget * (1 - margin)
                predicted = _search(path, limit, seed, args.trials)
                front = _front(predicted, limit)
                row = {
                    "seed": seed,
                    "margin": margin,
                    "front": len(front),
                    "front_feasible": sum(r["true"] <= budget for r in front),
                    "best_front": max(
                        (r["acc"] for r in front if r["true"] <= budget), default=0.0
                    ),
                    "best_true_search": best_true,
                }
                out["runs"].append(row)
                print(row, flush=True)
    return out


def ceiling(args: argparse.Namespace) -> dict:
    """How well any model can rank a test device in the table: gradient-boosted trees trained on
    12,000 of its own latencies, Spearman rho on the other architectures (one-hot operations, the
    meta-train devices' log latencies, both)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    from nas.predictors.encodings import encoding
    from search_spaces.nb201 import str_to_arch

    archs = table_archs()
    onehot = encoding(create_space("nb201"), "onehot").encode([str_to_arch(a) for a in archs])
    logs = meta_features()
    order = np.random.default_rng(0).permutation(len(archs))
    train, test = order[:12000], order[12000:]
    out = {}
    for device in META_TEST:
        y = np.log(device_latency(device))
        out[device] = {}
        for name, x in {"onehot": onehot, "meta": logs, "both": np.c_[onehot, logs]}.items():
            model = HistGradientBoostingRegressor(max_iter=300, random_state=0).fit(
                x[train], y[train]
            )
            rho = float(spearmanr(model.predict(x[test]), y[test]).statistic)
            out[device][name] = rho
        print(device, {k: round(v, 3) for k, v in out[device].items()})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", default="lut,transfer,search")
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--spaces", default="nb201,darts,mbconv")
    parser.add_argument("--retest", type=int, default=50, help="candidates measured twice")
    parser.add_argument("--clock", choices=("wall", "thread"), default="thread")
    parser.add_argument("--nb201-size", type=int, default=32, help="nb201's input side (CIFAR: 32)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument(
        "--margins", default="0,0.05,0.1", help="predicted budget = budget * (1 - margin)"
    )
    parser.add_argument("--output", default=str(ROOT / "results/benchmarks/latency_profile.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results: dict = {
        "command": "python experiments/benchmarks/latency_profile.py "
        + " ".join(argv or sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, 1 thread",
        "load_start": os.getloadavg(),
        "meta_train": list(META_TRAIN),
    }
    start = time.perf_counter()
    parts = {"lut": lut, "transfer": transfer, "search": search, "ceiling": ceiling}
    for part in args.parts.split(","):
        results[f"lut_{args.clock}" if part == "lut" else part] = parts[part](args)
    results["load_end"] = os.getloadavg()
    results["seconds"] = time.perf_counter() - start
    previous = json.loads(Path(args.output).read_text()) if Path(args.output).exists() else {}
    Path(args.output).write_text(json.dumps({**previous, **results}, indent=1) + "\n")
    print(f"wrote {args.output} ({results['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
