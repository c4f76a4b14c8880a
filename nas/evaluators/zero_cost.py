"""Zero-cost evaluator: score each candidate, untrained, with a proxy (nas.evaluators.proxies)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from nas.arch import Choice
from nas.costs.measure import cost_metrics
from nas.data import DataSplits, iterate_batches
from nas.errors import NasError
from nas.evaluators.base import Budget, EvalContext, Evaluator, candidate_seed
from nas.evaluators.proxies import get_proxy, score
from nas.space import SearchSpace
from nas.training.loop import EpochReport, seeded


def proxy_batch(
    data: DataSplits, batch_size: int, seed: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """A normalised batch of ``batch_size`` training examples drawn with ``seed`` (the same for every candidate)."""
    generator = torch.Generator().manual_seed(seed)
    return next(
        iterate_batches(
            data.train, batch_size, mean=data.mean, std=data.std, device=device, generator=generator
        )
    )


class ProxyScorer:
    """Scores architectures of a space with one proxy: builds each network from a per-architecture
    seed and applies the proxy to one fixed batch (or, for data-free proxies, to the input shape)."""

    def __init__(
        self,
        proxy: str,
        *,
        seed: int,
        device: torch.device,
        data: DataSplits | None = None,
        batch_size: int = 64,
        num_classes: int | None = None,
        input_shape: Sequence[int] | None = None,
    ) -> None:
        self.proxy = proxy
        self.seed = seed
        self.device = device
        if get_proxy(proxy).needs_data and data is None:
            raise NasError(
                f"zero-cost proxy {proxy!r} needs a batch of data: add a 'dataset:' section to "
                "the config, or choose a data-free proxy (synflow, params, flops)"
            )
        if data is not None:
            self.num_classes, self.input_shape = data.num_classes, data.input_shape
            self.x, self.y = proxy_batch(data, batch_size, seed, device)
        else:
            if num_classes is None or input_shape is None:
                raise NasError(
                    f"zero-cost proxy {proxy!r} without a data set needs the options "
                    "num_classes and input_shape (e.g. 10 and [3, 32, 32])"
                )
            c, h, w = input_shape
            self.num_classes, self.input_shape = num_classes, (c, h, w)
            self.x = torch.zeros(1, *self.input_shape, device=device)
            self.y = torch.zeros(1, dtype=torch.long, device=device)

    def build(self, arch: Mapping[str, Choice], space: SearchSpace) -> torch.nn.Module:
        """The untrained network of ``arch``, initialised from a seed of (run seed, arch)."""
        with seeded(candidate_seed(self.seed, arch), self.device):
            model = space.build(arch, num_classes=self.num_classes, input_shape=self.input_shape)
        return model.to(self.device)

    def __call__(self, arch: Mapping[str, Choice], space: SearchSpace) -> float:
        """The proxy score of ``arch`` (higher is better)."""
        return score(self.proxy, self.build(arch, space), self.x, self.y)


class ZeroCost(Evaluator):
    """Score each candidate untrained with a zero-cost proxy (one batch, one forward/backward pass).

    ``proxy`` is one of nas.evaluators.proxies.PROXIES (synflow, naswot, jacob_cov, grad_norm, snip, params,
    flops); the metric of that name is the score (maximize it). Data-free proxies (synflow, params,
    flops) run without a data set when ``num_classes`` and ``input_shape`` are given.
    """

    def __init__(
        self,
        context: EvalContext,
        *,
        proxy: str = "synflow",
        batch_size: int = 64,
        num_classes: int | None = None,
        input_shape: list[int] | None = None,
    ) -> None:
        get_proxy(proxy)
        if batch_size < 2:
            raise NasError(
                f"config key 'evaluator.batch_size' must be at least 2, got {batch_size}"
            )
        if input_shape is not None and len(input_shape) != 3:
            raise NasError(
                f"config key 'evaluator.input_shape' must be [channels, height, width], got {input_shape}"
            )
        self.context = context
        self.proxy = proxy
        self.batch_size = batch_size
        self.num_classes = num_classes
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self._scorer: ProxyScorer | None = None

    @property
    def scorer(self) -> ProxyScorer:
        """The proxy scorer (the data set, if any, is loaded on first use)."""
        if self._scorer is None:
            ctx = self.context
            use_data = ctx.dataset is not None and (
                get_proxy(self.proxy).needs_data or self.num_classes is None
            )
            self._scorer = ProxyScorer(
                self.proxy,
                seed=ctx.seed,
                device=ctx.device,
                data=ctx.data if use_data else None,
                batch_size=self.batch_size,
                num_classes=self.num_classes,
                input_shape=self.input_shape,
            )
        return self._scorer

    def evaluate(
        self,
        arch: Mapping[str, Choice],
        space: SearchSpace,
        budget: Budget | None = None,
        report: EpochReport | None = None,
    ) -> dict[str, Any]:
        """The proxy score (metric named after the proxy), the network's costs and the seconds it took."""
        scorer = self.scorer
        start = time.perf_counter()
        model = scorer.build(arch, space)
        value = score(self.proxy, model, scorer.x, scorer.y)
        seconds = time.perf_counter() - start
        return {
            self.proxy: value,
            **cost_metrics(model, scorer.input_shape, self.context.costs, arch=arch, space=space),
            "proxy_seconds": seconds,
        }
