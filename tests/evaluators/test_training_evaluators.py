from __future__ import annotations

import numpy as np
import optuna
import pytest
import torch

from nas import EVALUATORS, NasError, create_space
from nas.config import Component, TrainingConfig
from nas.evaluators import Budget, EvalContext, Pruned, candidate_seed

SPACE = create_space("nb201", channels=4, cells_per_stage=1)
ARCH = SPACE.sample(np.random.default_rng(0))


def context(seed: int = 0) -> EvalContext:
    return EvalContext(Component(name="digits"), TrainingConfig(), seed, torch.device("cpu"))


def test_partial_training_metrics_reports_and_reproducibility() -> None:
    evaluator = EVALUATORS.get("partial")(context(), epochs=2, data_fraction=0.5)
    reports: list[tuple[int, float]] = []
    metrics = evaluator.evaluate(ARCH, SPACE, report=lambda e, v: reports.append((e, v)))
    assert set(metrics) >= {
        "val_accuracy",
        "val_loss",
        "train_accuracy",
        "train_loss",
        "params",
        "flops",
    }
    assert (metrics["epochs"], metrics["data_fraction"]) == (2, 0.5)
    assert [e for e, _ in reports] == [1, 2] and reports[-1][1] == metrics["val_accuracy"]
    assert 0 <= metrics["val_accuracy"] <= 100 and metrics["params"] > 0 and metrics["flops"] > 0
    again = EVALUATORS.get("partial")(context(), epochs=2, data_fraction=0.5).evaluate(ARCH, SPACE)
    assert (
        again["val_accuracy"] == metrics["val_accuracy"]
        and again["val_loss"] == metrics["val_loss"]
    )


def test_budget_overrides_the_evaluator_settings() -> None:
    evaluator = EVALUATORS.get("partial")(context(), epochs=3)
    metrics = evaluator.evaluate(ARCH, SPACE, Budget(epochs=1, data_fraction=0.2))
    assert (metrics["epochs"], metrics["data_fraction"]) == (1, 0.2)


def test_full_training_uses_all_data() -> None:
    metrics = EVALUATORS.get("full")(context(), epochs=1).evaluate(ARCH, SPACE)
    assert (metrics["epochs"], metrics["data_fraction"]) == (1, 1.0)


def test_candidate_seed_depends_on_run_seed_and_arch() -> None:
    other = SPACE.mutate(ARCH, np.random.default_rng(1))
    assert candidate_seed(0, ARCH) == candidate_seed(0, dict(reversed(list(ARCH.items()))))
    assert len({candidate_seed(0, ARCH), candidate_seed(1, ARCH), candidate_seed(0, other)}) == 3


def test_bad_evaluator_options() -> None:
    with pytest.raises(NasError, match="evaluator.epochs' must be at least 1"):
        EVALUATORS.get("partial")(context(), epochs=0)
    with pytest.raises(NasError, match=r"evaluator.data_fraction' must be in \(0, 1\]"):
        EVALUATORS.get("partial")(context(), data_fraction=1.5)


def test_resolution_budget_trains_on_resized_inputs_and_keeps_native_costs() -> None:
    evaluator = EVALUATORS.get("partial")(context(), epochs=1, data_fraction=0.3)
    native = evaluator.evaluate(ARCH, SPACE)
    seen: list[tuple[int, ...]] = []
    hook = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: (
            seen.append(tuple(args[0].shape[-2:]))
            if module.__class__.__name__ == "TinyNetwork"
            else None
        )
    )
    try:
        low = evaluator.evaluate(ARCH, SPACE, Budget(resolution=4))
    finally:
        hook.remove()
    assert (native["resolution"], low["resolution"]) == (8, 4)
    assert (low["params"], low["flops"]) == (
        native["params"],
        native["flops"],
    )  # costs at the data's size
    # costs are counted at 8x8 first; then every training and validation batch is 4x4
    assert seen[0] == (8, 8) and (4, 4) in seen and set(seen[seen.index((4, 4)) :]) == {(4, 4)}
    assert evaluator.data_at(4).train.x.shape[1:] == (1, 4, 4) and evaluator.data_at(
        4
    ) is evaluator.data_at(4)


def test_a_report_callback_that_prunes_leaves_the_metrics_reached() -> None:
    evaluator = EVALUATORS.get("partial")(context(), epochs=3, data_fraction=0.3)

    def report(epoch: int, accuracy: float) -> None:
        if epoch == 2:
            raise optuna.TrialPruned()  # a plain Optuna pruning signal works too

    with pytest.raises(Pruned) as stopped:
        evaluator.evaluate(ARCH, SPACE, report=report)
    metrics = stopped.value.metrics
    assert metrics["epochs"] == 2 and 0 <= metrics["val_accuracy"] <= 100
    assert metrics["params"] > 0 and metrics["flops"] > 0 and metrics["train_seconds"] > 0
