"""Data-parallel supernet training on several workers (CPUs or GPUs) with Ray Train's TorchTrainer.

Ray Train starts ``workers`` processes, one per CPU slot or GPU, and joins them in a
``torch.distributed`` group (gloo on CPU, nccl on GPU). Each rebuilds space and data from the
config, builds the supernet with the run's seed and trains it with
:func:`nas.supernet_training.train_supernet` on its slice of every global batch, gradients averaged
over the group, so the result is that of one process on the same global batches. Rank 0 writes
the trained weights to ``out`` (on a multi-node cluster: a folder every node can reach).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def train_supernet_ddp(
    config_data: dict[str, Any], out: Path, *, workers: int, use_gpu: bool, epochs: int,
    sandwich: bool, random_subnets: int, data_fraction: float, storage: Path,
) -> float:
    """Train the config's supernet on ``workers`` Ray Train workers; save its state dict at ``out``.

    Returns the seconds the training loop took (rank 0's).
    """
    import torch
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={"config": config_data, "out": str(out), "epochs": epochs, "sandwich": sandwich,
                           "random_subnets": random_subnets, "data_fraction": data_fraction},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=RunConfig(name="supernet", storage_path=str(storage.resolve())),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    return float(torch.load(out.with_name(out.name + ".seconds"), weights_only=True))


def _train_worker(loop_config: dict[str, Any]) -> None:
    """One rank: rebuild the supernet from the config, train on this rank's slices, rank 0 saves."""
    import torch
    import torch.distributed as dist
    from ray.train.torch import get_device

    from nas.config import resolve_config
    from nas.data import subset
    from nas.registry import DATASETS, SPACES
    from nas.supernet_training import train_supernet
    from nas.training import seeded

    config = resolve_config(loop_config["config"])
    rank, world = dist.get_rank(), dist.get_world_size()
    device = get_device()
    if config.training.threads:
        torch.set_num_threads(config.training.threads)
    space = SPACES.get(config.space.name)(**config.space.options)
    data = DATASETS.get(config.dataset.name)(**config.dataset.options)
    with seeded(config.seed):
        supernet = space.supernet(num_classes=data.num_classes, input_shape=data.input_shape)
    seconds = train_supernet(
        supernet, space, data, config.training, epochs=loop_config["epochs"], seed=config.seed,
        device=device, sandwich=loop_config["sandwich"], random_subnets=loop_config["random_subnets"],
        train_split=subset(data.train, loop_config["data_fraction"], config.seed), shard=(rank, world),
    )
    if rank == 0:
        out = Path(loop_config["out"])
        tmp = out.with_name(out.name + ".tmp")
        torch.save({k: v.cpu() for k, v in supernet.state_dict().items()}, tmp)
        tmp.replace(out)
        torch.save(seconds, out.with_name(out.name + ".seconds"))  # Ray Train keeps metrics only with checkpoints


def prepare_weight_sharing(evaluator: Any, space: Any, config: Any, storage: Path) -> None:
    """Train a weight-sharing evaluator's supernet data-parallel (``executor.train_workers``) and
    save it where the evaluator looks for its checkpoint, which it then loads; an existing
    checkpoint is left alone (resume, or ``evaluator.checkpoint``)."""
    import time

    import torch

    from nas.evaluators.weight_sharing import _save_atomic
    from nas.supernet_training import is_elastic, supernet_identity

    path = evaluator.checkpoint_path()
    if path is None or path.is_file():
        return
    sandwich = is_elastic(space) if evaluator.sandwich is None else evaluator.sandwich
    weights = path.with_name(path.name + ".ddp")
    executor = config.executor
    start = time.perf_counter()
    seconds = train_supernet_ddp(
        config.to_yaml_dict(), weights, workers=executor.train_workers, use_gpu=executor.gpus_per_trial > 0,
        epochs=evaluator.epochs, sandwich=sandwich, random_subnets=evaluator.random_subnets,
        data_fraction=evaluator.data_fraction, storage=storage,
    )
    state = torch.load(weights, weights_only=True)
    recipe = {"epochs": evaluator.epochs, "sandwich": sandwich, "random_subnets": evaluator.random_subnets,
              "data_fraction": evaluator.data_fraction, "seed": config.seed, "train_seconds": seconds,
              "workers": executor.train_workers, "wall_seconds": time.perf_counter() - start}
    _save_atomic({**supernet_identity(space, evaluator.context.data), "recipe": recipe, "state_dict": state}, path)
    weights.unlink()
    weights.with_name(weights.name + ".seconds").unlink()
