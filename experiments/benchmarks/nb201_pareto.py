"""NAS-Bench-201 with two objectives: how much of the true Pareto front a 100-query search covers.

    python experiments/benchmarks/nb201_pareto.py --seeds 20

Objectives: the 12-epoch CIFAR-10 validation accuracy (maximised) and the Pixel 3 latency of the
table (``lat_pixel3``, minimised). For each strategy and seed, one search of ``--budget`` queried
architectures (in-memory study, tabular evaluator); the score is the hypervolume of the queried
architectures' front over the hypervolume of the whole space's front, both objectives scaled to
[0, 1] over the space and the reference point at the worst corner. Writes
results/benchmarks/nb201_pareto.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OBJECTIVES = {"val_accuracy": "maximize", "lat_pixel3": "minimize"}
STRATEGIES: dict[str, dict] = {
    "BANANAS-MO (MLP ensembles, ITS, hypervolume improvement)": {"name": "bananas_mo"},
    "BANANAS-MO, UCB": {"name": "bananas_mo", "acquisition": "ucb"},
    "Optuna NSGA-II (pop 20)": {"name": "nsga2", "population_size": 20},
    "Regularized evolution (Pareto rank + crowding)": {"name": "evolution"},
    "Random search": {"name": "random"},
}


def hypervolume_2d(points: np.ndarray) -> float:
    """Hypervolume of minimised 2-D points in [0, 1]^2 against the reference (1, 1)."""
    order = np.argsort(points[:, 0], kind="stable")
    area, ceiling = 0.0, 1.0
    for x, y in points[order]:
        if y < ceiling:
            area += (1.0 - x) * (ceiling - y)
            ceiling = y
    return area


def main(argv: list[str] | None = None) -> int:
    """Run the searches and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--output", default=str(ROOT / "results/benchmarks/nb201_pareto.md"))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import pandas as pd
    import torch
    from optuna.trial import TrialState

    from nas.config import resolve_config
    from nas.pareto import as_minimization
    from nas.search.runner import search_in_memory
    from nas.tables import nb201_table_path

    torch.set_num_threads(1)
    frame = pd.read_csv(nb201_table_path())
    space_points = as_minimization(
        frame[["cifar10_val_12ep", "lat_pixel3"]].to_numpy().tolist(), list(OBJECTIVES.values())
    )
    low, high = space_points.min(axis=0), space_points.max(axis=0)

    def scaled(points: np.ndarray) -> np.ndarray:
        return (points - low) / (high - low)

    best = hypervolume_2d(scaled(space_points))
    load = os.getloadavg()
    rows = []
    for label, strategy in STRATEGIES.items():
        ratios, seconds = [], []
        for seed in range(args.seeds):
            config = {
                "name": "nb201_pareto",
                "seed": seed,
                "trials": args.budget,
                "space": {"name": "nb201"},
                "strategy": strategy,
                "evaluator": {"name": "tabular", "dataset": "cifar10"},
                "objectives": OBJECTIVES,
            }
            start = time.process_time()
            study = search_in_memory(resolve_config(config))
            seconds.append(time.process_time() - start)
            queried = [
                t
                for t in study.trials
                if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs
            ][: args.budget]
            found = as_minimization([t.values for t in queried], list(OBJECTIVES.values()))
            ratios.append(hypervolume_2d(scaled(found)) / best)
        rows.append(
            f"| {label} | {np.mean(ratios):.4f} ± {np.std(ratios):.4f} | "
            f"{1 - np.mean(ratios):.4f} | {np.mean(seconds) / args.budget:.4f} |"
        )
        print(rows[-1], flush=True)
    lines = [
        "# NAS-Bench-201 with two objectives: CIFAR-10 validation accuracy and Pixel 3 latency",
        "",
        f"Command: `python experiments/benchmarks/nb201_pareto.py --seeds {args.seeds}` ({args.seeds} seeds, "
        f"{args.budget} queried architectures per search, one process on a shared 2-core machine; load "
        f"average before: {', '.join(f'{x:.2f}' for x in load)}, after: "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}).",
        "",
        "Hypervolume of the queried architectures' front over that of the whole space's front (both "
        "objectives scaled to [0, 1] over the 15,625 cells, reference point at the worst corner); the "
        "gap is 1 minus it. CPU seconds per query: the whole search loop's process time (table lookups "
        "included) over the budget.",
        "",
        "| strategy | hypervolume ratio (mean ± std) | gap | CPU s / query |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Python {platform.python_version()}, {platform.machine()}.",
    ]
    Path(args.output).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
