"""Weight-sharing evaluator: score candidates as subnets of one supernet trained once per run."""

from __future__ import annotations

import dataclasses
import pickle
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from nas.arch import Choice
from nas.costs.measure import cost_metrics
from nas.data import subset
from nas.errors import NasError
from nas.evaluators.base import Budget, EvalContext, Evaluator, ExecutorServices, candidate_seed
from nas.io import save_torch_atomic
from nas.results.weights import save_weights
from nas.search.time_limit import paused
from nas.space import SearchSpace
from nas.supernet import HasSupernet, Supernet
from nas.training.loop import CandidateError, EpochReport, evaluate_scores, seeded
from nas.training.supernet import (
    SupernetRecipe,
    calibration_inputs,
    finetune,
    is_elastic,
    mismatches,
    recalibrate_bn,
    supernet_identity,
    train_supernet,
)

#: The supernet checkpoint's file name in the run folder.
CHECKPOINT_FILE = "supernet.pt"


class WeightSharing(Evaluator):
    """Scores each candidate as a subnet of the space's supernet, trained once per run.

    The supernet trains on the first evaluation (``epochs`` epochs; single-path uniform sampling,
    or the sandwich rule -- largest, smallest and ``random_subnets`` random paths per step --
    which ``sandwich: null`` picks for spaces whose decisions are all sizes, such as mbconv) and
    is saved as ``supernet.pt`` in the run folder, or at ``checkpoint`` when given; an existing
    checkpoint is loaded instead of training (a resumed run, or another search's supernet; its own
    recipe then applies). A candidate inherits its weights, optionally fine-tunes
    ``finetune_steps`` steps, has its BatchNorm statistics recalibrated on
    ``calibration_batches`` training batches and is scored on the validation split;
    ``save_weights`` keeps each subnet's weights in the run folder, as the training evaluators do.
    """

    def __init__(
        self,
        context: EvalContext,
        *,
        epochs: int = 100,
        sandwich: bool | None = None,
        random_subnets: int = 2,
        data_fraction: float = 1.0,
        calibration_batches: int = 4,
        finetune_steps: int = 0,
        finetune_lr: float | None = None,
        checkpoint: str | None = None,
        save_weights: bool = False,
    ) -> None:
        if epochs < 1:
            raise NasError(f"config key 'evaluator.epochs' must be at least 1, got {epochs}")
        if random_subnets < 0 or calibration_batches < 0 or finetune_steps < 0:
            raise NasError(
                "config keys 'evaluator.random_subnets', 'evaluator.calibration_batches' and "
                "'evaluator.finetune_steps' must be >= 0"
            )
        if not 0 < data_fraction <= 1:
            raise NasError(
                f"config key 'evaluator.data_fraction' must be in (0, 1], got {data_fraction}"
            )
        self.context = context
        self.epochs, self.sandwich, self.random_subnets = epochs, sandwich, random_subnets
        self.data_fraction = data_fraction
        self.calibration_batches, self.finetune_steps = calibration_batches, finetune_steps
        self.finetune_lr = finetune_lr
        self.checkpoint = checkpoint
        self.save_weights = (
            save_weights  # keep each scored subnet in the run folder (for nas export)
        )
        self.supernet: Supernet | None = None
        self.trained_here = False  # whether this evaluator trained the supernet (False: loaded it)

    def check(self, space: SearchSpace) -> None:
        """Refuse a space that has no weight-sharing supernet."""
        if not isinstance(space, HasSupernet):
            raise NasError(
                f"evaluator 'weight_sharing' needs a space with a supernet(); space "
                f"{space.name or type(space).__name__!r} has none (use evaluator: partial or full)"
            )

    def checkpoint_path(self) -> Path | None:
        """Where the supernet is saved and looked for (None: kept in memory only)."""
        if self.checkpoint is not None:
            return Path(self.checkpoint).expanduser()
        return None if self.run_dir is None else Path(self.run_dir) / CHECKPOINT_FILE

    def recipe(self, space: SearchSpace) -> SupernetRecipe:
        """How this evaluator trains the supernet of ``space``."""
        sandwich = is_elastic(space) if self.sandwich is None else self.sandwich
        return SupernetRecipe(self.epochs, sandwich, self.random_subnets, self.data_fraction)

    def prepare(self, space: SearchSpace, run_dir: Path | None, executor: ExecutorServices) -> None:
        """Have the trained supernet ready: loaded from the checkpoint when there is one, else
        trained (on the executor's data-parallel workers when it offers them) and saved."""
        super().prepare(space, run_dir, executor)
        path = self.checkpoint_path()
        if path is not None and not path.is_file():
            trained = executor.train_supernet(self.recipe(space), Path(run_dir or path.parent))
            if trained is not None:
                self._save(space, path, trained.state_dict, trained.train_seconds, trained.details)
        self.trained_supernet(space)

    def trained_supernet(self, space: SearchSpace) -> Supernet:
        """The trained supernet: loaded from the checkpoint when there is one, else trained (and saved)."""
        if self.supernet is not None:
            return self.supernet
        with paused():  # the run's one-time set-up, not the first candidate's cost
            self.supernet = self._build(space)
        return self.supernet

    def _build(self, space: SearchSpace) -> Supernet:
        self.check(space)
        ctx = self.context
        data = ctx.data
        with seeded(ctx.seed):
            supernet = space.supernet(num_classes=data.num_classes, input_shape=data.input_shape)  # type: ignore[attr-defined]
        path = self.checkpoint_path()
        if path is not None and path.is_file():
            self._load(supernet, path, supernet_identity(space, data))
        else:
            recipe = self.recipe(space)
            try:
                seconds = train_supernet(
                    supernet,
                    space,
                    data,
                    ctx.training,
                    epochs=recipe.epochs,
                    seed=ctx.seed,
                    device=ctx.device,
                    sandwich=recipe.sandwich,
                    random_subnets=recipe.random_subnets,
                    train_split=subset(data.train, recipe.data_fraction, ctx.seed),
                )
            except (
                CandidateError
            ) as exc:  # not one candidate's fault: every score would depend on it
                raise NasError(
                    f"the supernet did not train ({exc}); lower training.lr or set "
                    "training.grad_clip"
                ) from None
            self.trained_here = True
            if path is not None:
                self._save(space, path, supernet.state_dict(), seconds, {})
        return supernet.to(ctx.device).eval()

    def _save(
        self,
        space: SearchSpace,
        path: Path,
        state: dict[str, torch.Tensor],
        seconds: float,
        details: dict[str, Any],
    ) -> None:
        recipe = {
            **dataclasses.asdict(self.recipe(space)),
            "seed": self.context.seed,
            "train_seconds": seconds,
            **details,
        }
        identity = supernet_identity(space, self.context.data)
        save_torch_atomic({**identity, "recipe": recipe, "state_dict": state}, path)

    def _load(self, supernet: Supernet, path: Path, identity: dict[str, Any]) -> None:
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
            raise NasError(
                f"cannot read supernet checkpoint {str(path)!r} ({type(exc).__name__}); "
                "delete it to retrain"
            ) from None
        if not isinstance(saved, dict) or "state_dict" not in saved:
            raise NasError(
                f"{str(path)!r} is not a nas supernet checkpoint; point evaluator.checkpoint at a "
                "supernet.pt of a weight_sharing run"
            )
        wrong = mismatches(saved, identity)
        if wrong:
            raise NasError(
                f"supernet checkpoint {str(path)!r} was trained for something else ({'; '.join(wrong)}); "
                "point evaluator.checkpoint at a matching one or delete it to retrain"
            )
        supernet.load_state_dict(saved["state_dict"])

    def evaluate(
        self,
        arch: Mapping[str, Choice],
        space: SearchSpace,
        budget: Budget | None = None,
        report: EpochReport | None = None,
    ) -> dict[str, Any]:
        """The task's validation scores (%: accuracy, or mIoU and pixel accuracy) and loss of
        ``arch``'s subnet with inherited weights, plus its costs."""
        supernet = self.trained_supernet(space)
        ctx = self.context
        data = ctx.data
        start = time.perf_counter()
        model = space.build(arch, num_classes=data.num_classes, input_shape=data.input_shape)
        model.load_state_dict(supernet.subnet_state_dict(arch))
        model.to(ctx.device)
        costs = cost_metrics(model, data.input_shape, ctx.costs, arch=arch, space=space)
        seed = candidate_seed(ctx.seed, arch)
        if self.finetune_steps:
            finetune(
                model,
                data,
                ctx.training,
                steps=self.finetune_steps,
                lr=self.finetune_lr or ctx.training.lr,
                seed=seed,
                device=ctx.device,
            )
        if self.calibration_batches:
            images = self.calibration_batches * ctx.training.batch_size
            # the same images for every candidate, so that their scores differ by architecture only
            recalibrate_bn(
                model,
                calibration_inputs(
                    data, images, ctx.training.eval_batch_size, seed=ctx.seed, device=ctx.device
                ),
            )
        scores, loss = evaluate_scores(model, data.val, data, ctx.training, ctx.device, ctx.task)
        if self.save_weights and self.run_dir is not None:
            save_weights(
                self.run_dir,
                arch,
                model,
                num_classes=data.num_classes,
                input_shape=data.input_shape,
            )
        return {
            **ctx.task.metric_row(scores, "val"),
            "val_loss": loss,
            **costs,
            "score_seconds": time.perf_counter() - start,
        }
