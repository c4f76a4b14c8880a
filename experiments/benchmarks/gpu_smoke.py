"""GPU smoke test: device choice, mixed precision and a short search on CUDA.

Run on a machine with an NVIDIA GPU:  python experiments/benchmarks/gpu_smoke.py
Prints one JSON line; exits non-zero if CUDA is missing or anything fails.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import torch


def main() -> int:
    """Check CUDA device resolution, AMP training and a 3-trial search on the GPU."""
    from nas.config import resolve_config
    from nas.search.runner import run_search
    from nas.training.loop import resolve_device

    if not torch.cuda.is_available():
        print(json.dumps({"ok": False, "reason": "CUDA is not available"}))
        return 1
    device = resolve_device("auto")
    assert device.type == "cuda", device
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
        result = run_search(config, progress=False)
        seconds = time.perf_counter() - start
        frame = result.frame
    report = {
        "ok": bool((frame["state"] == "complete").all()),
        "device": torch.cuda.get_device_name(0),
        "bf16": torch.cuda.is_bf16_supported(),
        "trials": int(len(frame)),
        "best_val_accuracy": float(frame["val_accuracy"].max()),
        "search_seconds": round(seconds, 2),
        "torch": torch.__version__,
    }
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
