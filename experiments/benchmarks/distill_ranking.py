"""Distillation ranking benchmark: does partial training with a teacher rank NAS-Bench-201 cells more
like full training does than plain partial training?

On digits: trains a teacher once (a wider NB201 network, exported as a module and loaded back as
``training.distill.teacher`` would be), samples distinct small NB201 architectures, and scores each
with plain partial training, partial training with Hinton distillation, and partial training with
distillation plus penultimate-feature matching, each under two run seeds. Full training (more
epochs, all the data, no teacher) under two seeds is the reference. Reports Kendall tau and
Spearman rho of each partial ranking against the mean full-training accuracy, and the time per
candidate.

    python experiments/benchmarks/distill_ranking.py        # writes results/benchmarks/distill_ranking.md
    python experiments/benchmarks/distill_ranking.py --archs 6 --full-epochs 4 --output -
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
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
from nas.config import Component, CostsConfig, DistillConfig, TrainingConfig
from nas.deploy.export import export_model
from nas.evaluators import EvalContext
from nas.evaluators.training import PartialTraining
from nas.registry import DATASETS
from nas.training.loop import seeded, train_model

TEACHER_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
WAYS = ("plain", "distill", "distill+features")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--archs", type=int, default=14, help="distinct architectures to sample (default 14)"
    )
    p.add_argument("--channels", type=int, default=4, help="NB201 C of the candidates (default 4)")
    p.add_argument("--cells", type=int, default=1, help="NB201 N of the candidates (default 1)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the sample and of run A (B is seed + 1)"
    )
    p.add_argument(
        "--validation-fraction", type=float, default=0.4, help="digits images held out for scoring"
    )
    p.add_argument("--partial-epochs", type=int, default=2)
    p.add_argument(
        "--partial-fraction", type=float, default=1.0, help="training data partial training sees"
    )
    p.add_argument("--full-epochs", type=int, default=12)
    p.add_argument("--teacher-channels", type=int, default=16)
    p.add_argument("--teacher-cells", type=int, default=2)
    p.add_argument("--teacher-epochs", type=int, default=10)
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument("--alpha", type=float, default=0.9)
    p.add_argument(
        "--features", type=float, default=100.0, help="feature-matching weight of the third way"
    )
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)"
    )
    p.add_argument(
        "--output",
        default=str(ROOT / "results" / "benchmarks" / "distill_ranking.md"),
        help="report path, or - for stdout only",
    )
    return p.parse_args(argv)


def _dataset(args: argparse.Namespace) -> Component:
    return Component(
        name="digits",
        options={"validation_fraction": args.validation_fraction, "test_fraction": 0.0},
    )


def _teacher(args: argparse.Namespace, folder: Path) -> tuple[Path, float, float]:
    """Train and export the teacher; (module path, its validation accuracy %, seconds)."""
    space = create_space(
        "nb201", channels=args.teacher_channels, cells_per_stage=args.teacher_cells
    )
    arch = space.parse(TEACHER_ARCH)
    data = DATASETS.get("digits")(**_dataset(args).options)
    with seeded(args.seed):
        model = space.build(arch, num_classes=data.num_classes, input_shape=data.input_shape)
    start = time.perf_counter()
    result = train_model(
        model,
        data,
        TrainingConfig(threads=args.threads),
        epochs=args.teacher_epochs,
        seed=args.seed,
        device=torch.device("cpu"),
    )
    seconds = time.perf_counter() - start
    module = export_model(
        space,
        arch,
        folder,
        "teacher",
        num_classes=data.num_classes,
        input_shape=data.input_shape,
        state_dict=model.state_dict(),
    )
    return module, 100.0 * result.val_accuracy, seconds


def _sample(space: Any, count: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    archs: dict[str, dict] = {}
    while len(archs) < count:
        arch = space.sample(rng)
        archs.setdefault(arch_id(arch), arch)
    return list(archs.values())


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Score the sample every way; return every measurement."""
    torch.set_num_threads(args.threads)
    folder = Path(tempfile.mkdtemp(prefix="distill_ranking_"))
    teacher, teacher_acc, teacher_s = _teacher(args, folder)
    print(f"teacher: {teacher_acc:.1f}% in {teacher_s:.0f} s", file=sys.stderr, flush=True)
    space = create_space("nb201", channels=args.channels, cells_per_stage=args.cells)
    archs = _sample(space, args.archs, args.seed)
    distill = {
        "plain": None,
        "distill": DistillConfig(
            teacher=str(teacher), temperature=args.temperature, alpha=args.alpha
        ),
        "distill+features": DistillConfig(
            teacher=str(teacher),
            temperature=args.temperature,
            alpha=args.alpha,
            features=args.features,
        ),
    }

    def evaluator(way: str, seed: int, full: bool) -> PartialTraining:
        training = TrainingConfig(threads=args.threads, distill=distill[way])
        context = EvalContext(
            _dataset(args), training, seed, torch.device("cpu"), CostsConfig(memory=False)
        )
        if full:
            return PartialTraining(context, epochs=args.full_epochs)
        return PartialTraining(
            context, epochs=args.partial_epochs, data_fraction=args.partial_fraction
        )

    seeds = (args.seed, args.seed + 1)
    scorers = {(way, s): evaluator(way, s, False) for way in WAYS for s in seeds}
    scorers.update({("full", s): evaluator("plain", s, True) for s in seeds})
    load = [os.getloadavg()[0]]
    rows = []
    for i, arch in enumerate(archs):
        row: dict[str, Any] = {"arch": space.format(arch)}
        for (way, seed), scorer in scorers.items():
            start = time.perf_counter()
            metrics = scorer.evaluate(arch, space)
            row[f"{way}/{seed - args.seed}/s"] = time.perf_counter() - start
            row[f"{way}/{seed - args.seed}"] = metrics["val_accuracy"]
            row[f"{way}/{seed - args.seed}/loss"] = metrics["val_loss"]
        rows.append(row)
        print(
            f"[{i + 1}/{len(archs)}] "
            + "  ".join(f"{k} {v:.1f}" for k, v in row.items() if k.count("/") == 1),
            file=sys.stderr,
            flush=True,
        )
    load.append(os.getloadavg()[0])
    return {"rows": rows, "teacher_acc": teacher_acc, "teacher_s": teacher_s, "load": load}


