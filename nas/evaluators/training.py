"""Evaluators that train each candidate: full training and partial (multi-fidelity: fewer epochs,
less data, lower input resolution), stopped early when the ``report`` callback prunes them."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import optuna
from torch import nn

from nas.arch import Choice
from nas.costs.measure import cost_metrics
from nas.data import DataSplits, resize, subset
from nas.errors import NasError
from nas.evaluators.base import Budget, EvalContext, Evaluator, Pruned, candidate_seed
from nas.results.weights import save_weights
from nas.space import SearchSpace
from nas.training.loop import EpochReport, TrainResult, seeded, train_model


class PartialTraining(Evaluator):
    """Train each candidate for a few epochs, optionally on less data or at a lower resolution.

    ``resolution`` (None: the data's own) is the shorter image side in pixels to train at.
    Costs (params, FLOPs, memory, latency) are those of the network at the data set's own resolution.
    A candidate stopped by its report callback (a pruner) leaves with the metrics it reached.
    """

    def __init__(
        self,
        context: EvalContext,
        *,
        epochs: int = 5,
        data_fraction: float = 1.0,
        resolution: int | None = None,
        save_weights: bool = False,
    ) -> None:
        if epochs < 1:
            raise NasError(f"config key 'evaluator.epochs' must be at least 1, got {epochs}")
        if not 0 < data_fraction <= 1:
            raise NasError(
                f"config key 'evaluator.data_fraction' must be in (0, 1], got {data_fraction}"
            )
        if resolution is not None and resolution < 1:
            raise NasError(
                f"config key 'evaluator.resolution' must be at least 1 pixel, got {resolution}"
            )
        self.context = context
        self.epochs = epochs
        self.data_fraction = data_fraction
        self.resolution = resolution
        self.save_weights = (
            save_weights  # keep each trained network in the run folder (for nas export)
        )
        self._resized: dict[int, DataSplits] = {}
        self._teacher: nn.Module | None = None

    def teacher(self, space: SearchSpace) -> nn.Module | None:
        """The distillation teacher of ``training.distill`` (None without it); loaded once."""
        distill = self.context.training.distill
        if distill is not None and self._teacher is None:
            from nas.training.distill import load_teacher

            self._teacher = load_teacher(distill, space, self.context.device)
        return self._teacher

    def data_at(self, resolution: int | None) -> DataSplits:
        """The data set with every split resized to ``resolution`` (None: as loaded); cached."""
        data = self.context.data
        if resolution is None:
            return data
        if resolution not in self._resized:
            self._resized[resolution] = dataclasses.replace(
                data,
                train=resize(data.train, resolution),
                val=resize(data.val, resolution),
                test=resize(data.test, resolution),
            )
        return self._resized[resolution]

    def evaluate(
        self,
        arch: Mapping[str, Choice],
        space: SearchSpace,
        budget: Budget | None = None,
        report: EpochReport | None = None,
    ) -> dict[str, Any]:
        """Train ``arch`` from scratch and return the task's scores (%: accuracy, or mIoU and pixel
        accuracy), losses, costs and the fidelity used."""
        budget = budget or Budget()
        epochs = budget.epochs or self.epochs
        fraction = budget.data_fraction or self.data_fraction
        ctx = self.context
        data, train_data = ctx.data, self.data_at(budget.resolution or self.resolution)
        seed = candidate_seed(ctx.seed, arch)
        with seeded(seed):
            model = space.build(arch, num_classes=data.num_classes, input_shape=data.input_shape)
        costs = cost_metrics(
            model.to(ctx.device), data.input_shape, ctx.costs, arch=arch, space=space
        )
        if train_data.input_shape != data.input_shape:
            # the network as the space lays it out for the smaller input (same weights, same seed)
            with seeded(seed):
                model = space.build(
                    arch, num_classes=data.num_classes, input_shape=train_data.input_shape
                )
        fidelity = {
            "epochs": epochs,
            "data_fraction": fraction,
            "resolution": min(train_data.input_shape[1:]),
        }
        reached: dict[str, Any] = {}
        task = ctx.task

        def relay(epoch: int, accuracy: float) -> None:
            reached.update({task.reported_metric: 100.0 * accuracy, "epochs": epoch})
            if report is not None:
                report(epoch, 100.0 * accuracy)

        start = time.perf_counter()
        try:
            result = train_model(
                model,
                train_data,
                ctx.training,
                epochs=epochs,
                seed=seed,
                device=ctx.device,
                train_split=subset(train_data.train, fraction, ctx.seed),
                report=relay,
                teacher=self.teacher(space),
            )
        except optuna.TrialPruned as exc:
            pruned = exc if isinstance(exc, Pruned) else Pruned(reached.get("epochs", 0))
            pruned.metrics.update(
                {**costs, **fidelity, **reached, "train_seconds": time.perf_counter() - start}
            )
            raise pruned from None
        if self.save_weights and self.run_dir is not None:
            save_weights(
                self.run_dir,
                arch,
                model,
                num_classes=data.num_classes,
                input_shape=train_data.input_shape,
            )
        if ctx.costs.int8:
            from nas.costs.int8 import int8_metrics

            costs.update(
                int8_metrics(
                    model,
                    train_data,
                    calibration=ctx.costs.int8_calibration_batches,
                    batch_size=ctx.training.batch_size,
                    latency_repeats=ctx.costs.latency_repeats,
                    latency_warmup=ctx.costs.latency_warmup,
                )
            )
        return {
            **task.metric_row(result.val_scores, "val"),
            "val_loss": result.val_loss,
            **task.metric_row(result.train_scores, "train"),
            "train_loss": result.train_loss,
            **costs,
            **fidelity,
            "train_seconds": result.train_seconds,
            **(compile_note(result) if ctx.training.compile else {}),
        }


class FullTraining(PartialTraining):
    """Train each candidate on the whole training split for the full schedule; score on validation."""

    def __init__(
        self, context: EvalContext, *, epochs: int = 30, save_weights: bool = False
    ) -> None:
        super().__init__(context, epochs=epochs, data_fraction=1.0, save_weights=save_weights)


def compile_note(result: TrainResult) -> dict[str, Any]:
    """Trial-row columns of ``training.compile``: ``compiled`` (1 or 0) and, when the candidate fell
    back to eager execution, ``compile_error`` (why)."""
    note: dict[str, Any] = {"compiled": 1.0 if result.compiled else 0.0}
    if result.compile_error is not None:
        note["compile_error"] = result.compile_error
    return note
