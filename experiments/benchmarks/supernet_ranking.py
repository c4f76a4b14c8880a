"""Supernet ranking benchmark: does weight sharing rank NAS-Bench-201 cells as training does, and how
much faster is it?

On digits, samples distinct NB201 architectures, scores each with the ``weight_sharing`` evaluator
(one supernet trained once, subnets with inherited weights and recalibrated BatchNorm) and with
standalone partial training (the ``partial`` evaluator, twice with different seeds so that the
reference's own noise is measured), and reports Kendall tau and Spearman rho between the rankings
and the time to score one candidate each way. Each candidate is scored both ways back to back, so
the speed ratio is measured under the same machine load (the load average is recorded too).

    python experiments/benchmarks/supernet_ranking.py            # writes results/benchmarks/supernet_ranking.md
    python experiments/benchmarks/supernet_ranking.py --archs 8 --ref-epochs 2 --supernet-epochs 5 --output -
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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
from nas.arch import arch_id
from nas.config import Component, CostsConfig, TrainingConfig
from nas.evaluators import EvalContext
from nas.evaluators.training import PartialTraining
from nas.evaluators.weight_sharing import WeightSharing

NOTES = "## Notes"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--archs", type=int, default=32, help="distinct architectures to sample (default 32)"
    )
    p.add_argument("--channels", type=int, default=4, help="NB201 C (default 4)")
    p.add_argument("--cells", type=int, default=2, help="NB201 N, cells per stage (default 2)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the sample, the supernet and reference run A"
    )
    p.add_argument(
        "--validation-fraction", type=float, default=0.4, help="digits images held out for scoring"
    )
    p.add_argument(
        "--test-fraction",
        type=float,
        default=0.0,
        help="digits images held out for testing (unused)",
    )
    p.add_argument(
        "--ref-epochs",
        type=int,
        default=12,
        help="partial-training epochs of the reference (default 12, "
        "NAS-Bench-201's own short schedule)",
    )
    p.add_argument("--supernet-epochs", type=int, default=150)
    p.add_argument("--calibration-batches", type=int, default=4)
    p.add_argument("--finetune-steps", type=int, default=0)
    p.add_argument(
        "--lr", type=float, default=0.05, help="training.lr for both ways (default 0.05)"
    )
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)"
    )
    p.add_argument(
        "--checkpoint",
        metavar="PT",
        help="supernet checkpoint to reuse (trained and saved there if "
        "missing), for tuning the scoring recipe",
    )
    p.add_argument(
        "--cache",
        metavar="JSON",
        help="reuse (and add to) partial-training results stored in "
        "this file, for tuning the supernet recipe; the committed report is made without it",
    )
    p.add_argument(
        "--output",
        default=str(ROOT / "results" / "benchmarks" / "supernet_ranking.md"),
        help="report path, or - for stdout only",
    )
    return p.parse_args(argv)


def _sample(space: Any, count: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    archs: dict[str, dict] = {}
    while len(archs) < count:
        arch = space.sample(rng)
        archs.setdefault(arch_id(arch), arch)
    return list(archs.values())


def _timed(fn: Any, *args: Any) -> tuple[dict, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Score the sample both ways; return every measurement."""
    torch.set_num_threads(args.threads)
    space = create_space("nb201", channels=args.channels, cells_per_stage=args.cells)
    archs = _sample(space, args.archs, args.seed)
    training = TrainingConfig(lr=args.lr, threads=args.threads)
    costs = CostsConfig()  # the defaults: params, FLOPs and peak activation memory, both ways
    device = torch.device("cpu")

    def context(seed: int) -> EvalContext:
        dataset = Component(
            name="digits",
            options={
                "validation_fraction": args.validation_fraction,
                "test_fraction": args.test_fraction,
            },
        )
        return EvalContext(dataset, training, seed, device, costs)

    supernet = WeightSharing(
        context(args.seed),
        epochs=args.supernet_epochs,
        calibration_batches=args.calibration_batches,
        finetune_steps=args.finetune_steps,
        checkpoint=args.checkpoint,
    )
    load = [os.getloadavg()[0]]
    _, supernet_seconds = _timed(supernet.prepare, space)
    load.append(os.getloadavg()[0])
    reference = [PartialTraining(context(args.seed + k), epochs=args.ref_epochs) for k in (0, 1)]
    cache = (
        json.loads(Path(args.cache).read_text())
        if args.cache and Path(args.cache).is_file()
        else {}
    )
    rows = []
    for i, arch in enumerate(archs):
        ws, ws_s = _timed(supernet.evaluate, arch, space)
        key = (
            f"C{args.channels}/N{args.cells}/e{args.ref_epochs}/lr{args.lr}/s{args.seed}/"
            f"v{args.validation_fraction}/t{args.test_fraction}/{arch_id(arch)}"
        )
        if key not in cache:
            ref_a, ref_a_s = _timed(reference[0].evaluate, arch, space)
            ref_b, _ = _timed(reference[1].evaluate, arch, space)
            cache[key] = [ref_a, ref_a_s, ref_b]
            if args.cache:
                Path(args.cache).write_text(json.dumps(cache))
        ref_a, ref_a_s, ref_b = cache[key]
        rows.append(
            {
                "arch": space.format(arch),
                "supernet": ws["val_accuracy"],
                "ref_a": ref_a["val_accuracy"],
                "ref_b": ref_b["val_accuracy"],
                "params": ws["params"],
                "flops": ws["flops"],
                "supernet_s": ws_s,
                "partial_s": ref_a_s,
                "load": os.getloadavg()[0],
            }
        )
        print(
            f"[{i + 1}/{len(archs)}] {rows[-1]['arch']}  supernet {ws['val_accuracy']:.1f}  "
            f"partial {ref_a['val_accuracy']:.1f} / {ref_b['val_accuracy']:.1f}  "
            f"({ref_a_s / ws_s:.0f}x)",
            file=sys.stderr,
            flush=True,
        )
    load.append(os.getloadavg()[0])
    return {"rows": rows, "supernet_seconds": supernet_seconds, "load": load}


