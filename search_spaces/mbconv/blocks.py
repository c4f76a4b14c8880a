"""The standalone EfficientNet network: stem, MBConv blocks, head (as the reference B0)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.mbconv.plan import BlockSpec, NetworkPlan

#: The reference's BatchNorm epsilon (its momentum, TensorFlow's 0.99, is a space option).
BN_EPS = 1e-3


def batch_norm(channels: int, momentum: float) -> nn.BatchNorm2d:
    """BatchNorm with the reference epsilon."""
    return nn.BatchNorm2d(channels, momentum=momentum, eps=BN_EPS)


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Drop whole residual branches per sample with probability ``rate`` (stochastic depth).

    Draws from torch's seeded default generator, as ``nn.Dropout`` does.
    """
    if not training or rate <= 0.0:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0], 1, 1, 1)).bernoulli_(keep)
    return x * mask / keep


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: pool, 1x1 reduce, swish, 1x1 expand, sigmoid gate."""

    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.expand = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(F.silu(self.reduce(s))))


class MBConv(nn.Module):
    """Mobile inverted bottleneck: 1x1 expansion, depthwise kxk, SE, 1x1 projection, skip."""

    def __init__(self, spec: BlockSpec, se_ratio: float, bn_momentum: float) -> None:
        super().__init__()
        self.spec = spec
        mid = spec.mid
        self.expand_conv: nn.Conv2d | None = (
            nn.Conv2d(spec.c_in, mid, 1, bias=False) if spec.expand != 1 else None
        )
        self.bn0: nn.BatchNorm2d | None = batch_norm(mid, bn_momentum) if spec.expand != 1 else None
        self.dw_conv = nn.Conv2d(
            mid, mid, spec.kernel, spec.stride, spec.kernel // 2, groups=mid, bias=False
        )
        self.bn1 = batch_norm(mid, bn_momentum)
        self.se: SqueezeExcite | None = (
            SqueezeExcite(mid, spec.squeezed(se_ratio)) if spec.se else None
        )
        self.project_conv = nn.Conv2d(mid, spec.c_out, 1, bias=False)
        self.bn2 = batch_norm(spec.c_out, bn_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.expand_conv is not None and self.bn0 is not None:
            h = F.silu(self.bn0(self.expand_conv(h)))
        h = F.silu(self.bn1(self.dw_conv(h)))
        if self.se is not None:
            h = self.se(h)
        h = self.bn2(self.project_conv(h))
        if self.spec.has_skip:
            h = drop_path(h, self.spec.drop_path, self.training) + x
        return h


class EfficientNet(nn.Module):
    """Stem (3x3 conv, BN, swish), stages of MBConv blocks, head (1x1 conv, BN, swish), classifier."""

    def __init__(self, plan: NetworkPlan, num_classes: int) -> None:
        super().__init__()
        self.resize_to = plan.resize_to
        self.stem = nn.Sequential(
            nn.Conv2d(plan.in_channels, plan.stem_channels, 3, plan.stem_stride, 1, bias=False),
            batch_norm(plan.stem_channels, plan.bn_momentum),
            nn.SiLU(),
        )
        self.blocks = nn.ModuleList(
            nn.ModuleList(MBConv(spec, plan.se_ratio, plan.bn_momentum) for spec in stage)
            for stage in plan.stages
        )
        c_last = plan.blocks[-1].c_out
        self.head = nn.Sequential(
            nn.Conv2d(c_last, plan.head_channels, 1, bias=False),
            batch_norm(plan.head_channels, plan.bn_momentum),
            nn.SiLU(),
        )
        self.dropout = nn.Dropout(plan.dropout)
        self.classifier = nn.Linear(plan.head_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resize_to is not None:
            x = F.interpolate(x, size=self.resize_to, mode="bilinear", align_corners=False)
        x = self.stem(x)
        for stage in self.blocks:
            for block in stage.children():
                x = block(x)
        x = self.head(x).mean((2, 3))
        return self.classifier(self.dropout(x))
