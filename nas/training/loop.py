"""The one training loop every training-based evaluator shares."""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, cast, runtime_checkable

import torch
from torch import nn

from nas.config import TrainingConfig
from nas.data import DataSplits, Split, iterate_batches
from nas.errors import NasError
from nas.search.time_limit import TrialTimeout, check_deadline
from nas.tasks import Task, task_named
from nas.training.augment import augment
from nas.training.compiled import CandidateForward, Forward
from nas.training.device import FINITE_CHECK_STEPS, DeviceTotals, keeps_data, to_device
from nas.training.distill import Distiller, distiller_for
from nas.training.optim import autocast, lr_factor, make_optimizer

#: Called after each epoch with (epoch starting at 1, the task's reported validation score, such as
#: accuracy); may raise to stop.
EpochReport = Callable[[int, float], None]


@runtime_checkable
class HasAuxiliaryHead(Protocol):
    """A network with a training-only auxiliary classifier (DARTS); training adds its weighted loss."""

    def forward_with_auxiliary(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, auxiliary logits or None)."""
        ...


def forward_with_auxiliary(
    model: nn.Module, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(logits, auxiliary logits or None) of a network with an auxiliary head (``HasAuxiliaryHead``)."""
    return cast(HasAuxiliaryHead, model).forward_with_auxiliary(x)


class CandidateError(RuntimeError):
    """A candidate network failed to train (non-finite loss, ...); the search records it and goes on."""


def resolve_device(spec: str) -> torch.device:
    """'auto' picks CUDA when present, else CPU; otherwise a torch device string such as 'cuda:1'."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise NasError(
            f"training.device {spec!r} is not a device; use auto, cpu, cuda or cuda:N"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NasError(
            f"training.device is {spec!r} but CUDA is not available here; use auto or cpu"
        )
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
    """What one training run measured. ``val_accuracy`` and ``train_accuracy`` are the task's first
    score (accuracy for classification, mIoU for segmentation); ``val_scores`` / ``train_scores``
    hold all of the task's scores (fractions) of the last epoch."""

    val_accuracy: float
    val_loss: float
    train_accuracy: float
    train_loss: float
    epochs: int
    train_seconds: float
    history: list[float] = field(default_factory=list)
    compiled: bool = False  # trained through torch.compile (training.compile, and it worked)
    compile_error: str | None = None  # why training.compile fell back to eager execution
    val_scores: dict[str, float] = field(default_factory=dict)
    train_scores: dict[str, float] = field(default_factory=dict)


def evaluate_model(
    model: nn.Module, split: Split, data: DataSplits, cfg: TrainingConfig, device: torch.device
) -> tuple[float, float]:
    """(the task's first score -- accuracy, mIoU --, mean cross-entropy loss) of ``model`` on
    ``split`` (one wait for the device, at the end)."""
    task = task_named(data.task)
    scores, loss = evaluate_scores(model, split, data, cfg, device, task)
    return scores[task.score_names[0]], loss


@torch.no_grad()
def evaluate_scores(
    model: nn.Module,
    split: Split,
    data: DataSplits,
    cfg: TrainingConfig,
    device: torch.device,
    task: Task,
) -> tuple[dict[str, float], float]:
    """(the task's scores, mean cross-entropy loss) of ``model`` on ``split``."""
    model.eval()
    totals = task_totals(task, data, device)
    for x, y in iterate_batches(
        split, cfg.eval_batch_size, mean=data.mean, std=data.std, device=device
    ):
        with autocast(device, cfg.amp):
            logits = model(_laid_out(x, cfg))
        totals.add(logits, y, task.summed_loss(logits.float(), y), mean=False)
    summed, mean_loss = totals.summed()
    return task.scores(summed, totals.seen), mean_loss


def task_totals(task: Task, data: DataSplits, device: torch.device) -> DeviceTotals:
    """Running totals that sum ``task``'s batch statistics (correct predictions, a confusion matrix)."""
    return DeviceTotals(device, lambda logits, y: task.batch_score(logits, y, data.num_classes))