def _correlations(x: list[float], y: list[float]) -> tuple[float, float]:
    from scipy.stats import kendalltau, spearmanr

    return float(kendalltau(x, y).statistic), float(spearmanr(x, y).statistic)


def report(args: argparse.Namespace, result: dict[str, Any], command: str) -> str:
    """The markdown report."""
    rows = result["rows"]
    col = {k: [r[k] for r in rows] for k in rows[0]}
    mean_ref = [(a + b) / 2 for a, b in zip(col["ref_a"], col["ref_b"], strict=False)]
    pairs = [
        ("supernet vs partial training (seed A)", col["supernet"], col["ref_a"]),
        ("supernet vs partial training (mean of seeds A, B)", col["supernet"], mean_ref),
        (
            "partial training seed A vs seed B (the reference's own noise)",
            col["ref_a"],
            col["ref_b"],
        ),
        ("baseline: params vs partial training (mean)", col["params"], mean_ref),
        ("baseline: FLOPs vs partial training (mean)", col["flops"], mean_ref),
    ]
    ratios = [p / s for p, s in zip(col["partial_s"], col["supernet_s"], strict=False)]
    ws_s, pt_s = statistics.median(col["supernet_s"]), statistics.median(col["partial_s"])
    lines = [
        "# Supernet ranking on NAS-Bench-201 cells (digits)",
        "",
        f"Command: `{command}`",
        "",
        (
            f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, torch "
            f"{torch.__version__}, {args.threads} torch thread(s); 1-minute load average {result['load'][0]:.1f} "
            f"before, {result['load'][1]:.1f} after supernet training, {result['load'][2]:.1f} at the end "
            f"(per candidate: {min(col['load']):.1f}-{max(col['load']):.1f})."
        ),
        "",
        (
            f"Space: nb201, C={args.channels}, N={args.cells}; {len(rows)} distinct architectures sampled "
            f"uniformly (seed {args.seed}). Training config: SGD lr {args.lr}, cosine, batch 64."
        ),
        "",
        (
            f"- **Supernet** (`evaluator: weight_sharing`): single-path uniform sampling (SPOS), "
            f"{args.supernet_epochs} epochs on the training split, trained once in "
            f"{result['supernet_seconds']:.0f} s; a candidate inherits its weights, "
            f"{args.finetune_steps} fine-tune steps, BatchNorm recalibrated on {args.calibration_batches} "
            "training batches of 64, accuracy on the validation split "
            f"({args.validation_fraction:.0%} of digits' 1,797 images)."
        ),
        (
            f"- **Partial training** (`evaluator: partial`): {args.ref_epochs} epochs from scratch on the "
            "training split, validation accuracy; run twice (run seeds A and B give each candidate "
            "different initial weights and batch order)."
        ),
        "",
        "## Rank correlation",
        "",
        "| rankings compared | Kendall τ | Spearman ρ |",
        "| --- | ---: | ---: |",
    ]
    for name, x, y in pairs:
        tau, rho = _correlations(x, y)
        lines.append(f"| {name} | {tau:.3f} | {rho:.3f} |")
    lines += [
        "",
        "## Time to score one candidate",
        "",
        (
            "Each candidate was scored both ways back to back (same load); median over candidates. Both "
            "include building the network and its cost metrics (params, FLOPs, peak activation memory)."
        ),
        "",
        "| | seconds per candidate |",
        "| --- | ---: |",
        f"| supernet (inherit weights, recalibrate BN, validate) | {ws_s:.3f} |",
        f"| partial training ({args.ref_epochs} epochs) | {pt_s:.2f} |",
        (
            f"| **speed ratio** (median of per-candidate ratios) | **{statistics.median(ratios):.0f}×** "
            f"(range {min(ratios):.0f}-{max(ratios):.0f}×) |"
        ),
        f"| supernet training, once per search | {result['supernet_seconds']:.1f} |",
        "",
        (
            f"Scoring one candidate through the supernet costs as much as "
            f"{args.ref_epochs * ws_s / pt_s:.2f} epochs of its partial training (so the ratio scales with "
            f"the reference's epochs); the one-off supernet training costs as much as partial training of "
            f"{result['supernet_seconds'] / pt_s:.1f} candidates."
        ),
        "",
        "## Candidates",
        "",
        "| arch | supernet | partial A | partial B | params | FLOPs |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(rows, key=lambda r: -(r["ref_a"] + r["ref_b"])):
        lines.append(
            f"| `{r['arch']}` | {r['supernet']:.1f} | {r['ref_a']:.1f} | {r['ref_b']:.1f} | "
            f"{r['params']:,} | {r['flops']:,} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the report."""
    args = _args(argv)
    settings = [
        "archs",
        "channels",
        "cells",
        "seed",
        "validation_fraction",
        "test_fraction",
        "ref_epochs",
        "supernet_epochs",
        "calibration_batches",
        "finetune_steps",
        "lr",
        "threads",
    ]
    command = command_line("supernet_ranking.py", args, settings)
    text = report(args, run(args), command)
    if args.output == "-":
        print(text)
    else:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        # hand-written notes (the recipe tuning, the analysis) survive a re-run
        old = out.read_text() if out.is_file() else ""
        notes = old[old.index(NOTES) :] if NOTES in old else ""
        out.write_text(text + ("\n" + notes if notes else ""))
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
