"""Zero-cost proxies: score an untrained network from one or a few forward/backward passes.

Each proxy is a function ``proxy(model, x, y) -> float`` (higher is better) registered in
:data:`PROXIES`; add your own with ``@register_proxy("name", needs_data=...)``. ``x`` is one
normalised input batch and ``y`` its labels; proxies that need no data (synflow, params, flops)
read only ``x``'s shape. The implementations follow the reference code of Abdelfattah et al.
2021, "Zero-Cost Proxies for Lightweight NAS" (SamsungLabs/zero-cost-nas), and Mellor et al.
2021, "Neural Architecture Search without Training" (NASWOT): per-weight scores are summed over
the weights of convolutions and linear layers; the network is used in training mode (batch
statistics), as freshly built.

Example:
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2, bias=False))
    >>> score("params", net, torch.zeros(1, 3), torch.zeros(1, dtype=torch.long))
    6.0
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from nas.costs.measure import count_flops, count_params
from nas.errors import NasError, did_you_mean

ProxyFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], float]


@dataclass(frozen=True)
class Proxy:
    """A registered proxy: its function and whether it needs real inputs and labels."""

    fn: ProxyFn
    needs_data: bool


#: Proxy name -> :class:`Proxy`.
PROXIES: dict[str, Proxy] = {}


def register_proxy(name: str, *, needs_data: bool) -> Callable[[ProxyFn], ProxyFn]:
    """Decorator that registers ``fn(model, x, y) -> float`` as proxy ``name``."""

    def decorate(fn: ProxyFn) -> ProxyFn:
        PROXIES[name] = Proxy(fn, needs_data)
        return fn

    return decorate


def get_proxy(name: str) -> Proxy:
    """The proxy registered as ``name``, or a clear error listing the known ones."""
    if name not in PROXIES:
        known = sorted(PROXIES)
        raise NasError(
            f"unknown zero-cost proxy {name!r}{did_you_mean(name, known)}; "
            f"choose one of: {', '.join(known)}"
        )
    return PROXIES[name]


def score(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Proxy ``name`` of ``model`` on the batch ``(x, y)``; the model's weights are left as they were."""
    return float(get_proxy(name).fn(model, x, y))


def weighted_layers(model: nn.Module) -> list[nn.Module]:
    """The convolutions and linear layers whose weights the per-weight proxies sum over."""
    return [
        m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))
    ]


def without_batchnorm(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every batch-norm layer replaced by the identity."""
    clone = copy.deepcopy(model)
    for parent in list(clone.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, name, nn.Identity())
    return clone


def _grads_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> nn.Module:
    """A copy of ``model`` in training mode holding the gradients of the cross-entropy on (x, y)."""
    net = copy.deepcopy(model).train()
    net.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    return net


@contextlib.contextmanager
def batchnorm_removed(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` with its batch-norm layers swapped for the identity inside the block (restored after)."""
    swapped = []
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                swapped.append((parent, name, child))
                setattr(parent, name, nn.Identity())
    try:
        yield model
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)


@register_proxy("synflow", needs_data=False)
def synflow(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Synaptic flow (Tanaka et al. 2020): sum of |θ ⊙ ∂R/∂θ| with R the summed output of the network
    without batch norm, in float64 on |θ|, for an all-ones input of ``x``'s shape (batch of one)."""
    # functional_call on float64 copies of the tensors: no deep copy of the modules (the slow part)
    with batchnorm_removed(model) as net:
        params = {
            n: p.detach().double().abs().requires_grad_(True) for n, p in net.named_parameters()
        }
        buffers = {n: b.double() if b.is_floating_point() else b for n, b in net.named_buffers()}
        ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)
        out = torch.func.functional_call(net, {**params, **buffers}, (ones,))
        layers = set(weighted_layers(net))
        names = [
            f"{prefix}.weight" if prefix else "weight"
            for prefix, m in net.named_modules()
            if m in layers
        ]
    wanted = [params[n] for n in names]
    grads = torch.autograd.grad(out.sum(), wanted, allow_unused=True)
    return float(
        sum(
            (w * g).abs().sum().detach()
            for w, g in zip(wanted, grads, strict=False)
            if g is not None
        )
    )


@register_proxy("grad_norm", needs_data=True)
def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum over layers of the Euclidean norm of the cross-entropy gradient of the layer's weight."""
    net = _grads_of(model, x, y)
    return float(sum(grad.norm() for _, grad in _weights_and_grads(net)))


def _weights_and_grads(net: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, its gradient) of every weighted layer that has a gradient."""
    pairs = []
    for layer in weighted_layers(net):
        weight = layer.weight
        assert isinstance(weight, torch.Tensor)
        if weight.grad is not None:
            pairs.append((weight, weight.grad))
    return pairs


@register_proxy("snip", needs_data=True)
def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """SNIP saliency (Lee et al. 2019): sum of |θ ⊙ ∂L/∂θ| of the cross-entropy L on the batch."""
    net = _grads_of(model, x, y)
    return float(
        sum((weight * grad).abs().sum().detach() for weight, grad in _weights_and_grads(net))
    )


@register_proxy("naswot", needs_data=True)
def naswot(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """NASWOT (Mellor et al. 2021): log|K| of the kernel K_ij = number of ReLU units on which inputs i
    and j agree (both active or both inactive), over every ReLU's input."""
    net = copy.deepcopy(model).train()
    n = x.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        codes = (inputs[0].detach().reshape(n, -1) > 0).double()
        kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

    handles = [m.register_forward_pre_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else -math.inf


@register_proxy("jacob_cov", needs_data=True)
def jacob_cov(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Jacobian covariance (Mellor et al. 2020, v1): -Σ log(λ+k) + 1/(λ+k) over the eigenvalues λ of
    the correlation matrix of the per-input Jacobians of the summed output w.r.t. the input, k=1e-5."""
    net = copy.deepcopy(model).train()
    inputs = x.detach().clone().requires_grad_(True)
    net(inputs).sum().backward()
    assert inputs.grad is not None  # the backward pass reached the input
    jacobians = inputs.grad.reshape(x.shape[0], -1).double()
    corr = torch.corrcoef(jacobians)
    if not torch.isfinite(corr).all():
        return -math.inf
    eig = torch.linalg.eigvalsh(corr)
    k = 1e-5
    return float(-(torch.log(eig + k) + 1.0 / (eig + k)).sum())


@register_proxy("params", needs_data=False)
def params(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Number of parameters (the baseline every proxy should beat)."""
    return float(count_params(model))


@register_proxy("flops", needs_data=False)
def flops(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Multiply-accumulates of one forward pass on one input (the other baseline)."""
    return float(count_flops(model, tuple(x.shape[1:])))