def _laid_out(x: torch.Tensor, cfg: TrainingConfig) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if cfg.channels_last else x


def train_model(
    model: nn.Module,
    data: DataSplits,
    cfg: TrainingConfig,
    *,
    epochs: int,
    seed: int,
    device: torch.device,
    train_split: Split | None = None,
    report: EpochReport | None = None,
    teacher: nn.Module | None = None,
) -> TrainResult:
    """Train with the configured optimiser and schedule; validate after every epoch. With
    ``cfg.distill`` the loss also follows ``teacher`` (see nas.training.distill.load_teacher).

    Raises CandidateError when the loss becomes NaN or infinite.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    with seeded(seed, device):
        return _train(model, data, cfg, epochs, seed, device, train_split, report, teacher)


class WeightEMA:
    """An exponential moving average of a model's weights and buffers. The decay warms up as in
    TensorFlow's ExponentialMovingAverage, min(decay, (1 + n) / (10 + n)) after n updates, so
    that short trainings are not dominated by the initial weights."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s current weights."""
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for avg, now in zip(
            self.module.state_dict().values(), model.state_dict().values(), strict=False
        ):
            if avg.dtype.is_floating_point:
                avg.lerp_(now, 1.0 - decay)
            else:
                avg.copy_(now)


@dataclass
class _Run:
    """What one training run updates step by step."""

    model: nn.Module
    forward: CandidateForward
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    criterion: nn.Module
    task: Task
    shuffle: torch.Generator
    augment: torch.Generator
    ema: WeightEMA | None
    distiller: Distiller | None = None


def _eager_forward(model: nn.Module) -> Forward:
    if isinstance(model, HasAuxiliaryHead):
        return lambda x: forward_with_auxiliary(model, x)
    return lambda x: (model(x), None)


def _start(
    model: nn.Module,
    cfg: TrainingConfig,
    steps: int,
    epochs: int,
    seed: int,
    device: torch.device,
    teacher: nn.Module | None,
    task: Task,
) -> _Run:
    optimizer = make_optimizer(model, cfg)
    ema = WeightEMA(model, cfg.ema_decay) if cfg.ema_decay else None
    use_scaler = cfg.amp and device.type == "cuda" and not torch.cuda.is_bf16_supported()
    return _Run(
        model=model,
        # compiled lazily, at the first step: the distiller's feature hook is in place by then
        forward=CandidateForward(_eager_forward(model), cfg.compile, cfg.compile_backend),
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, steps, epochs)),
        scaler=torch.amp.GradScaler("cuda", enabled=use_scaler),
        criterion=task.criterion(cfg),
        task=task,
        shuffle=torch.Generator().manual_seed(seed),
        # augmentation draws from its own generator, so turning it on keeps the batch order
        augment=torch.Generator().manual_seed(seed + 1),
        ema=ema,
        # after the EMA copy, so that the copy carries no feature hook
        distiller=distiller_for(
            model, teacher.to(device) if teacher is not None else None, cfg.distill
        ),
    )


def _train(
    model: nn.Module,
    data: DataSplits,
    cfg: TrainingConfig,
    epochs: int,
    seed: int,
    device: torch.device,
    train_split: Split | None,
    report: EpochReport | None,
    teacher: nn.Module | None,
) -> TrainResult:
    split = train_split if train_split is not None else data.train
    val = data.val
    if keeps_data(cfg.data_on_device, device, [split, val]):
        split, val = to_device(split, device), to_device(val, device)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # not in the stubs
    steps = math.ceil(len(split) / cfg.batch_size)
    run = _start(model, cfg, steps, epochs, seed, device, teacher, task_named(data.task))
    try:
        result = _epochs(run, split, val, data, cfg, epochs, device, report)
    finally:
        if run.distiller is not None:
            run.distiller.close()
    result.compiled, result.compile_error = run.forward.is_compiled, run.forward.error
    return result


