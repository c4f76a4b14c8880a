"""Int8 benchmark: what post-training int8 quantization (nas/costs/int8.py) does to a few trained
architectures of each space on digits: accuracy drop, serialized size and CPU latency.

Each architecture is trained from scratch (the shared loop), then measured exactly as a search
with ``costs.int8: true`` measures a candidate; float latency is measured the same way for
comparison (batch 1, median of the repeats, one torch thread).

    python experiments/benchmarks/int8_costs.py      # writes results/benchmarks/int8_costs.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from command_line import command_line  # a sibling script (this folder is on sys.path)

from nas import create_space
from nas.config import TrainingConfig
from nas.costs.int8 import int8_metrics
from nas.costs.measure import count_params, measure_latency
from nas.registry import DATASETS
from nas.training.loop import seeded, train_model

#: (space, options) measured; small enough to train in seconds on one thread.
SPACES = [
    ("nb201", {"channels": 16, "cells_per_stage": 2}),
    ("mbconv", {"width_coefficient": 0.25}),
    ("darts", {"channels": 8, "layers": 5}),
]


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", type=int, default=3, help="architectures per space (default 3)")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=50, help="latency repeats")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--output", default=str(ROOT / "results" / "benchmarks" / "int8_costs.md"))
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Train and measure every architecture."""
    torch.set_num_threads(args.threads)
    data = DATASETS.get("digits")()
    rows = []
    for name, options in SPACES:
        space = create_space(name, **options)
        rng = np.random.default_rng(args.seed)
        for _ in range(args.archs):
            arch = space.sample(rng)
            with seeded(args.seed):
                model = space.build(
                    arch, num_classes=data.num_classes, input_shape=data.input_shape
                )
            train_model(
                model,
                data,
                TrainingConfig(threads=args.threads),
                epochs=args.epochs,
                seed=args.seed,
                device=torch.device("cpu"),
            )
            start = time.perf_counter()
            m = int8_metrics(model, data, latency_repeats=args.repeats)
            seconds = time.perf_counter() - start
            float_ms = measure_latency(model.eval(), data.input_shape, repeats=args.repeats)
            rows.append(
                {
                    "space": name,
                    "arch": space.format(arch),
                    "params": count_params(model),
                    "float_ms": float_ms,
                    "seconds": seconds,
                    **m,
                }
            )
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def report(args: argparse.Namespace, rows: list[dict[str, Any]], command: str) -> str:
    """The markdown report."""
    lines = [
        "# Post-training int8 quantization of trained candidates (digits)",
        "",
        f"Command: `{command}`",
        "",
        (
            f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs (latencies are "
            f"noisy), torch {torch.__version__}, {args.threads} torch thread(s), quantized engine x86."
        ),
        "",
        (
            f"Each architecture (sampled with seed {args.seed}) trained {args.epochs} epochs on digits' training "
            "split (SGD lr 0.05, cosine, batch 64), then quantized as `costs.int8: true` does: FX graph mode, "
            "the x86 backend's default qconfig with min/max activation observers, calibration on 4 training "
            "batches of 64. Accuracies on the validation split (359 images; one image is 0.28 points), both "
            "on the CPU; size is the serialized state dict; latency is batch 1, median of "
            f"{args.repeats}; 'quantize s' is the time the int8 metrics add to a trial."
        ),
        "",
        (
            "| space | params | float acc % | int8 acc % | drop (points) | float bytes | int8 bytes | size ratio "
            "| float ms | int8 ms | quantize s |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        float_acc = r["int8_val_accuracy"] + r["int8_accuracy_drop"]
        lines.append(
            f"| {r['space']} | {r['params']:,} | {float_acc:.1f} | {r['int8_val_accuracy']:.1f} | "
            f"{r['int8_accuracy_drop']:+.2f} | {r['size_bytes']:,} | {r['int8_size_bytes']:,} | "
            f"{r['size_bytes'] / r['int8_size_bytes']:.2f}× | {r['float_ms']:.2f} | {r['int8_latency_ms']:.2f} | "
            f"{r['seconds']:.1f} |"
        )
    lines += ["", "Architectures:", ""]
    lines += [f"- {r['space']}: `{r['arch']}`" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its report."""
    args = _args(argv)
    rows = run(args)
    command = command_line("int8_costs.py", args)
    text = report(args, rows, command)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