def _correlations(x: list[float], y: list[float]) -> tuple[float, float]:
    from scipy.stats import kendalltau, spearmanr

    return float(kendalltau(x, y).statistic), float(spearmanr(x, y).statistic)


def _correlation_table(col: dict[str, list], title: str, suffix: str) -> list[str]:
    """Rank correlations of each partial ranking with the mean of the two full trainings."""
    full = [
        (a + b) / 2 for a, b in zip(col[f"full/0{suffix}"], col[f"full/1{suffix}"], strict=False)
    ]
    lines = [
        f"## Rank correlation with full training, by {title}",
        "",
        "| partial ranking | Kendall τ (A) | Kendall τ (B) | Spearman ρ (A) | Spearman ρ (B) | seconds per candidate |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for way in WAYS:
        (tau_a, rho_a), (tau_b, rho_b) = (
            _correlations(col[f"{way}/{k}{suffix}"], full) for k in (0, 1)
        )
        seconds = statistics.median(col[f"{way}/0/s"] + col[f"{way}/1/s"])
        lines.append(
            f"| {way} | {tau_a:.3f} | {tau_b:.3f} | {rho_a:.3f} | {rho_b:.3f} | {seconds:.2f} |"
        )
    tau, rho = _correlations(col[f"full/0{suffix}"], col[f"full/1{suffix}"])
    return lines + [
        (
            f"| *full training seed A vs seed B (the reference's own noise)* | {tau:.3f} | | {rho:.3f} | | "
            f"{statistics.median(col['full/0/s'] + col['full/1/s']):.2f} |"
        ),
        "",
    ]


def report(args: argparse.Namespace, result: dict[str, Any], command: str) -> str:
    """The markdown report."""
    rows = result["rows"]
    col = {k: [r[k] for r in rows] for k in rows[0]}
    lines = [
        "# Distillation-guided partial training: ranking agreement with full training (digits)",
        "",
        f"Command: `{command}`",
        "",
        (
            f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, torch "
            f"{torch.__version__}, {args.threads} torch thread(s); 1-minute load average {result['load'][0]:.1f} "
            f"at the start, {result['load'][1]:.1f} at the end."
        ),
        "",
        (
            f"Candidates: {len(rows)} distinct NB201 cells sampled uniformly (seed {args.seed}), C={args.channels}, "
            f"N={args.cells}; validation split {args.validation_fraction:.0%} of digits' 1,797 images. "
            "Training: SGD lr 0.05, cosine, batch 64."
        ),
        "",
        (
            f"- **Teacher**: NB201 `{TEACHER_ARCH}`, C={args.teacher_channels}, N={args.teacher_cells}, "
            f"{args.teacher_epochs} epochs: {result['teacher_acc']:.1f}% validation accuracy "
            f"({result['teacher_s']:.0f} s); exported with `export_model` and loaded as "
            "`training.distill.teacher`."
        ),
        (
            f"- **Partial training**: {args.partial_epochs} epoch(s) on {args.partial_fraction:.0%} of the "
            f"training split; *plain* (labels only), *distill* (T={args.temperature:g}, "
            f"alpha={args.alpha:g}) and *distill+features* (also similarity-preserving matching of the "
            f"penultimate features, weight {args.features:g}); run seeds A and B each."
        ),
        (
            f"- **Reference**: full training, {args.full_epochs} epochs on the whole training split, no "
            "teacher, mean of run seeds A and B."
        ),
        "",
    ]
    for title, suffix in (("validation accuracy", ""), ("validation loss", "/loss")):
        lines += _correlation_table(col, title, suffix)
    lines += [
        "## Candidates (validation accuracy %)",
        "",
        "| arch | " + " | ".join(f"{w} A | {w} B" for w in (*WAYS, "full")) + " |",
        "| --- |" + " ---: |" * (2 * len(WAYS) + 2),
    ]
    for r in rows:
        cells = [f"{r[f'{w}/{k}']:.1f}" for w in (*WAYS, "full") for k in (0, 1)]
        arch = r["arch"].replace(
            "|", "\\|"
        )  # the cell notation's bars would split the table's cells
        lines.append(f"| {arch} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its report."""
    args = _args(argv)
    result = run(args)
    command = command_line("distill_ranking.py", args)
    text = report(args, result, command)
    if args.output == "-":
        print(text)
    else:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
