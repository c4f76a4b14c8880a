"""Cost of one-shot search epochs relative to one plain training epoch of the same supernet.

    python experiments/benchmarks/oneshot_epoch_time.py --preset digits-nb201      # CPU, minutes
    python experiments/benchmarks/oneshot_epoch_time.py --preset cifar-darts --device cuda
    python experiments/benchmarks/oneshot_epoch_time.py --preset cifar-darts --steps 3   # a CPU

For each preset it times, on the same data and batches: one epoch of plain SGD on the mixed
supernet's weights (the baseline: the weight half of the training split, then validation), one
epoch of DARTS first order and second order (``Darts.search``), and for ENAS one epoch of its
single-path supernet trained on random paths versus one ENAS epoch (``Enas.search``: the same
weight pass with controller samples, then the controller steps). Each is run for 3 epochs and
the fastest of the last two counts: start-up costs are left out, and so is most of the noise of a
shared machine. Writes results/benchmarks/oneshot_epoch_time-<preset>.json
and prints a markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from nas.config import TrainingConfig
from nas.data import DataSplits, Split
from nas.data.splits import make_splits
from nas.factories import create_space
from nas.oneshot.base import SearchEnv, batches, epoch_seed, split_train
from nas.oneshot.darts import Darts
from nas.oneshot.enas import Enas
from nas.training.loop import evaluate_model, seeded

PRESETS: dict[str, dict[str, Any]] = {
    # DARTS over NAS-Bench-201 cells on digits (experiments/darts_digits.yaml)
    "digits-nb201": {
        "space": ("nb201", {"channels": 8, "cells_per_stage": 1}),
        "data": "digits",
        "batch": 64,
        "controller_steps": 100,
    },
    # the DARTS paper's search network (8 cells, C=16) on CIFAR-sized inputs, batch 64; random
    # images (timing only), sized so that one epoch is `steps` weight steps; ENAS takes controller
    # steps in the paper's proportion (300 per 45,000 / 160 = 281 weight steps)
    "cifar-darts": {
        "space": (
            "darts",
            {
                "search_channels": 16,
                "search_layers": 8,
                "channels": 16,
                "layers": 8,
                "auxiliary": False,
                "drop_path_prob": 0.0,
            },
        ),
        "data": "random",
        "batch": 64,
        "steps": 40,
    },
}
ROOT = Path(__file__).resolve().parents[2]
#: Epochs run per measurement; the fastest after the first counts.
EPOCHS = 3


def random_data(steps: int, batch: int, generator: torch.Generator) -> DataSplits:
    """CIFAR-shaped random images and labels with 2 * steps * batch training images (timing only)."""
    n = int(2 * steps * batch / 0.8) + 1
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=generator)
    y = torch.randint(0, 10, (n,), generator=generator)
    return make_splits(
        "random", x, y, validation_fraction=0.2, test_fraction=0.0, split_seed=0, num_classes=10
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_epochs(
    model: nn.Module, data: DataSplits, batch: int, device: torch.device, sample: Any = None
) -> float:
    """Seconds of plain training epochs over the weight half, validation included (see EPOCHS)."""
    weight_split, _ = split_train(data.train, 0.5, 0)
    params = (
        model.weight_parameters()
        if hasattr(model, "weight_parameters")
        else list(model.parameters())
    )
    opt = torch.optim.SGD(params, lr=0.025, momentum=0.9, weight_decay=3e-4)
    criterion = nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    seconds = []
    for epoch in range(EPOCHS):
        sync(device)
        start = time.perf_counter()
        model.train()
        for x, y in batches(weight_split, data, batch, device, epoch_seed(0, epoch)):
            if sample is not None:
                model.set_arch(sample(rng))
            loss = criterion(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward(inputs=params)
            nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
        evaluate_model(
            model, data.val, data, TrainingConfig(eval_batch_size=512, amp=False), device
        )
        sync(device)
        seconds.append(time.perf_counter() - start)
    return min(seconds[1:])


def search_epoch(search: Any, data: DataSplits, device: torch.device) -> float:
    with tempfile.TemporaryDirectory() as folder:
        search.search(SearchEnv(data, Path(folder), 0, device))
        return float(pd.read_csv(Path(folder) / "epochs.csv")["seconds"].iloc[1:].min())


def log(out: dict[str, Any]) -> None:
    """Progress on stderr: the last figure measured."""
    key = list(out)[-1]
    print(f"{key}: {out[key]:.3f}", file=sys.stderr, flush=True)


def measure(preset: str, device: torch.device, steps: int | None = None) -> dict[str, Any]:
    spec = {**PRESETS[preset], **({"steps": steps} if steps else {})}
    name, options = spec["space"]
    space = create_space(name, **options)
    batch = spec["batch"]
    if spec["data"] == "digits":
        from nas.data.digits import digits

        data = digits()
    else:
        data = random_data(spec["steps"], batch, torch.Generator().manual_seed(0))
    data = dataclasses.replace(data, test=Split(data.val.x[:0], data.val.y[:0]))
    shape = {"num_classes": data.num_classes, "input_shape": data.input_shape}
    with seeded(0):
        mixed = space.mixed_supernet(**shape, generator=torch.Generator().manual_seed(0)).to(device)
        single = space.supernet(**shape).to(device)
    out: dict[str, Any] = {"train_mixed_s": plain_epochs(mixed, data, batch, device)}
    log(out)
    out["darts_first_order_s"] = search_epoch(
        Darts(space, order=1, epochs=EPOCHS, batch_size=batch), data, device
    )
    log(out)
    out["darts_second_order_s"] = search_epoch(
        Darts(space, order=2, epochs=EPOCHS, batch_size=batch), data, device
    )
    log(out)
    out["train_single_path_s"] = plain_epochs(single, data, batch, device, sample=space.sample)
    log(out)
    controller_steps = spec.get("controller_steps") or max(1, round(spec["steps"] * 300 / 281))
    enas = Enas(
        space,
        epochs=EPOCHS,
        batch_size=batch,
        train_portion=0.5,
        lr_restart_period=None,
        derive_samples=1,
        controller_steps=controller_steps,
    )
    out["enas_s"] = search_epoch(enas, data, device)
    weight_steps = -(-len(split_train(data.train, 0.5, 0)[0]) // batch)
    for key in ("darts_first_order", "darts_second_order"):
        out[f"{key}_ratio"] = round(out[f"{key}_s"] / out["train_mixed_s"], 2)
    out["enas_ratio"] = round(out["enas_s"] / out["train_single_path_s"], 2)
    return {
        "preset": preset,
        "space": name,
        "space_options": options,
        "batch_size": batch,
        "weight_steps_per_epoch": weight_steps,
        "enas_controller_steps": enas.controller_steps,
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        **{k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="digits-nb201")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--steps", type=int, help="weight steps per epoch of the random-data presets"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    report = measure(args.preset, torch.device(args.device), args.steps)
    out = ROOT / "results" / "benchmarks" / f"oneshot_epoch_time-{args.preset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(
        f"\n| {args.preset} on {report['device']} | seconds / epoch | x one training epoch |\n| --- | --- | --- |"
    )
    print(f"| train mixed supernet | {report['train_mixed_s']} | 1 |")
    print(
        f"| DARTS first order | {report['darts_first_order_s']} | {report['darts_first_order_ratio']} |"
    )
    print(
        f"| DARTS second order | {report['darts_second_order_s']} | {report['darts_second_order_ratio']} |"
    )
    print(f"| train single-path supernet | {report['train_single_path_s']} | 1 |")
    print(f"| ENAS | {report['enas_s']} | {report['enas_ratio']} |")


if __name__ == "__main__":
    main()
