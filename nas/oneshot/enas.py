"""ENAS (Pham et al. 2018): a controller samples subnets of a weight-sharing supernet.

Each epoch alternates, as in the paper: first the shared weights train for one pass over the
weight part of the training data, every batch on a subnet the controller samples; then the
controller takes ``controller_steps`` REINFORCE steps, each rewarded with its sample's accuracy
on one batch of the held-out part (baseline: an exponential moving average). The result is the
best of ``derive_samples`` architectures drawn from the trained controller, judged on one batch.
Works on any space with a single-path ``supernet()`` (nb201, darts, mbconv).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from nas.arch import Arch
from nas.data import Split
from nas.errors import NasError
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
from nas.strategies.lstm_controller import LSTMController
from nas.supernet import HasSupernet, Supernet
from nas.training.loop import CandidateError, seeded


@contextlib.contextmanager
def batch_statistics(model: nn.Module) -> Iterator[None]:
    """Evaluate with each batch's own BatchNorm statistics, leaving the running ones untouched
    (running statistics mix every subnet the supernet trained, so they fit none of them)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    was_training, momenta = model.training, [m.momentum for m in norms]
    counts = [
        None if m.num_batches_tracked is None else m.num_batches_tracked.clone() for m in norms
    ]
    model.eval()
    for m in norms:
        m.train()
        m.momentum = 0.0
    try:
        with torch.no_grad():
            yield
    finally:
        for m, momentum, count in zip(norms, momenta, counts, strict=False):
            m.momentum = momentum
            if count is not None and m.num_batches_tracked is not None:
                m.num_batches_tracked.copy_(count)
        model.train(was_training)


class RewardBaseline:
    """ENAS's reward baseline: ``b <- b - (1 - decay) * (b - reward)``, starting at 0."""

    def __init__(self, decay: float) -> None:
        self.decay, self.value = decay, 0.0

    def update(self, reward: float) -> float:
        """Move towards ``reward``; return the new baseline."""
        self.value -= (1.0 - self.decay) * (self.value - reward)
        return self.value

    def state_dict(self) -> dict[str, float]:
        """The baseline's value."""
        return {"value": self.value}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        """Restore the baseline's value."""
        self.value = float(state["value"])


