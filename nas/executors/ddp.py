"""Data-parallel supernet training on several workers (CPUs or GPUs) with Ray Train's TorchTrainer.

Ray Train starts ``workers`` processes, one per CPU slot or GPU, and joins them in a
``torch.distributed`` group (gloo on CPU, nccl on GPU). Each rebuilds space and data from the
config, builds the supernet with the run's seed and trains it with
:func:`nas.training.supernet.train_supernet` on its slice of every global batch, gradients averaged
over the group, so the result is that of one process on the same global batches. Rank 0 writes
the trained weights into ``storage`` (on a multi-node cluster: a folder every node can reach).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from nas.training.supernet import SupernetRecipe, TrainedSupernet

WEIGHTS_FILE = "supernet.ddp.pt"


def train_supernet_ddp(
    config_data: dict[str, Any],
    recipe: SupernetRecipe,
    *,
    workers: int,
    use_gpu: bool,
    storage: Path,
) -> TrainedSupernet:
    """Train the config's supernet with ``recipe`` on ``workers`` Ray Train workers."""
    import torch
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    storage.mkdir(parents=True, exist_ok=True)
    out = (storage / WEIGHTS_FILE).resolve()
    start = time.perf_counter()
    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={
            "config": config_data,
            "out": str(out),
            "recipe": dataclasses.asdict(recipe),
        },
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=RunConfig(name="supernet", storage_path=str(storage.resolve())),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    saved = torch.load(out, weights_only=True)
    out.unlink()
    return TrainedSupernet(
        saved["state_dict"],
        float(saved["seconds"]),
        {"workers": workers, "wall_seconds": time.perf_counter() - start},
    )


def _train_worker(loop_config: dict[str, Any]) -> None:
    """One rank: rebuild the supernet from the config, train on this rank's slices, rank 0 saves."""
    import torch
    import torch.distributed as dist
    from ray.train.torch import get_device

    from nas.config import resolve_config
    from nas.data import subset
    from nas.io import save_torch_atomic
    from nas.registry import DATASETS, SPACES
    from nas.training.loop import seeded
    from nas.training.supernet import train_supernet

    config = resolve_config(loop_config["config"])
    recipe = SupernetRecipe(**loop_config["recipe"])
    rank, world = dist.get_rank(), dist.get_world_size()
    device = get_device()
    if config.training.threads:
        torch.set_num_threads(config.training.threads)
    assert config.dataset is not None  # the weight-sharing evaluator trains on data
    space = SPACES.get(config.space.name)(**config.space.options)
    data = DATASETS.get(config.dataset.name)(**config.dataset.options)
    with seeded(config.seed):
        supernet = space.supernet(num_classes=data.num_classes, input_shape=data.input_shape)
    seconds = train_supernet(
        supernet,
        space,
        data,
        config.training,
        epochs=recipe.epochs,
        seed=config.seed,
        device=device,
        sandwich=recipe.sandwich,
        random_subnets=recipe.random_subnets,
        train_split=subset(data.train, recipe.data_fraction, config.seed),
        shard=(rank, world),
    )
    if (
        rank == 0
    ):  # Ray Train keeps metrics only with checkpoints: the seconds travel with the weights
        state = {k: v.cpu() for k, v in supernet.state_dict().items()}
        save_torch_atomic({"state_dict": state, "seconds": seconds}, Path(loop_config["out"]))
