"""Training throughput: ``train_model`` against a plain PyTorch loop, the loop's GPU options, and
image folders decoded into memory against the on-disk cache.

    python experiments/benchmarks/training_throughput.py                 # CPU, about 15 minutes
    python experiments/benchmarks/training_throughput.py --device cuda   # on a GPU machine

1. For a network of each space on digits, ``train_model`` and a plain loop written below (the same
   model and initial weights, data and batch order, optimiser and parameter groups, cosine
   schedule, clipping, auxiliary head, per-epoch validation) run interleaved, the order swapped
   every repeat, after a warm-up; the ratio plain / train_model of each pair is reported
   (median, min-max). On a CPU both give the same accuracy to the last digit.
2. Seconds per epoch of one network eagerly, with ``training.channels_last`` and with
   ``training.compile`` (first epoch, compilation included, with an empty and a filled inductor
   cache; then the median of the later epochs).
3. A folder of synthetic PNG images (5,000 by default) loaded into memory as before (one process),
   decoded by parallel processes, into the cache (first load) and from it (later loads); each in
   a fresh process, reporting seconds and peak memory (VmHWM), and the anonymous / file-backed
   memory after one pass of training batches. Linux (/proc/self/status).
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import image_folder_loads  # sibling scripts (this folder is on sys.path)
from command_line import command_line

from nas import create_space
from nas.config import TrainingConfig
from nas.data import DataSplits
from nas.data.digits import digits
from nas.training.loop import seeded, train_model

#: (space options, training options): the example sizes of experiments/*.yaml
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "nb201": ({"channels": 16, "cells_per_stage": 2}, {}),
    "darts": ({"channels": 8, "layers": 5, "auxiliary": True, "drop_path_prob": 0.2}, {}),
    "mbconv": (
        {
            "kernel_sizes": [3, 5],
            "expand_ratios": [1, 3, 6],
            "layers": [1, 2],
            "width_coefficient": 0.25,
            "dropout": 0.1,
            "drop_path_rate": 0.0,
            "bn_momentum": 0.3,
        },
        {"optimizer": "adamw", "lr": 0.005},
    ),
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def load() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def plain_training(
    model: nn.Module,
    data: DataSplits,
    cfg: TrainingConfig,
    epochs: int,
    seed: int,
    device: torch.device,
) -> float:
    """A plain PyTorch loop: the data normalised once and kept on the device, running totals on
    the device (read once per epoch), validation after every epoch; the final validation accuracy."""
    torch.manual_seed(seed)
    model.to(device)
    scale = 255.0 if data.train.x.dtype == torch.uint8 else 1.0
    m = torch.tensor(data.mean).view(1, -1, 1, 1) * scale
    s = torch.tensor(data.std).view(1, -1, 1, 1) * scale
    x_train, y_train = ((data.train.x.float() - m) / s).to(device), data.train.y.to(device)
    x_val, y_val = ((data.val.x.float() - m) / s).to(device), data.val.y.to(device)
    groups = [
        {"params": [p for p in model.parameters() if p.ndim > 1], "weight_decay": cfg.weight_decay},
        {"params": [p for p in model.parameters() if p.ndim <= 1], "weight_decay": 0.0},
    ]
    opt: torch.optim.Optimizer = (
        torch.optim.AdamW(groups, lr=cfg.lr)
        if cfg.optimizer == "adamw"
        else torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    )
    total = math.ceil(len(y_train) / cfg.batch_size) * epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(1.0, step / total)))
    )
    criterion = nn.CrossEntropyLoss()
    shuffle = torch.Generator().manual_seed(seed)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else None
    val_acc = 0.0
    for _ in range(epochs):
        model.train()
        correct = torch.zeros((), dtype=torch.int64, device=device)
        loss_sum = torch.zeros((), device=device)
        for idx in torch.randperm(len(y_train), generator=shuffle).split(cfg.batch_size):
            idx = idx.to(device, non_blocking=True)
            x, y = x_train[idx], y_train[idx]
            with amp or torch.enable_grad():
                if hasattr(model, "forward_with_auxiliary"):
                    logits, aux = model.forward_with_auxiliary(x)
                else:
                    logits, aux = model(x), None
                loss = criterion(logits.float(), y)
                if aux is not None:
                    loss = loss + cfg.auxiliary_weight * criterion(aux.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or math.inf)
            opt.step()
            sched.step()
            correct += (logits.argmax(1) == y).sum()
            loss_sum += loss.detach() * len(y)
        model.eval()
        right = torch.zeros((), dtype=torch.int64, device=device)
        with torch.no_grad(), amp or torch.no_grad():
            for i in range(0, len(y_val), cfg.eval_batch_size):
                right += (
                    model(x_val[i : i + cfg.eval_batch_size]).argmax(1)
                    == y_val[i : i + cfg.eval_batch_size]
                ).sum()
        val_acc = int(right) / len(y_val)
    return val_acc


def network(name: str, data: DataSplits, seed: int) -> Callable[[], nn.Module]:
    """A builder of the case's network: the same architecture and initial weights every call."""
    space = create_space(name, **CASES[name][0])
    arch = space.sample(np.random.default_rng(seed))

    def build() -> nn.Module:
        with seeded(seed):
            return space.build(arch, num_classes=data.num_classes, input_shape=data.input_shape)

    return build


