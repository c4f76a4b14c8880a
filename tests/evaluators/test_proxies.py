"""Each zero-cost proxy against a formula worked out independently on a tiny network."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nas import NasError
from nas.evaluators.proxies import PROXIES, get_proxy, register_proxy, score, without_batchnorm


def two_layer(bn: bool = False) -> nn.Sequential:
    """x -> W1 x -> [BN] -> ReLU -> W2 h (no biases), with fixed mixed-sign weights."""
    torch.manual_seed(0)
    layers = (
        [nn.Linear(4, 3, bias=False)]
        + ([nn.BatchNorm1d(3)] if bn else [])
        + [nn.ReLU(), nn.Linear(3, 2, bias=False)]
    )
    return nn.Sequential(*layers)


def batch(n: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 4, generator=g), torch.randint(0, 2, (n,), generator=g)


def weights(net: nn.Module) -> list[np.ndarray]:
    return [m.weight.detach().double().numpy() for m in net if isinstance(m, nn.Linear)]


def test_synflow_is_layers_times_the_output_of_the_absolute_network() -> None:
    # With |W| and an all-ones input every ReLU passes everything, so R = 1ᵀ|W2||W1|1, and
    # Σ_l Σ |W_l ⊙ ∂R/∂W_l| = 2R (R is homogeneous of degree one in each layer). BN is dropped.
    net = two_layer(bn=True)
    before = [w.copy() for w in weights(net)]
    w1, w2 = (np.abs(w) for w in weights(net))
    expected = 2 * (np.ones(2) @ w2 @ w1 @ np.ones(4))
    x, y = batch()
    assert score("synflow", net, x, y) == pytest.approx(expected, rel=1e-12)
    assert all(
        np.array_equal(a, b) for a, b in zip(before, weights(net), strict=False)
    )  # the model is untouched


def test_synflow_of_a_conv_net_and_of_a_disconnected_one() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(3, 3, 1, bias=False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(3, 2, bias=False),
    )
    absolute = [m.weight.detach().double().abs() for m in net if hasattr(m, "weight")]
    # independent forward pass of the absolute network on ones, by plain tensor algebra
    h = nn.functional.conv2d(torch.ones(1, 2, 5, 5, dtype=torch.float64), absolute[0], padding=1)
    h = nn.functional.conv2d(h, absolute[1]).mean(dim=(2, 3))
    expected = 3 * float((h @ absolute[2].T).sum())
    assert score(
        "synflow", net, torch.zeros(7, 2, 5, 5), torch.zeros(7, dtype=torch.long)
    ) == pytest.approx(expected)
    dead = nn.Sequential(nn.Linear(4, 3, bias=False), nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        dead[0].weight.zero_()
    assert score("synflow", dead, *batch()) == 0.0


def _grads(net: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """dL/dW1, dL/dW2 of the mean cross-entropy of W2 relu(W1 x), by hand."""
    w1, w2 = weights(net)
    xs, n = x.double().numpy(), len(y)
    pre = xs @ w1.T
    h = np.maximum(pre, 0)
    logits = h @ w2.T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = (p - np.eye(2)[y.numpy()]) / n  # dL/dlogits
    dh = (g @ w2) * (pre > 0)
    return dh.T @ xs, g.T @ h


def test_grad_norm_and_snip_match_the_hand_derived_gradients() -> None:
    net = two_layer()
    x, y = batch()
    d1, d2 = _grads(net, x, y)
    w1, w2 = weights(net)
    assert score("grad_norm", net, x, y) == pytest.approx(
        np.linalg.norm(d1) + np.linalg.norm(d2), rel=1e-5
    )
    assert score("snip", net, x, y) == pytest.approx(
        np.abs(w1 * d1).sum() + np.abs(w2 * d2).sum(), rel=1e-5
    )
    assert net[0].weight.grad is None  # gradients live on a copy


def test_naswot_is_the_log_determinant_of_the_hamming_kernel() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 16, bias=False), nn.ReLU(), nn.Linear(16, 2))
    x, y = batch(4)
    codes = (x.double().numpy() @ weights(net)[0].T > 0).astype(int)
    units = codes.shape[1]
    hamming = (codes[:, None, :] != codes[None, :, :]).sum(-1)
    kernel = units - hamming
    sign, logdet = np.linalg.slogdet(kernel)
    assert sign > 0  # four distinct activation patterns
    assert score("naswot", net, x, y) == pytest.approx(logdet)
    # identical inputs give a singular kernel: the worst possible score
    assert score("naswot", net, x[:1].repeat(3, 1), y[:3]) == -math.inf


def test_naswot_on_a_two_unit_network_by_hand() -> None:
    net = nn.Sequential(nn.Linear(1, 2, bias=False), nn.ReLU())
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0], [-1.0]]))
    x = torch.tensor([[1.0], [-1.0]])  # codes (1, 0) and (0, 1): K = [[2, 0], [0, 2]]
    assert score("naswot", net, x, torch.zeros(2, dtype=torch.long)) == pytest.approx(math.log(4))


def test_jacob_cov_of_a_linear_network_has_perfectly_correlated_jacobians() -> None:
    # d(sum f)/dx = 1ᵀW for every input: the correlation matrix is all ones, eigenvalues N, 0, ..., 0
    net = nn.Sequential(nn.Linear(4, 2, bias=False))
    x, y = batch(5)
    k = 1e-5
    expected = -(math.log(5 + k) + 1 / (5 + k) + 4 * (math.log(k) + 1 / k))
    assert score("jacob_cov", net, x, y) == pytest.approx(expected, rel=1e-6)
    assert score("jacob_cov", two_layer(), x, y) > expected  # a ReLU decorrelates the Jacobians


def test_params_and_flops_baselines() -> None:
    net = two_layer(bn=True)
    x, y = batch()
    assert score("params", net, x, y) == 4 * 3 + 3 * 2 + 2 * 3  # BN's weight and bias count
    assert score("flops", net, x, y) == 4 * 3 + 3 * 2


def test_without_batchnorm_keeps_the_other_layers_and_weights() -> None:
    net = two_layer(bn=True)
    clone = without_batchnorm(net)
    assert isinstance(clone[1], nn.Identity) and isinstance(net[1], nn.BatchNorm1d)
    assert torch.equal(clone[0].weight, net[0].weight)


def test_unknown_proxy_and_custom_proxies() -> None:
    with pytest.raises(NasError, match="unknown zero-cost proxy 'synflo'.*did you mean 'synflow'"):
        get_proxy("synflo")
    register_proxy("depth", needs_data=False)(
        lambda model, x, y: float(len(list(model.children())))
    )
    try:
        assert score("depth", two_layer(), *batch()) == 3.0
        assert not PROXIES["depth"].needs_data
    finally:
        PROXIES.pop("depth")
