"""DARTS (Liu et al. 2019): bi-level gradient search over a space's mixed supernet.

Each step first updates the alphas with Adam on a batch of the architecture half of the
training data (first or second order, :mod:`nas.oneshot.architect`), then the weights with SGD
on a batch of the weight half. Two collapse remedies can be switched on: the beta-DARTS
regulariser (``beta_decay``) and DARTS+ early stopping (``stop_at_skips``); see docs/oneshot.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from nas.arch import Arch
from nas.config import TrainingConfig
from nas.data import Split
from nas.errors import NasError
from nas.oneshot.architect import Architect
from nas.oneshot.base import (
    OneShot,
    OneShotResult,
    SearchEnv,
    batches,
    cycle,
    split_train,
)
from nas.oneshot.history import weight_rows
from nas.oneshot.loop import run_epochs, search_metrics
from nas.seeds import derive_seed
from nas.space import SearchSpace
from nas.supernet import HasMixedSupernet, MixedSupernet
from nas.training.loop import CandidateError, evaluate_model, seeded


def beta_regularizer(alphas: Sequence[torch.Tensor]) -> torch.Tensor:
    """beta-DARTS' Beta-Decay loss: the mean over edges of logsumexp of the edge's alphas."""
    return torch.cat([torch.logsumexp(a, dim=-1).reshape(-1) for a in alphas]).mean()


def count_skips(arch: Arch) -> int:
    """Skip connections in the normal cell (every decision when the space has no cell types)."""
    normal = {k: v for k, v in arch.items() if k.startswith("normal.")} or arch
    return sum(v == "skip_connect" for v in normal.values())


class Darts(OneShot):
    """DARTS gradient search (first or second order), with optional beta-DARTS / DARTS+ remedies.

    The strategy factory itself: built as ``Darts(space, seed, objectives, **options)``; each
    search takes its seed from the runner (``SearchEnv.seed``) and derives one architecture, so
    the objectives are the evaluator's business.
    """

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        objectives: Mapping[str, str] | None = None,
        *,
        order: Literal[1, 2] = 1,
        epochs: int = 50,
        batch_size: int = 64,
        lr: float = 0.025,
        lr_min: float = 0.001,
        momentum: float = 0.9,
        weight_decay: float = 3e-4,
        grad_clip: float = 5.0,
        arch_lr: float = 3e-4,
        arch_betas: tuple[float, float] = (0.5, 0.999),
        arch_weight_decay: float = 1e-3,
        train_portion: float = 0.5,
        hvp_epsilon: float = 0.01,
        beta_decay: float = 0.0,
        stop_at_skips: int | None = None,
    ) -> None:
        if not isinstance(space, HasMixedSupernet):
            raise NasError(
                f"strategy 'darts' needs a space with a mixed supernet (nb201, darts); space "
                f"{space.name!r} has no mixed_supernet(); use a black-box strategy for it"
            )
        if epochs < 1 or batch_size < 1 or lr <= 0 or arch_lr <= 0 or hvp_epsilon <= 0:
            raise NasError(
                "darts needs epochs >= 1, batch_size >= 1, lr > 0, arch_lr > 0 and hvp_epsilon > 0"
            )
        if not 0 < train_portion < 1:
            raise NasError(f"darts train_portion must be in (0, 1), got {train_portion}")
        if beta_decay < 0 or (stop_at_skips is not None and stop_at_skips < 1):
            raise NasError("darts needs beta_decay >= 0 and stop_at_skips >= 1 (or null)")
        self.space, self.order, self.epochs, self.batch_size = space, order, epochs, batch_size
        self.lr, self.lr_min, self.momentum = lr, lr_min, momentum
        self.weight_decay, self.grad_clip = weight_decay, grad_clip
        self.arch_lr, self.arch_betas, self.arch_weight_decay = (
            arch_lr,
            (arch_betas[0], arch_betas[1]),
            arch_weight_decay,
        )
        self.train_portion, self.hvp_epsilon = train_portion, hvp_epsilon
        self.beta_decay, self.stop_at_skips = beta_decay, stop_at_skips

    def beta_weight(self, epoch: int) -> float:
        """The regulariser's weight in ``epoch`` (from 0): a linear ramp from 0 towards ``beta_decay``."""
        return self.beta_decay * epoch / self.epochs

    def search(self, env: SearchEnv) -> OneShotResult:
        """Bi-level search for ``epochs`` (resuming from ``env.folder``); derive from the last alphas."""
        data = env.data
        weight_split, arch_split = split_train(data.train, self.train_portion, env.seed)
        with seeded(env.seed):
            model: MixedSupernet = self.space.mixed_supernet(  # type: ignore[attr-defined]
                num_classes=data.num_classes,
                input_shape=data.input_shape,
                generator=torch.Generator().manual_seed(env.seed),
            )
        model.to(env.device)
        w_opt = torch.optim.SGD(
            model.weight_parameters(),
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
        )
        a_opt = torch.optim.Adam(
            model.arch_parameters(),
            lr=self.arch_lr,
            betas=self.arch_betas,
            weight_decay=self.arch_weight_decay,
        )
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            w_opt, self.epochs, eta_min=self.lr_min
        )
        architect = Architect(model, w_opt, a_opt, order=self.order, hvp_epsilon=self.hvp_epsilon)
        eval_cfg = TrainingConfig(eval_batch_size=env.eval_batch_size, amp=False)

        def epoch_fn(epoch: int) -> tuple[dict[str, float], list[dict[str, Any]], bool]:
            stats = self._epoch(
                architect, env, weight_split, arch_split, epoch, float(scheduler.get_last_lr()[0])
            )
            scheduler.step()
            val_acc, val_loss = evaluate_model(model, data.val, data, eval_cfg, env.device)
            skips = count_skips(model.derive())
            stats.update(val_accuracy=100.0 * val_acc, val_loss=val_loss, skips=skips)
            stop = self.stop_at_skips is not None and skips >= self.stop_at_skips
            return stats, weight_rows(epoch + 1, model.alphas()), stop

        state = run_epochs(
            env,
            epochs=self.epochs,
            epoch_fn=epoch_fn,
            title=self._title(env),
            stateful={
                "supernet": model,
                "weight_optimizer": w_opt,
                "arch_optimizer": a_opt,
                "scheduler": scheduler,
            },
            first_rows=weight_rows(0, model.alphas()),
        )
        return OneShotResult(self.space.validate(model.derive()), search_metrics(state))

    def _epoch(
        self,
        architect: Architect,
        env: SearchEnv,
        weight_split: Split,
        arch_split: Split,
        epoch: int,
        lr: float,
    ) -> dict[str, float]:
        """One pass over the weight half, each weight step preceded by an architecture step."""
        model = architect.model
        model.train()
        weights = model.weight_parameters()
        regularizer = self._regularizer(epoch)
        arch_batches = cycle(
            arch_split, env.data, self.batch_size, env.device, derive_seed(env.seed, epoch, 1)
        )
        seen, correct, loss_sum, arch_loss_sum, steps = 0, 0, 0.0, 0.0, 0
        for x, y in batches(
            weight_split, env.data, self.batch_size, env.device, derive_seed(env.seed, epoch)
        ):
            arch_loss_sum += architect.step((x, y), next(arch_batches), lr, regularizer)
            logits = model(x)
            loss = architect.criterion(logits, y)
            if not torch.isfinite(loss):
                raise CandidateError(
                    f"the supernet's loss became {loss.item()} in epoch {epoch + 1}"
                )
            architect.weight_optimizer.zero_grad(set_to_none=True)
            loss.backward(inputs=weights)
            nn.utils.clip_grad_norm_(weights, self.grad_clip)
            architect.weight_optimizer.step()
            seen += len(y)
            steps += 1
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
        return {
            "lr": lr,
            "train_loss": loss_sum / max(1, seen),
            "train_accuracy": 100.0 * correct / max(1, seen),
            "arch_loss": arch_loss_sum / max(1, steps),
            "beta_weight": self.beta_weight(epoch),
        }

    def _regularizer(self, epoch: int) -> Any:
        weight = self.beta_weight(epoch)
        if weight <= 0:
            return None
        return lambda alphas: weight * beta_regularizer(alphas)

    def _title(self, env: SearchEnv) -> str:
        order = "second" if self.order == 2 else "first"
        return f"DARTS ({order} order) on {self.space.name}: softmax weights per edge ({env.folder.name})"
