"""Evaluators that train each candidate: full training and partial (fewer epochs, less data)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nas.arch import Choice
from nas.costs import cost_metrics
from nas.data import subset
from nas.errors import NasError
from nas.evaluators.base import Budget, EvalContext, Evaluator, candidate_seed
from nas.space import SearchSpace
from nas.training import EpochReport, seeded, train_model
from nas.weights import save_weights


class PartialTraining(Evaluator):
    """Train each candidate for a few epochs on a fraction of the data; score on validation."""

    def __init__(
        self, context: EvalContext, *, epochs: int = 5, data_fraction: float = 1.0, save_weights: bool = False,
    ) -> None:
        if epochs < 1:
            raise NasError(f"config key 'evaluator.epochs' must be at least 1, got {epochs}")
        if not 0 < data_fraction <= 1:
            raise NasError(f"config key 'evaluator.data_fraction' must be in (0, 1], got {data_fraction}")
        self.context = context
        self.epochs = epochs
        self.data_fraction = data_fraction
        self.save_weights = save_weights  # keep each trained network in the run folder (for nas export)

    def evaluate(
        self, arch: Mapping[str, Choice], space: SearchSpace, budget: Budget | None = None,
        report: EpochReport | None = None,
    ) -> dict[str, Any]:
        """Train ``arch`` from scratch and return accuracy (%), losses, params and FLOPs."""
        budget = budget or Budget()
        epochs = budget.epochs or self.epochs
        fraction = budget.data_fraction or self.data_fraction
        ctx = self.context
        data = ctx.data
        seed = candidate_seed(ctx.seed, arch)
        with seeded(seed):
            model = space.build(arch, num_classes=data.num_classes, input_shape=data.input_shape)
        costs = cost_metrics(model.to(ctx.device), data.input_shape, ctx.costs)
        train_split = subset(data.train, fraction, ctx.seed)
        result = train_model(
            model, data, ctx.training, epochs=epochs, seed=seed, device=ctx.device,
            train_split=train_split,
            report=None if report is None else (lambda epoch, acc: report(epoch, 100.0 * acc)),
        )
        if self.save_weights and ctx.output is not None:
            save_weights(ctx.output, arch, model, num_classes=data.num_classes, input_shape=data.input_shape)
        return {
            "val_accuracy": 100.0 * result.val_accuracy,
            "val_loss": result.val_loss,
            "train_accuracy": 100.0 * result.train_accuracy,
            "train_loss": result.train_loss,
            **costs,
            "epochs": epochs,
            "data_fraction": fraction,
            "train_seconds": result.train_seconds,
        }


class FullTraining(PartialTraining):
    """Train each candidate on the whole training split for the full schedule; score on validation."""

    def __init__(self, context: EvalContext, *, epochs: int = 30, save_weights: bool = False) -> None:
        super().__init__(context, epochs=epochs, data_fraction=1.0, save_weights=save_weights)
