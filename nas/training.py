"""The one training loop every training-based evaluator shares."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from nas.config import TrainingConfig
from nas.data import DataSplits, Split, iterate_batches
from nas.errors import NasError

#: Called after each epoch with (epoch starting at 1, validation accuracy); may raise to stop.
EpochReport = Callable[[int, float], None]


@runtime_checkable
class HasAuxiliaryHead(Protocol):
    """A network with a training-only auxiliary classifier (DARTS); training adds its weighted loss."""

    def forward_with_auxiliary(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, auxiliary logits or None)."""
        ...


class CandidateError(RuntimeError):
    """A candidate network failed to train (non-finite loss, ...); the search records it and goes on."""


def resolve_device(spec: str) -> torch.device:
    """'auto' picks CUDA when present, else CPU; otherwise a torch device string such as 'cuda:1'."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise NasError(f"training.device {spec!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NasError(f"training.device is {spec!r} but CUDA is not available here; use auto or cpu")
    return device


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Seed torch's generators for the block (weight init, dropout) and restore them after it."""
    devices = [device] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@dataclass
class TrainResult:
    """What one training run measured."""

    val_accuracy: float
    val_loss: float
    train_accuracy: float
    train_loss: float
    epochs: int
    train_seconds: float
    history: list[float] = field(default_factory=list)


def _optimizer(model: nn.Module, cfg: TrainingConfig) -> torch.optim.Optimizer:
    # no weight decay on BatchNorm and bias parameters, as is standard for CNN training
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)


def _lr_lambda(cfg: TrainingConfig, steps_per_epoch: int, epochs: int) -> Callable[[int], float]:
    warmup = cfg.warmup_epochs * steps_per_epoch
    total = max(1, epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if cfg.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    if enabled and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


@torch.no_grad()
def evaluate_model(
    model: nn.Module, split: Split, data: DataSplits, cfg: TrainingConfig, device: torch.device
) -> tuple[float, float]:
    """(accuracy, mean cross-entropy loss) of ``model`` on ``split``."""
    model.eval()
    correct, loss_sum = 0, 0.0
    for x, y in iterate_batches(split, cfg.eval_batch_size, mean=data.mean, std=data.std, device=device):
        with _autocast(device, cfg.amp):
            logits = model(x)
        loss_sum += nn.functional.cross_entropy(logits.float(), y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    n = max(1, len(split))
    return correct / n, loss_sum / n


def train_model(
    model: nn.Module, data: DataSplits, cfg: TrainingConfig, *, epochs: int, seed: int,
    device: torch.device, train_split: Split | None = None, report: EpochReport | None = None,
) -> TrainResult:
    """Train with the configured optimiser and schedule; validate after every epoch.

    Raises CandidateError when the loss becomes NaN or infinite.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    with seeded(seed, device):
        return _train(model, data, cfg, epochs, seed, device, train_split, report)


def _train(
    model: nn.Module, data: DataSplits, cfg: TrainingConfig, epochs: int, seed: int,
    device: torch.device, train_split: Split | None, report: EpochReport | None,
) -> TrainResult:
    split = train_split if train_split is not None else data.train
    model.to(device)
    optimizer = _optimizer(model, cfg)
    steps = math.ceil(len(split) / cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg, steps, epochs))
    use_scaler = cfg.amp and device.type == "cuda" and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    generator = torch.Generator().manual_seed(seed)
    auxiliary = isinstance(model, HasAuxiliaryHead)
    history: list[float] = []
    start = time.perf_counter()
    train_acc = train_loss = 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        seen, correct, loss_sum = 0, 0, 0.0
        for x, y in iterate_batches(split, cfg.batch_size, mean=data.mean, std=data.std,
                                    device=device, generator=generator):
            with _autocast(device, cfg.amp):
                logits, aux = model.forward_with_auxiliary(x) if auxiliary else (model(x), None)
                loss = criterion(logits.float(), y)
                if aux is not None:
                    loss = loss + cfg.auxiliary_weight * criterion(aux.float(), y)
            if not torch.isfinite(loss):
                raise CandidateError(f"loss became {loss.item()} at epoch {epoch}")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            seen += len(y)
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
        train_acc, train_loss = correct / max(1, seen), loss_sum / max(1, seen)
        val_acc, val_loss = evaluate_model(model, data.val, data, cfg, device)
        history.append(val_acc)
        if report is not None:
            report(epoch, val_acc)
    return TrainResult(
        val_accuracy=history[-1] if history else 0.0, val_loss=val_loss if history else math.nan,
        train_accuracy=train_acc, train_loss=train_loss, epochs=epochs,
        train_seconds=time.perf_counter() - start, history=history,
    )
