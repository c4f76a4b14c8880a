"""Grad-CAM: the heat map of a tiny network against one computed by hand, the default layer of
every registered space's networks, explicit layers and classes, and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nas
from nas import NasError
from nas.registry import SPACES
from tests.search_spaces.conftest import DEFAULT_INPUT_SHAPE, INPUT_SHAPES, SMALL_OPTIONS


def tiny_network() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(3, 4),
    )


def test_heat_map_matches_the_one_computed_by_hand() -> None:
    model = tiny_network()
    images = torch.randn(3, 2, 6, 6, generator=torch.Generator().manual_seed(1))
    cam = nas.gradcam(model, images)

    # by hand: A = relu(conv(x)); after global average pooling and a linear layer,
    # d y_c / d A_k(i, j) = W[c, k] / (H * W), so channel k's weight is W[c, k] / 36
    conv, linear = model[0], model[4]
    with torch.no_grad():
        a = F.relu(F.conv2d(images, conv.weight, conv.bias, padding=1))
        logits = a.mean(dim=(2, 3)) @ linear.weight.T + linear.bias
        predicted = logits.argmax(dim=1)
        alpha = linear.weight[predicted] / 36.0  # (N, K)
        expected = F.relu((alpha[:, :, None, None] * a).sum(dim=1))
    assert cam.layer == "1"  # the ReLU: the last (N, C, H, W) map with H * W > 1
    assert torch.equal(cam.classes, predicted)
    torch.testing.assert_close(cam.raw, expected)
    # same resolution as the input: the upsampled map is the raw one, scaled to a maximum of 1
    peak = expected.amax(dim=(1, 2), keepdim=True)
    torch.testing.assert_close(cam.heatmaps, expected / peak)
    torch.testing.assert_close(cam.probabilities, logits.softmax(dim=1))


def test_explicit_layer_and_classes() -> None:
    model = tiny_network()
    images = torch.randn(2, 2, 6, 6, generator=torch.Generator().manual_seed(2))
    by_name = nas.gradcam(model, images, "0", classes=[3, 1])
    by_module = nas.gradcam(model, images, model[0], classes=torch.tensor([3, 1]))
    assert by_name.layer == by_module.layer == "0"
    assert by_name.classes.tolist() == [3, 1]
    torch.testing.assert_close(by_name.raw, by_module.raw)
    # the conv's output before the ReLU: weights W[c, k] / 36 still, but the map is of conv(x)
    conv, linear = model[0], model[4]
    with torch.no_grad():
        z = F.conv2d(images, conv.weight, conv.bias, padding=1)
        a = F.relu(z)
        mask = (a > 0).float()  # the ReLU passes gradients only where it is positive
        grads = linear.weight[[3, 1]][:, :, None, None] / 36.0 * mask
        expected = F.relu((grads.mean(dim=(2, 3), keepdim=True) * z).sum(dim=1))
    torch.testing.assert_close(by_name.raw, expected)
    one_class = nas.gradcam(model, images, classes=2)
    assert one_class.classes.tolist() == [2, 2]


def test_model_mode_and_gradients_are_left_alone() -> None:
    model = tiny_network().train()
    images = torch.randn(2, 2, 6, 6)
    with torch.no_grad():  # works under no_grad too
        nas.gradcam(model, images)
    assert model.training
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("name", sorted(SPACES.names()))
def test_default_layer_on_every_registered_space(name: str) -> None:
    space = nas.create_space(name, **SMALL_OPTIONS.get(name, {}))
    shape = INPUT_SHAPES.get(name, DEFAULT_INPUT_SHAPE)
    torch.manual_seed(0)
    model = space.build(space.sample(np.random.default_rng(0)), num_classes=5, input_shape=shape)
    images = torch.randn(3, *shape, generator=torch.Generator().manual_seed(0))
    if space.task != "classification":  # Grad-CAM explains class scores: refused in one line
        with pytest.raises(nas.NasError, match=r"gradcam needs \(N, classes\) logits, got"):
            nas.gradcam(model, images)
        return
    cam = nas.gradcam(model, images)
    assert cam.heatmaps.shape == (3, *shape[1:])
    assert cam.heatmaps.min() >= 0 and cam.heatmaps.max() <= 1
    assert cam.probabilities.shape == (3, 5)
    # the chosen map is the last one before global pooling: nothing after it keeps a spatial size
    features: dict[str, tuple[int, ...]] = {}
    hooks = [
        m.register_forward_hook(lambda m, i, o, n=n: features.__setitem__(n, tuple(o.shape)))
        for n, m in model.named_modules()
        if n
    ]
    model.eval()
    with torch.no_grad():
        model(images)
    for hook in hooks:
        hook.remove()
    assert features[cam.layer][0] == 3 and len(features[cam.layer]) == 4
    assert features[cam.layer][2] * features[cam.layer][3] > 1


@pytest.mark.parametrize(
    ("name", "layer"),
    [
        ("nb201", "lastact"),
        ("darts", "cells.2"),  # 3 cells: the last one
        ("mbconv", "head"),
    ],
)
def test_the_shipped_spaces_use_their_last_stage(name: str, layer: str) -> None:
    space = nas.create_space(name, **SMALL_OPTIONS[name])
    shape = INPUT_SHAPES.get(name, DEFAULT_INPUT_SHAPE)
    model = space.build(space.sample(np.random.default_rng(1)), num_classes=3, input_shape=shape)
    assert nas.gradcam(model, torch.randn(2, *shape)).layer == layer


def test_bad_arguments_are_one_clear_error() -> None:
    model = tiny_network()
    images = torch.randn(2, 2, 6, 6)
    with pytest.raises(NasError, match="no module 'relu'"):
        nas.gradcam(model, images, "relu")
    with pytest.raises(NasError, match="not a module of the model"):
        nas.gradcam(model, images, nn.ReLU())
    with pytest.raises(NasError, match="gave no \\(N, C, H, W\\) feature map"):
        nas.gradcam(model, images, "4")
    with pytest.raises(NasError, match="each in 0..3"):
        nas.gradcam(model, images, classes=[0, 4])
    with pytest.raises(NasError, match="shape \\(N, C, H, W\\)"):
        nas.gradcam(model, images[0])
    flat = nn.Sequential(nn.Flatten(), nn.Linear(72, 4))
    with pytest.raises(NasError, match="convolutional network"):
        nas.gradcam(flat, images)