class Enas(OneShot):
    """ENAS: an LSTM controller samples subnets of the shared supernet, REINFORCE on their accuracy.

    Built as ``Enas(space, seed, objectives, **options)``; each search takes its seed from the
    runner. Defaults follow the authors' CIFAR-10 cell search script (150 epochs, batch 160, lr
    0.05 -> 0.0005 on cosine cycles of 10, 20, 40, 80 epochs, weight decay 1e-4, controller lr
    0.0035, tanh constant 1.1, temperature 5, entropy weight 1e-4, baseline decay 0.99; 30 steps x
    10 aggregated samples per epoch, here 300 single-sample steps).
    """

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        objectives: Mapping[str, str] | None = None,
        *,
        epochs: int = 150,
        batch_size: int = 160,
        lr: float = 0.05,
        lr_min: float = 0.0005,
        lr_restart_period: int | None = 10,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        grad_clip: float = 5.0,
        train_portion: float = 0.9,
        controller_steps: int = 300,
        controller_lr: float = 0.0035,
        controller_hidden: int = 64,
        tanh_constant: float = 1.1,
        temperature: float = 5.0,
        entropy_weight: float = 1e-4,
        baseline_decay: float = 0.99,
        derive_samples: int = 100,
    ) -> None:
        if not isinstance(space, HasSupernet):
            raise NasError(
                f"strategy 'enas' needs a space with a weight-sharing supernet(); space "
                f"{space.name!r} has none; use a black-box strategy for it"
            )
        if space.task != "classification":  # its rewards are accuracies of class predictions
            raise NasError(
                f"strategy 'enas' rewards classification accuracy; space {space.name!r} builds "
                f"{space.task} networks: use a black-box strategy or the weight_sharing evaluator"
            )
        counts = (epochs, batch_size, controller_steps, derive_samples, controller_hidden)
        if min(counts) < 1 or lr <= 0 or controller_lr <= 0:
            raise NasError(
                "enas needs epochs, batch_size, controller_steps, controller_hidden and "
                "derive_samples >= 1, and lr, controller_lr > 0"
            )
        if not 0 < train_portion < 1:
            raise NasError(f"enas train_portion must be in (0, 1), got {train_portion}")
        if lr_restart_period is not None and lr_restart_period < 1:
            raise NasError(f"enas lr_restart_period must be >= 1 or null, got {lr_restart_period}")
        if not 0 <= baseline_decay < 1:
            raise NasError(f"enas needs 0 <= baseline_decay < 1, got {baseline_decay}")
        self.space, self.epochs, self.batch_size = space, epochs, batch_size
        self.lr, self.lr_min, self.momentum = lr, lr_min, momentum
        self.weight_decay, self.grad_clip = weight_decay, grad_clip
        self.lr_restart_period = lr_restart_period
        self.train_portion, self.controller_steps, self.derive_samples = (
            train_portion,
            controller_steps,
            derive_samples,
        )
        self.controller_options: dict[str, Any] = {
            "hidden_size": controller_hidden,
            "learning_rate": controller_lr,
            "tanh_constant": tanh_constant,
            "temperature": temperature,
            "entropy_weight": entropy_weight,
        }
        self.baseline_decay = baseline_decay
        self.choices = {name: list(c) for name, c in space.decisions().items()}

    def to_arch(self, picks: list[int]) -> Arch:
        """The architecture of a controller sample."""
        return {name: c[i] for (name, c), i in zip(self.choices.items(), picks, strict=False)}

    def search(self, env: SearchEnv) -> OneShotResult:
        """Alternate weight and controller training for ``epochs``; derive from the controller."""
        data = env.data
        weight_split, arch_split = split_train(data.train, self.train_portion, env.seed)
        with seeded(env.seed):
            model: Supernet = self.space.supernet(  # type: ignore[attr-defined]
                num_classes=data.num_classes, input_shape=data.input_shape
            )
        model.to(env.device)
        controller = LSTMController(
            [len(c) for c in self.choices.values()], seed=env.seed, **self.controller_options
        )
        w_opt = torch.optim.SGD(
            model.parameters(),
            lr=self.lr,
            momentum=self.momentum,
            nesterov=self.momentum > 0,
            weight_decay=self.weight_decay,
        )
        scheduler = self._scheduler(w_opt)
        baseline = RewardBaseline(self.baseline_decay)

        def epoch_fn(epoch: int) -> tuple[dict[str, float], list[dict[str, Any]], bool]:
            rng = np.random.default_rng(derive_seed(env.seed, epoch, 2))
            lr = float(scheduler.get_last_lr()[0])
            stats = self._train_weights(model, w_opt, controller, rng, weight_split, env, epoch)
            scheduler.step()
            reward, entropy, picks = self._train_controller(
                model, controller, baseline, rng, arch_split, env, epoch
            )
            stats.update(
                lr=lr, reward=100.0 * reward, baseline=100.0 * baseline.value, entropy=entropy
            )
            return stats, self._frequencies(epoch + 1, picks), False

        first_rng = np.random.default_rng(derive_seed(env.seed, 0, 3))
        first = [controller.sample(first_rng) for _ in range(self.controller_steps)]
        state = run_epochs(
            env,
            epochs=self.epochs,
            epoch_fn=epoch_fn,
            first_rows=self._frequencies(0, first),
            stateful={
                "supernet": model,
                "controller": controller,
                "weight_optimizer": w_opt,
                "scheduler": scheduler,
                "baseline": baseline,
            },
            title=f"ENAS on {self.space.name}: the controller's choice frequencies per decision ({env.folder.name})",
        )
        arch = self._derive(model, controller, env, arch_split)
        metrics = search_metrics(state)
        metrics["supernet_val_accuracy"] = 100.0 * self._accuracy(model, arch, data.val, env)
        return OneShotResult(self.space.validate(arch), metrics)

    def _scheduler(self, w_opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        """Cosine cycles (SGDR: each twice as long as the last), or one cosine over all epochs."""
        if self.lr_restart_period is None:
            return torch.optim.lr_scheduler.CosineAnnealingLR(
                w_opt, self.epochs, eta_min=self.lr_min
            )
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            w_opt, T_0=self.lr_restart_period, T_mult=2, eta_min=self.lr_min
        )

    def _train_weights(
        self,
        model: Supernet,
        w_opt: torch.optim.Optimizer,
        controller: LSTMController,
        rng: np.random.Generator,
        split: Split,
        env: SearchEnv,
        epoch: int,
    ) -> dict[str, float]:
        """One pass over ``split``, each batch through a subnet the controller samples."""
        model.train()
        criterion = nn.CrossEntropyLoss()
        seen, correct, loss_sum = 0, 0, 0.0
        for x, y in batches(
            split, env.data, self.batch_size, env.device, derive_seed(env.seed, epoch)
        ):
            model.set_arch(self.to_arch(controller.sample(rng)))
            logits = model(x)
            loss = criterion(logits, y)
            if not torch.isfinite(loss):
                raise CandidateError(
                    f"the supernet's loss became {loss.item()} in epoch {epoch + 1}"
                )
            w_opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
            w_opt.step()
            seen += len(y)
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
        return {
            "train_loss": loss_sum / max(1, seen),
            "train_accuracy": 100.0 * correct / max(1, seen),
        }

    def _train_controller(
        self,
        model: Supernet,
        controller: LSTMController,
        baseline: RewardBaseline,
        rng: np.random.Generator,
        split: Split,
        env: SearchEnv,
        epoch: int,
    ) -> tuple[float, float, list[list[int]]]:
        """REINFORCE steps rewarded by accuracy on one held-out batch each; (mean reward, entropy, samples)."""
        held_out = cycle(
            split, env.data, self.batch_size, env.device, derive_seed(env.seed, epoch, 1)
        )
        rewards, entropies, samples = [], [], []
        for _ in range(self.controller_steps):
            picks, entropy = controller.sample_with_entropy(rng)
            x, y = next(held_out)
            model.set_arch(self.to_arch(picks))
            with batch_statistics(model):
                reward = (model(x).argmax(1) == y).float().mean().item()
            controller.learn(picks, reward - baseline.update(reward))
            rewards.append(reward)
            entropies.append(entropy)
            samples.append(picks)
        return float(np.mean(rewards)), float(np.mean(entropies)), samples

    def _frequencies(self, epoch: int, samples: list[list[int]]) -> list[dict[str, Any]]:
        weights = {}
        for d, (name, choices) in enumerate(self.choices.items()):
            counts = Counter(picks[d] for picks in samples)
            weights[name] = {
                str(c): counts[i] / max(1, len(samples)) for i, c in enumerate(choices)
            }
        return weight_rows(epoch, weights)

    def _derive(
        self, model: Supernet, controller: LSTMController, env: SearchEnv, split: Split
    ) -> Arch:
        """The best of ``derive_samples`` controller samples on one held-out batch (the first on ties)."""
        rng = np.random.default_rng(derive_seed(env.seed, self.epochs, 4))
        x, y = next(
            batches(
                split,
                env.data,
                env.eval_batch_size,
                env.device,
                derive_seed(env.seed, self.epochs, 5),
            )
        )
        best, best_acc = None, -1.0
        for _ in range(self.derive_samples):
            arch = self.to_arch(controller.sample(rng))
            model.set_arch(arch)
            with batch_statistics(model):
                acc = (model(x).argmax(1) == y).float().mean().item()
            if acc > best_acc:
                best, best_acc = arch, acc
        assert best is not None
        return best

    def _accuracy(self, model: Supernet, arch: Arch, split: Split, env: SearchEnv) -> float:
        model.set_arch(arch)
        correct = 0
        for x, y in batches(split, env.data, env.eval_batch_size, env.device, 0):
            with batch_statistics(model):
                correct += (model(x).argmax(1) == y).sum().item()
        return correct / max(1, len(split))