def timed(run: Callable[[], float], device: torch.device) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process, what ``run`` returned)."""
    sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    value = run()
    sync(device)
    return time.perf_counter() - wall, time.process_time() - cpu, value


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def compare_loops(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    """Interleaved, order-swapped timings of train_model and the plain loop per space."""
    data = digits()
    rows = []
    for name, (_, training) in CASES.items():
        cfg = TrainingConfig(batch_size=64, **training)
        build = network(name, data, args.seed)
        loops: dict[str, Callable[[nn.Module], float]] = {
            "nas": lambda m, cfg=cfg: (
                train_model(
                    m, data, cfg, epochs=args.epochs, seed=args.seed, device=device
                ).val_accuracy
            ),
            "plain": lambda m, cfg=cfg: plain_training(
                m, data, cfg, args.epochs, args.seed, device
            ),
        }
        runs: dict[str, list[tuple[float, float, float]]] = {"nas": [], "plain": []}
        loads = [load()]
        for rep in range(args.warmup + args.repeats):
            for which in ("nas", "plain") if rep % 2 == 0 else ("plain", "nas"):
                result = timed(functools.partial(loops[which], build()), device)
                if rep >= args.warmup:
                    runs[which].append(result)
        loads.append(load())
        pairs = list(zip(runs["plain"], runs["nas"], strict=True))
        rows.append(
            {
                "space": name,
                "nas_s": statistics.median(r[0] for r in runs["nas"]),
                "plain_s": statistics.median(r[0] for r in runs["plain"]),
                "wall": spread([p[0] / n[0] for p, n in pairs]),
                "cpu": spread([p[1] / n[1] for p, n in pairs]),
                "acc_nas": runs["nas"][-1][2],
                "acc_plain": runs["plain"][-1][2],
                "load": " → ".join(loads),
            }
        )
        print(rows[-1], file=sys.stderr)
    return rows


def epoch_seconds(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    """Per-epoch seconds of the nb201 network eagerly, channels-last and compiled (cold, then warm cache)."""
    data = digits()
    build = network("nb201", data, args.seed)
    variants = [("eager", {}), ("channels_last", {"channels_last": True})]
    if args.compile:
        variants += [
            ("compile (empty cache)", {"compile": True}),
            ("compile (filled cache)", {"compile": True}),
        ]
    rows = []
    for label, options in variants:
        stamps = [time.perf_counter()]
        result = train_model(
            build(),
            data,
            TrainingConfig(**options),
            epochs=args.epochs,
            seed=args.seed,
            device=device,
            report=lambda *_, stamps=stamps: (sync(device), stamps.append(time.perf_counter())),
        )
        seconds = np.diff(stamps)
        rows.append(
            {
                "variant": label,
                "first_s": seconds[0],
                "later_s": float(np.median(seconds[1:])),
                "val_accuracy": result.val_accuracy,
                "compiled": result.compiled,
                "compile_error": result.compile_error,
                "load": load(),
            }
        )
        print(rows[-1], file=sys.stderr)
    return rows


def compile_notes(rows: list[dict[str, Any]]) -> list[str]:
    """What compiling cost and saved against eager execution, per compiled variant."""
    eager = next(r for r in rows if r["variant"] == "eager")
    notes = []
    for r in rows:
        if r["variant"].startswith("compile") and r["compiled"]:
            extra, saved = r["first_s"] - eager["first_s"], eager["later_s"] - r["later_s"]
            payoff = f"after about {extra / saved:.0f} epochs" if saved > 0 else "never"
            notes.append(
                f"- {r['variant']}: the first epoch (tracing, compiling, a recompilation for the last, "
                f"smaller batch) took {extra:.1f} s more than eager's; later epochs {r['later_s']:.3f} s "
                f"against {eager['later_s']:.3f} s, so compiling pays off {payoff} of this network."
            )
    if notes:
        notes.append(
            "- Every new architecture of a search compiles anew: the empty-cache row is what a "
            "candidate costs (inductor may still reuse some kernels); the filled cache is the same "
            "network trained again."
        )
    return notes


def report(
    args: argparse.Namespace,
    device: torch.device,
    loops: list[dict[str, Any]],
    epochs: list[dict[str, Any]],
    loads: list[dict[str, Any]],
) -> str:
    """The markdown report."""
    out = [
        "# Training throughput",
        "",
        f"Command: `{command_line('training_throughput.py', args)}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, "
        f"torch {torch.__version__}, device {device}, {args.threads} torch thread(s) (pinned); "
        "load averages (1/5/15 min) as measured before → after each part.",
        "",
        f"## train_model versus a plain PyTorch loop (digits, batch 64, {args.epochs} epochs)",
        "",
        f"{args.repeats} interleaved pairs after {args.warmup} warm-up pair(s), the order swapped every "
        "pair; ratio = plain / train_model per pair (above 1: train_model faster), of wall seconds "
        "and of the process's CPU seconds (which time stolen by other jobs does not inflate); "
        "medians, min-max. Both loops end with the same validation accuracy on a CPU.",
        "",
        "| space | train_model s | plain s | CPU-time ratio | min-max | wall ratio | min-max "
        "| val acc train_model | val acc plain | load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    out += [
        f"| {r['space']} | {r['nas_s']:.2f} | {r['plain_s']:.2f} | {r['cpu']['median']:.3f} | "
        f"{r['cpu']['min']:.3f}-{r['cpu']['max']:.3f} | {r['wall']['median']:.3f} | "
        f"{r['wall']['min']:.3f}-{r['wall']['max']:.3f} | {r['acc_nas']!r} | {r['acc_plain']!r} | {r['load']} |"
        for r in loops
    ]
    out += [
        "",
        f"## Options (nb201, seconds per epoch of {args.epochs})",
        "",
        "| variant | first epoch s | later epochs s (median) | val acc | compiled | load |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    out += [
        f"| {r['variant']} | {r['first_s']:.2f} | {r['later_s']:.3f} | {r['val_accuracy']:.4f} | "
        f"{r['compiled'] if r['compile_error'] is None else r['compile_error']} | {r['load']} |"
        for r in epochs
    ]
    out += ["", "One training per variant (not repeated: single timings on a shared machine).", ""]
    out += compile_notes(epochs)
    if loads:
        out += [
            "",
            f"## Image folder: {args.images} PNGs of {args.source_size}x{args.source_size} px, "
            f"decoded to {args.image_size}x{args.image_size}",
            "",
            *image_folder_loads.table(loads),
        ]
        memory, later = loads[0], loads[-1]
        out += [
            "",
            f"Loading from the cache took {later['seconds']:.2f} s against {memory['seconds']:.2f} s for "
            f"decoding into memory, at a peak of {later['peak_after']} MiB against {memory['peak_after']} "
            "MiB (in memory, the statistics are computed on a float32 copy of the training split; the "
            "cache counts them while it is written).",
        ]
    if device.type != "cuda":
        out += [
            "",
            "CUDA: not measured by this run (no GPU where it ran). `--device cuda` times train_model "
            "against the plain loop there (bfloat16 autocast, the data on the device in both); "
            "experiments/benchmarks/gpu_smoke.py checks that no training step waits for the device.",
        ]
    return "\n".join(out) + "\n"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--compile", type=int, default=1, help="1: measure training.compile too")
    p.add_argument("--images", type=int, default=5000, help="0: skip the image-folder part")
    p.add_argument("--source-size", type=int, default=96)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--output", default=str(ROOT / "results" / "benchmarks" / "training_throughput.md")
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its report."""
    args = _args(argv)
    torch.set_num_threads(args.threads)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")  # an empty cache
    device = torch.device(args.device)
    loops = compare_loops(args, device)
    epochs = epoch_seconds(args, device)
    loads = (
        image_folder_loads.loads(
            args.images, args.source_size, args.image_size, args.workers, args.seed
        )
        if args.images
        else []
    )
    text = report(args, device, loops, epochs, loads)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
