"""Grad-CAM (Selvaraju et al., 2017): where in an image a network looks for the class it predicts.

For a feature map A (channels k, positions i, j) and a class score y_c, each channel's weight is
the spatial mean of dy_c/dA_k; the map is ReLU(sum_k weight_k * A_k), upsampled to the image.
By default A is the last feature map before global pooling: the output of the last module, in
the order the forward pass runs them, that is an (N, C, H, W) tensor with H * W > 1 (NB-201's
``lastact``, the DARTS network's last cell, MBConv's ``head``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import NasError, did_you_mean


@dataclass(frozen=True)
class GradCam:
    """Grad-CAM maps of a batch of images and what they explain."""

    #: (N, H, W) maps at the images' resolution, each scaled so that its maximum is 1 (0 where
    #: nothing in the image speaks for the class).
    heatmaps: torch.Tensor
    #: (N, h, w) the unscaled maps at the feature map's resolution.
    raw: torch.Tensor
    #: (N,) the class each map explains (the predicted one unless given).
    classes: torch.Tensor
    #: (N, num_classes) softmax of the network's output.
    probabilities: torch.Tensor
    #: The name of the module whose output the maps come from.
    layer: str


def gradcam(
    model: nn.Module,
    images: torch.Tensor,
    target_layer: str | nn.Module | None = None,
    *,
    classes: int | Sequence[int] | torch.Tensor | None = None,
) -> GradCam:
    """Grad-CAM heat maps of ``images`` (N, C, H, W, normalised as the network was trained) for
    the predicted class (or ``classes``), from ``target_layer`` (a module or its name in
    ``model.named_modules()``; default: the last feature map before global pooling).

    The network runs in eval mode (its mode is restored after); its parameters get no gradients.

    Example:
        >>> cam = nas.gradcam(model, images)        # doctest: +SKIP
        >>> cam.heatmaps.shape, cam.layer           # doctest: +SKIP
        (torch.Size([8, 32, 32]), 'lastact')
    """
    if images.ndim != 4:
        raise NasError(f"gradcam needs images of shape (N, C, H, W), got {tuple(images.shape)}")
    names = {module: name for name, module in model.named_modules()}
    wanted = _target(model, target_layer)
    seen: dict[str, torch.Tensor] = {}

    def keep(module: nn.Module, _inputs: object, output: object) -> None:
        if isinstance(output, torch.Tensor) and output.ndim == 4:
            name = names[module]
            seen.pop(name, None)  # re-insert: dict order is the order outputs were last made
            seen[name] = output

    hooks = [m.register_forward_hook(keep) for m in names if wanted is None or m is wanted]
    was_training = model.training
    device = next((p.device for p in model.parameters()), images.device)
    try:
        model.eval()
        with torch.enable_grad():
            x = images.detach().to(device, torch.float32).requires_grad_(True)
            logits = model(x)
            layer, features = _chosen(seen, wanted, names)
            if logits.ndim != 2:
                raise NasError(f"gradcam needs (N, classes) logits, got {tuple(logits.shape)}")
            target = _classes(classes, logits)
            score = logits.gather(1, target[:, None]).sum()
            (grads,) = torch.autograd.grad(score, features)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    raw, heat = maps(features.detach(), grads, (images.shape[2], images.shape[3]))
    probs = logits.detach().softmax(dim=1)
    return GradCam(heat.cpu(), raw.cpu(), target.cpu(), probs.cpu(), layer)


def maps(
    features: torch.Tensor, grads: torch.Tensor, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(raw maps at the features' resolution, maps upsampled to ``size`` and scaled to max 1)."""
    weights = grads.mean(dim=(2, 3), keepdim=True)  # one weight per channel: the mean gradient
    raw = F.relu((weights * features).sum(dim=1))
    up = F.interpolate(raw[:, None], size=size, mode="bilinear", align_corners=False)
    peak = up.amax(dim=(2, 3), keepdim=True)
    heat = torch.where(peak > 0, up / peak.clamp_min(1e-12), torch.zeros_like(up))[:, 0]
    return raw, heat


def _target(model: nn.Module, target_layer: str | nn.Module | None) -> nn.Module | None:
    if target_layer is None or isinstance(target_layer, nn.Module):
        if isinstance(target_layer, nn.Module) and not any(
            m is target_layer for m in model.modules()
        ):
            raise NasError(
                "gradcam's target_layer is not a module of the model; pass one of its modules or its name"
            )
        return target_layer
    modules = dict(model.named_modules())
    if target_layer not in modules:
        raise NasError(
            f"the model has no module {target_layer!r}{did_you_mean(target_layer, modules)}; "
            "pass a name from model.named_modules()"
        )
    return modules[target_layer]


def _chosen(
    seen: dict[str, torch.Tensor], wanted: nn.Module | None, names: dict[nn.Module, str]
) -> tuple[str, torch.Tensor]:
    if wanted is not None:
        name = names[wanted]
        if name not in seen:
            raise NasError(
                f"module {name!r} gave no (N, C, H, W) feature map in the forward pass; "
                "pick a convolutional layer as gradcam's target_layer"
            )
        return name, seen[name]
    spatial = [(n, t) for n, t in seen.items() if t.shape[2] * t.shape[3] > 1]
    if not spatial and not seen:
        raise NasError(
            "the model made no (N, C, H, W) feature map; gradcam needs a convolutional network"
        )
    return (spatial or list(seen.items()))[-1]


def _classes(
    classes: int | Sequence[int] | torch.Tensor | None, logits: torch.Tensor
) -> torch.Tensor:
    n, k = logits.shape
    if classes is None:
        return logits.detach().argmax(dim=1)
    target = torch.as_tensor(classes, dtype=torch.long, device=logits.device).reshape(-1)
    if target.numel() == 1:
        target = target.expand(n)
    if target.numel() != n or bool(((target < 0) | (target >= k)).any()):
        raise NasError(f"gradcam classes must be one class or one per image, each in 0..{k - 1}")
    return target.clone()
