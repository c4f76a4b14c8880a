"""The MBConv supernet: one set of weights, any architecture, same function as the standalone net."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas import create_space
from nas.supernet import HasSupernet, Supernet

OPTIONS = {
    "width_coefficient": 0.25,
    "layers": (1, 2),
    "width_multipliers": (0.5, 1.0),
    "expand_ratios": (1, 3, 6),
}


def _randomise(net: torch.nn.Module, seed: int) -> None:
    """Give every weight and BatchNorm statistic distinct values, so that a wrong slice shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in [*net.named_parameters(), *net.named_buffers()]:
            if name.endswith("num_batches_tracked"):
                continue
            noise = torch.rand(t.shape, generator=g)
            t.copy_(noise + 0.5 if name.endswith("running_var") else (noise - 0.5) * 0.5)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32)])
def test_supernet_restricted_to_an_arch_equals_the_standalone_network(shape) -> None:
    space = create_space("mbconv", **OPTIONS)
    assert isinstance(space, HasSupernet)
    supernet = space.supernet(num_classes=5, input_shape=shape)
    assert isinstance(supernet, Supernet)
    _randomise(supernet, 0)
    supernet.eval()
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(1))
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(3 if shape[1] == 8 else 1)]
    archs.append(supernet.largest)
    for arch in archs:
        supernet.set_arch(arch)
        model = space.build(arch, num_classes=5, input_shape=shape)
        model.load_state_dict(supernet.subnet_state_dict(arch), strict=True)
        model.eval()
        with torch.no_grad():
            torch.testing.assert_close(supernet(x), model(x), rtol=1e-5, atol=1e-5)


def test_smaller_choices_are_slices_of_the_shared_weights() -> None:
    space = create_space("mbconv", **OPTIONS)
    supernet = space.supernet(num_classes=5, input_shape=(1, 8, 8))
    arch = {**supernet.largest, "s3_kernel": 3, "s3_expand": 3, "s3_layers": 1}
    state = supernet.subnet_state_dict(arch)
    big = supernet.net.blocks[2][0]
    c_in = state["blocks.2.0.expand_conv.weight"].shape[1]
    assert torch.equal(
        state["blocks.2.0.expand_conv.weight"], big.expand_conv.weight[: 3 * c_in, :c_in]
    )
    assert torch.equal(
        state["blocks.2.0.dw_conv.weight"], big.dw_conv.weight[: 3 * c_in, :, 2:5, 2:5]
    )
    assert not any(k.startswith("blocks.2.1.") for k in state)  # the trailing layer is skipped
    no_expand = supernet.subnet_state_dict({**arch, "s3_expand": 1, "s3_se": False})
    assert "blocks.2.0.expand_conv.weight" not in no_expand
    assert not any(k.startswith("blocks.2.0.se.") for k in no_expand)


def test_training_a_path_updates_only_its_shared_slices() -> None:
    space = create_space("mbconv", **OPTIONS)
    supernet = space.supernet(num_classes=5, input_shape=(1, 8, 8))
    arch = {**supernet.largest, "s3_kernel": 3, "s3_expand": 1, "s3_layers": 1}
    supernet.set_arch(arch)
    supernet.train()
    block = supernet.net.blocks[2][0]
    before = block.bn1.running_mean.clone()
    supernet(torch.randn(4, 1, 8, 8)).sum().backward()
    c_in = block.expand_conv.weight.shape[
        1
    ]  # expand 1: the depthwise conv runs on the input channels
    grad = block.dw_conv.weight.grad
    assert grad[:c_in, :, 2:5, 2:5].abs().sum() > 0
    assert grad[c_in:].abs().sum() == 0 and grad[:, :, 0].abs().sum() == 0
    assert block.expand_conv.weight.grad is None or block.expand_conv.weight.grad.abs().sum() == 0
    assert supernet.net.blocks[2][1].project_conv.weight.grad is None
    moved = block.bn1.running_mean != before
    assert moved[:c_in].all() and not moved[c_in:].any()
