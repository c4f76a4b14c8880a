"""Training a weight-sharing supernet, and what scoring its subnets needs (BN recalibration).

Single-path uniform sampling (SPOS, Guo et al. 2020): each step trains one architecture drawn
uniformly from the space. The sandwich rule (BigNAS / OFA, Yu et al. 2020): each step sums the
gradients of the largest, the smallest and a few random architectures, so that the shared
weights serve every size; it suits spaces whose decisions are all sizes (numbers), where the
largest and smallest architectures take each decision's maximum and minimum.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from nas.arch import Arch
from nas.config import TrainingConfig
from nas.data import DataSplits, Split, iterate_batches
from nas.space import SearchSpace
from nas.supernet import Supernet
from nas.training.augment import augment
from nas.training.device import DeviceTotals
from nas.training.loop import CandidateError, HasAuxiliaryHead, forward_with_auxiliary, seeded
from nas.training.optim import autocast, lr_factor, make_optimizer


@dataclass(frozen=True)
class SupernetRecipe:
    """How a weight-sharing supernet is trained: epochs, path sampling and the share of the data."""

    epochs: int
    sandwich: bool  # largest + smallest + random paths per step (else one uniform path)
    random_subnets: int
    data_fraction: float


@dataclass
class TrainedSupernet:
    """A supernet's weights, trained elsewhere (data-parallel workers), and how long that took."""

    state_dict: dict[str, torch.Tensor]
    train_seconds: float  # the training loop's
    details: dict[
        str, Any
    ]  # how it was trained (workers, wall seconds), kept in the checkpoint's recipe


def is_elastic(space: SearchSpace) -> bool:
    """True when every decision chooses among numbers (sizes), so largest and smallest make sense."""
    return all(
        all(isinstance(c, (int, float, bool)) for c in choices)
        for choices in space.decisions().values()
    )


def extremes(space: SearchSpace) -> tuple[Arch, Arch]:
    """(largest, smallest) architecture of an elastic space: each decision's maximum and minimum."""
    decisions = space.decisions()
    return ({n: max(c) for n, c in decisions.items()}, {n: min(c) for n, c in decisions.items()})


def _paths(
    space: SearchSpace, rng: np.random.Generator, sandwich: bool, random_subnets: int
) -> list[Arch]:
    if not sandwich:
        return [space.sample(rng)]
    largest, smallest = extremes(space)
    return [largest, smallest, *(space.sample(rng) for _ in range(random_subnets))]


