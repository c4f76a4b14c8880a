"""GPU smoke test: device choice, mixed precision, no host sync inside training, a failing
candidate, torch.compile, a latency profile of the GPU (``nas profile --device cuda``'s code)
and a short search on CUDA.

Run on a machine with an NVIDIA GPU:  python experiments/benchmarks/gpu_smoke.py
Prints one JSON line; exits non-zero if CUDA is missing or anything fails.

The no-sync check trains whole candidates under ``torch.cuda.set_sync_debug_mode("error")``: any
wait of the host for the device (``.item()``, ``bool(tensor)``, a blocking copy) raises, except
the loop's deliberate once-per-epoch reads, which it marks with ``nas.training.device.host_sync``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from typing import Any

import numpy as np
import torch


def no_host_sync(device: torch.device) -> dict[str, Any]:
    """Train candidates of three spaces (a segmentation U-Net among them) with torch's sync debug
    mode set to raise on any host sync."""
    from nas.config import AugmentConfig, TrainingConfig
    from nas.data.digits import digits
    from nas.data.scenes import digit_scenes
    from nas.factories import create_space
    from nas.training.loop import seeded, train_model

    data = digits()
    scenes = digit_scenes(scenes=200)
    cases = {
        # the data kept on the device, augmentation and a weight EMA
        "nb201": (
            create_space("nb201", channels=16, cells_per_stage=2),
            TrainingConfig(
                augment=AugmentConfig(crop_padding=1, flip=True, cutout=2), ema_decay=0.9
            ),
            data,
        ),
        # batches copied from the host each step, an auxiliary head, drop-path, AdamW
        "darts": (
            create_space("darts", channels=8, layers=5, auxiliary=True),
            TrainingConfig(data_on_device=False, optimizer="adamw", lr=0.005, channels_last=True),
            data,
        ),
        # pixel cross-entropy with ignored pixels, the mIoU confusion matrix on the device
        "unet": (
            create_space("unet", levels=3, base_width=16),
            TrainingConfig(optimizer="adamw", lr=0.005, batch_size=16),
            scenes,
        ),
    }
    accuracies = {}
    for name, (space, cfg, split) in cases.items():
        with seeded(0):
            model = space.build(
                space.sample(np.random.default_rng(0)),
                num_classes=split.num_classes,
                input_shape=split.input_shape,
            )
        model.to(device)  # a blocking copy, before the check starts
        torch.cuda.set_sync_debug_mode("error")
        try:
            result = train_model(model, split, cfg, epochs=2, seed=0, device=device)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        accuracies[name] = round(result.val_accuracy, 4)
    return accuracies


def failing_candidate(device: torch.device) -> str:
    """The CandidateError of a network whose loss is NaN (checked once per epoch on a GPU)."""
    from torch import nn

    from nas.config import TrainingConfig
    from nas.data.digits import digits
    from nas.training.loop import CandidateError, train_model

    class Exploding(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(64, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x.flatten(1)) * float("nan")

    try:
        train_model(
            Exploding().to(device), digits(), TrainingConfig(), epochs=2, seed=0, device=device
        )
    except CandidateError as exc:
        return str(exc)
    raise AssertionError("a NaN loss did not fail the candidate")


def compiled_versus_eager(device: torch.device) -> dict[str, Any]:
    """Seconds to train one candidate for 5 epochs eagerly and through torch.compile (compiling included)."""
    from nas.config import TrainingConfig
    from nas.data.digits import digits
    from nas.factories import create_space
    from nas.training.loop import seeded, train_model

    data = digits()
    space = create_space("nb201", channels=16, cells_per_stage=2)
    arch = space.sample(np.random.default_rng(0))
    out: dict[str, Any] = {}
    for compile in (False, True):
        with seeded(0):
            model = space.build(arch, num_classes=10, input_shape=data.input_shape)
        start = time.perf_counter()
        result = train_model(
            model, data, TrainingConfig(compile=compile), epochs=5, seed=0, device=device
        )
        key = "compiled" if compile else "eager"
        out[f"{key}_seconds"] = round(time.perf_counter() - start, 2)
        out[f"{key}_val_accuracy"] = round(result.val_accuracy, 4)
        if compile:
            out["compiled"], out["compile_error"] = result.compiled, result.compile_error
    return out


def cuda_profile(device: torch.device) -> dict[str, Any]:
    """``nas profile`` on the GPU: a lookup profile of a small nb201 space (batch 1 and 32), then
    10 other candidates measured whole against their predicted latency."""
    from scipy.stats import spearmanr

    from nas.costs.profiling import profile_device, time_module
    from nas.factories import create_space

    space, shape = create_space("nb201", channels=16, cells_per_stage=2), (3, 32, 32)
    start = time.perf_counter()
    profile = profile_device(
        space, shape, device=device, batch_sizes=[1, 32], samples=5, repeats=10, threads=1
    )
    seconds = time.perf_counter() - start
    rng = np.random.default_rng(1)
    measured, predicted = [], []
    for _ in range(10):
        arch = space.sample(rng)
        model = space.build(arch, num_classes=10, input_shape=shape)
        measured.append(time_module(model, shape, 32, device=device, repeats=10))
        predicted.append(profile.predict(arch, space)["predicted_latency_ms_b32"])
    return {
        "cuda_profile_seconds": round(seconds, 2),
        "cuda_profile_units": len(profile.units["1"]),
        "cuda_profile_overhead_b32": [round(v, 4) for v in profile.overhead["32"]],
        "cuda_profile_rho_b32": round(float(spearmanr(measured, predicted).statistic), 3),
    }


def short_search() -> dict[str, Any]:
    """A 3-trial search on the GPU with mixed precision."""
    from nas.config import resolve_config
    from nas.search.runner import run_search

    with tempfile.TemporaryDirectory() as out:
        config = resolve_config(
            {
                "name": "gpu_smoke",
                "trials": 3,
                "seed": 0,
                "space": {"name": "nb201", "channels": 16, "cells_per_stage": 5},
                "dataset": {"name": "digits"},
                "strategy": {"name": "random"},
                "evaluator": {"name": "partial", "epochs": 3},
                "training": {"device": "auto", "amp": True, "batch_size": 128},
                "output": out,
            }
        )
        start = time.perf_counter()
        frame = run_search(config, progress=False).frame
        seconds = time.perf_counter() - start
    return {
        "search_ok": bool((frame["state"] == "complete").all()),
        "trials": int(len(frame)),
        "best_val_accuracy": float(frame["val_accuracy"].max()),
        "search_seconds": round(seconds, 2),
    }


def main() -> int:
    """Check CUDA device resolution, training without host syncs, failing and compiled candidates,
    AMP training and a 3-trial search on the GPU."""
    from nas.training.loop import resolve_device

    if not torch.cuda.is_available():
        print(json.dumps({"ok": False, "reason": "CUDA is not available"}))
        return 1
    device = resolve_device("auto")
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0),
        "bf16": torch.cuda.is_bf16_supported(),
        "torch": torch.__version__,
    }
    try:
        report["no_host_sync_val_accuracy"] = no_host_sync(device)
    except RuntimeError as exc:
        report.update(ok=False, reason=f"a host sync inside training: {exc}")
        print(json.dumps(report))
        return 1
    report["nan_candidate"] = failing_candidate(device)
    report.update(compiled_versus_eager(device))
    report.update(cuda_profile(device))
    report.update(short_search())
    report["ok"] = report["search_ok"] and "at epoch 1" in report["nan_candidate"]
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
