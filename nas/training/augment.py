"""Data augmentation as tensor operations on whole batches (on the batch's device, seeded)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nas.config import AugmentConfig


def _beside(drawn: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Random draws of the CPU generator copied to ``x``'s device without waiting for it."""
    return drawn.to(x.device, non_blocking=True)


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Pad each image by ``padding`` zeros (the mean, after normalisation) and crop it back to its
    size at a random offset, per image."""
    if padding <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = _beside(torch.randint(0, 2 * padding + 1, (n,), generator=generator), x)
    dx = _beside(torch.randint(0, 2 * padding + 1, (n,), generator=generator), x)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (n, h, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (n, 1, w)
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = _beside(torch.rand(x.shape[0], generator=generator) < 0.5, x)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero a ``size`` x ``size`` square at a random centre of each image (clipped at the borders,
    as in DeVries & Taylor and the DARTS code)."""
    if size <= 0:
        return x
    n, _, h, w = x.shape
    cy = _beside(torch.randint(0, h, (n,), generator=generator), x)[:, None, None]
    cx = _beside(torch.randint(0, w, (n,), generator=generator), x)[:, None, None]
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    low, high = size // 2, size - size // 2
    inside = (ys >= cy - low) & (ys < cy + high) & (xs >= cx - low) & (xs < cx + high)
    return x * (~inside)[:, None].to(x.dtype)


def augment(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Apply the configured augmentations to a normalised batch: crop, flip, then cutout."""
    x = random_crop(x, cfg.crop_padding, generator)
    if cfg.flip:
        x = random_flip(x, generator)
    return cutout(x, cfg.cutout, generator)