def _epochs(
    run: _Run,
    split: Split,
    val: Split,
    data: DataSplits,
    cfg: TrainingConfig,
    epochs: int,
    device: torch.device,
    report: EpochReport | None,
) -> TrainResult:
    model, task = run.model, run.task
    first = task.score_names[0]
    history: list[float] = []
    start = time.perf_counter()
    train_loss = 0.0
    train_scores: dict[str, float] = {}
    val_scores: dict[str, float] = {}
    val_loss = math.nan
    for epoch in range(1, epochs + 1):
        summed, train_loss = _train_epoch(run, split, data, cfg, device, epoch).summed()
        train_scores = task.scores(summed, len(split))
        scored = run.ema.module if run.ema is not None else model
        val_scores, val_loss = evaluate_scores(scored, val, data, cfg, device, task)
        val_acc = val_scores[first]
        history.append(val_acc)
        if report is not None:
            report(epoch, val_acc)
    if run.ema is not None:  # the averaged weights are the ones validated: hand those back
        model.load_state_dict(run.ema.module.state_dict())
    return TrainResult(
        val_accuracy=history[-1] if history else 0.0,
        val_loss=val_loss,
        train_accuracy=train_scores.get(first, 0.0),
        train_loss=train_loss,
        epochs=epochs,
        train_seconds=time.perf_counter() - start,
        history=history,
        val_scores=val_scores,
        train_scores=train_scores,
    )


def _train_epoch(
    run: _Run, split: Split, data: DataSplits, cfg: TrainingConfig, device: torch.device, epoch: int
) -> DeviceTotals:
    """One pass over ``split``; returns its totals, still on the device. Off the CPU the loss's
    finiteness is read only every ``FINITE_CHECK_STEPS`` steps and at the end (no wait per step)."""
    run.model.train()
    totals = task_totals(run.task, data, device)
    for step, (x, y) in enumerate(
        iterate_batches(
            split,
            cfg.batch_size,
            mean=data.mean,
            std=data.std,
            device=device,
            generator=run.shuffle,
        ),
        start=1,
    ):
        x = _laid_out(augment(x, cfg.augment, run.augment), cfg)
        logits, loss = _step(run, x, y, cfg, device, epoch)
        check_deadline()
        totals.add(logits, y, loss, mean=True)
        if device.type != "cpu" and step % FINITE_CHECK_STEPS == 0:
            _check_finite(totals, epoch)
    if device.type != "cpu":
        _check_finite(totals, epoch)
    return totals


def _check_finite(totals: DeviceTotals, epoch: int) -> None:
    bad = totals.non_finite()
    if bad is not None:
        raise CandidateError(f"loss became {bad} at epoch {epoch}")


def _step(
    run: _Run,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainingConfig,
    device: torch.device,
    epoch: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward, backward and update on one batch; returns the logits and the loss."""
    try:
        logits, loss = _forward_backward(run, x, y, cfg, device, epoch)
    except Exception as exc:
        if isinstance(exc, (CandidateError, TrialTimeout)) or not run.forward.fall_back(exc):
            raise
        logits, loss = _forward_backward(run, x, y, cfg, device, epoch)
    if cfg.grad_clip:
        run.scaler.unscale_(run.optimizer)
        nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.scheduler.step()
    if run.ema is not None:
        run.ema.update(run.model)
    return logits.detach(), loss.detach()


def _forward_backward(
    run: _Run,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainingConfig,
    device: torch.device,
    epoch: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    with autocast(device, cfg.amp):
        logits, aux = run.forward(x)
        loss = run.criterion(logits.float(), y)
        if run.distiller is not None:
            loss = run.distiller.loss(logits, x, loss)
        if aux is not None:
            loss = loss + cfg.auxiliary_weight * run.criterion(aux.float(), y)
    # reading a CPU tensor costs no wait; elsewhere the epoch's totals are checked every
    # FINITE_CHECK_STEPS steps
    if device.type == "cpu" and not torch.isfinite(loss):
        raise CandidateError(f"loss became {loss.item()} at epoch {epoch}")
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    return logits, loss