def train_supernet(
    supernet: Supernet,
    space: SearchSpace,
    data: DataSplits,
    cfg: TrainingConfig,
    *,
    epochs: int,
    seed: int,
    device: torch.device,
    sandwich: bool = False,
    random_subnets: int = 2,
    train_split: Split | None = None,
    shard: tuple[int, int] = (0, 1),
) -> float:
    """Train ``supernet`` in place with the configured optimiser, schedule and augmentation (not the
    weight EMA: an average of weights shared by many paths is not a network); returns the seconds taken.

    ``shard`` = (rank, world) trains data-parallel in an initialised ``torch.distributed`` group:
    every rank draws the same global batches and paths, trains on its slice of each batch, and
    the gradients are averaged over ranks before the step; the same global batch therefore gives
    the same weights as one process (exactly so for networks without BatchNorm, whose batch
    statistics are per slice). Raises CandidateError when the loss becomes NaN or infinite.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    split = train_split if train_split is not None else data.train
    supernet.to(device)
    optimizer = make_optimizer(supernet, cfg)
    steps = math.ceil(len(split) / cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, steps, epochs))
    use_scaler = cfg.amp and device.type == "cuda" and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    augmentation = torch.Generator().manual_seed(seed + 1)  # as train_model: its own stream
    auxiliary = isinstance(supernet, HasAuxiliaryHead)
    start = time.perf_counter()
    supernet.train()
    with seeded(seed, device):
        for epoch in range(1, epochs + 1):
            watched = DeviceTotals(device)
            for x, y in iterate_batches(
                split,
                cfg.batch_size,
                mean=data.mean,
                std=data.std,
                device=device,
                generator=generator,
            ):
                x = augment(x, cfg.augment, augmentation)
                part = 1.0  # this rank's share of the global batch, times the world size
                if shard[1] > 1:
                    size = len(y)
                    x, y = x.tensor_split(shard[1])[shard[0]], y.tensor_split(shard[1])[shard[0]]
                    part = (
                        len(y) * shard[1] / size
                    )  # so that the averaged gradient is the global batch's
                optimizer.zero_grad(set_to_none=True)
                for arch in _paths(space, rng, sandwich, random_subnets):
                    supernet.set_arch(arch)
                    with autocast(device, cfg.amp):
                        logits, aux = (
                            forward_with_auxiliary(supernet, x)
                            if auxiliary
                            else (supernet(x), None)
                        )
                        loss = criterion(logits.float(), y)
                        if aux is not None:
                            loss = loss + cfg.auxiliary_weight * criterion(aux.float(), y)
                    _watch_finite(loss, watched, epoch)
                    scaler.scale(loss * part).backward()  # gradients of the sandwich's paths add up
                if shard[1] > 1:
                    average_gradients(supernet, shard[1])
                if cfg.grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(supernet.parameters(), cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
            bad = watched.non_finite() if device.type != "cpu" else None
            if bad is not None:
                raise CandidateError(f"supernet loss became {bad} at epoch {epoch}")
    return time.perf_counter() - start


def _watch_finite(loss: torch.Tensor, watched: DeviceTotals, epoch: int) -> None:
    """On a CPU, fail at once on a non-finite loss; elsewhere remember it for the epoch's end (a
    check per step would make the host wait for the device every step)."""
    if watched.device.type != "cpu":
        watched.watch(loss)
    elif not torch.isfinite(loss):
        raise CandidateError(f"supernet loss became {loss.item()} at epoch {epoch}")


def average_gradients(module: nn.Module, world: int) -> None:
    """Average the gradients of ``module`` over the ranks of the default process group (one all-reduce).

    By hand rather than through ``DistributedDataParallel``: a supernet follows a different path
    each step and the sandwich rule runs several backward passes per step, so which parameters get
    gradients changes from step to step (the same on every rank, as all draw the same paths).
    """
    import torch.distributed as dist

    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def finetune(
    model: nn.Module,
    data: DataSplits,
    cfg: TrainingConfig,
    *,
    steps: int,
    lr: float,
    seed: int,
    device: torch.device,
) -> None:
    """A few SGD steps (constant ``lr``) on training batches, e.g. for a subnet with inherited weights."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=cfg.momentum)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    done = 0
    with seeded(seed, device):
        while done < steps:
            for x, y in iterate_batches(
                data.train,
                cfg.batch_size,
                mean=data.mean,
                std=data.std,
                device=device,
                generator=generator,
            ):
                with autocast(device, cfg.amp):
                    loss = criterion(model(x).float(), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                done += 1
                if done >= steps:
                    break


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Replace every BatchNorm's running statistics by their exact average over ``batches``
    (other layers in eval mode, so dropout and drop-path do not disturb them); returns the batches used.

    Weights inherited from a supernet come with statistics of other paths' inputs; SPOS ranks
    subnets well only after this (Guo et al. 2020, section 3.3).
    """
    norms = [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    momenta = [bn.momentum for bn in norms]
    model.eval()
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average: every batch weighs the same
        bn.train()
    used = 0
    for x in batches:
        model(x)
        used += 1
    for bn, momentum in zip(norms, momenta, strict=False):
        bn.momentum = momentum
    model.eval()
    return used


def calibration_inputs(
    data: DataSplits,
    images: int,
    chunk: int,
    *,
    seed: int,
    device: torch.device,
) -> Iterable[torch.Tensor]:
    """``images`` shuffled training inputs (the same for the same seed), in chunks of up to ``chunk``:
    fewer, larger forward passes give the same statistics faster."""
    index = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed))[:images]
    picked = Split(data.train.x[index], data.train.y[index])
    for x, _ in iterate_batches(picked, chunk, mean=data.mean, std=data.std, device=device):
        yield x


def supernet_identity(space: SearchSpace, data: DataSplits) -> dict[str, object]:
    """What a checkpoint must match to be reused: the space with its options, the data's classes and shape."""
    return {
        "space": repr(space),
        "dataset": data.name,
        "num_classes": data.num_classes,
        "input_shape": list(data.input_shape),
    }


def mismatches(saved: Mapping[str, object], expected: Mapping[str, object]) -> list[str]:
    """The identity fields whose saved value differs from the expected one, as 'key: saved != expected'."""
    return [f"{k}: {saved.get(k)!r} != {v!r}" for k, v in expected.items() if saved.get(k) != v]
