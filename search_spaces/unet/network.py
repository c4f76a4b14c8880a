"""The U-Net network: encoder stages (plain convolutions, NAS-Bench-201 cells or MBConv blocks),
max-pooling between them, a decoder that upsamples, fuses the encoder's skip and convolves, and a
1x1 head giving one logit per class and pixel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.mbconv.blocks import MBConv
from search_spaces.mbconv.plan import BlockSpec
from search_spaces.nb201.network import InferCell


@dataclass(frozen=True)
class EncoderStage:
    """One encoder stage: its block kind (conv, nb201, mbconv), how many blocks, its width."""

    block: str
    depth: int
    width: int


@dataclass(frozen=True)
class DecoderStage:
    """One decoder stage: upsampling (transposed, bilinear), skip fusion (concat, add), width."""

    up: str
    fuse: str
    width: int


def conv_unit(c_in: int, c_out: int, batch_norm: bool) -> nn.Sequential:
    """3x3 convolution (padded), BatchNorm when asked (then the convolution has no bias), ReLU."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.ReLU(inplace=False))
    return nn.Sequential(*layers)


def encoder_stage(
    stage: EncoderStage,
    c_in: int,
    cell: Sequence[str],
    batch_norm: bool,
    mbconv_expand: int,
) -> nn.Sequential:
    """The blocks of one stage, from ``c_in`` to ``stage.width`` channels at the same resolution.

    ``conv``: ``depth`` conv units (two is the classic U-Net's double convolution); ``nb201``: a conv
    unit to the stage's width, then ``depth`` NAS-Bench-201 cells of ops ``cell``; ``mbconv``:
    ``depth`` MBConv blocks (3x3 depthwise, expansion ``mbconv_expand``, the first changes width).
    """
    w = stage.width
    if stage.block == "conv":
        return nn.Sequential(
            *(conv_unit(c_in if i == 0 else w, w, batch_norm) for i in range(stage.depth))
        )
    if stage.block == "nb201":
        cells = [InferCell(cell, w) for _ in range(stage.depth)]
        return nn.Sequential(conv_unit(c_in, w, batch_norm), *cells)
    if stage.block == "mbconv":
        specs = [
            BlockSpec(c_in if i == 0 else w, w, 3, 1, mbconv_expand, False, 0.0)
            for i in range(stage.depth)
        ]
        return nn.Sequential(*(MBConv(spec, 0.25, 0.1) for spec in specs))
    raise ValueError(f"unknown U-Net block {stage.block!r}")


class DecoderBlock(nn.Module):
    """Upsample the deeper features, fuse them with the encoder's skip, two conv units."""

    def __init__(self, stage: DecoderStage, c_deep: int, c_skip: int, batch_norm: bool) -> None:
        super().__init__()
        w = stage.width
        self.fuse = stage.fuse
        if stage.up == "transposed":
            self.up: nn.Module = nn.ConvTranspose2d(c_deep, w, 2, stride=2)
        elif stage.up == "bilinear":
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(c_deep, w, 1),
            )
        else:
            raise ValueError(f"unknown U-Net upsampling {stage.up!r}")
        # addition needs the skip at the decoder's width: a 1x1 projection when they differ
        self.project: nn.Module | None = (
            nn.Conv2d(c_skip, w, 1, bias=False) if stage.fuse == "add" and c_skip != w else None
        )
        fused = c_skip + w if stage.fuse == "concat" else w
        self.convs = nn.Sequential(conv_unit(fused, w, batch_norm), conv_unit(w, w, batch_norm))

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.up(deep)
        if up.shape[-2:] != skip.shape[-2:]:  # an odd side halved and doubled again
            up = F.interpolate(up, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        if self.fuse == "concat":
            fused = torch.cat([skip, up], dim=1)
        else:
            fused = up + (self.project(skip) if self.project is not None else skip)
        return self.convs(fused)


class UNet(nn.Module):
    """Encoder stages joined by 2x2 max-pooling, decoder stages back up, 1x1 head:
    ``(N, in_channels, H, W)`` to ``(N, num_classes, H, W)`` logits."""

    def __init__(
        self,
        encoder: Sequence[EncoderStage],
        decoder: Sequence[DecoderStage],
        cell: Sequence[str] = ("nor_conv_3x3",) * 6,
        batch_norm: bool = True,
        mbconv_expand: int = 3,
        in_channels: int = 3,
        num_classes: int = 2,
    ) -> None:
        super().__init__()
        if len(decoder) != len(encoder) - 1:
            raise ValueError("a U-Net has one decoder stage per encoder stage but the deepest")
        stages, c = [], in_channels
        for stage in encoder:
            stages.append(encoder_stage(stage, c, cell, batch_norm, mbconv_expand))
            c = stage.width
        self.encoder = nn.ModuleList(stages)
        self.pool = nn.MaxPool2d(2)
        blocks = []
        for level in reversed(range(len(decoder))):  # deepest first
            blocks.append(DecoderBlock(decoder[level], c, encoder[level].width, batch_norm))
            c = decoder[level].width
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.Conv2d(c, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, stage in enumerate(self.encoder):
            if level > 0:
                x = self.pool(x)
            x = stage(x)
            skips.append(x)
        skips.pop()  # the deepest stage's output is the decoder's input, not a skip
        for block in self.decoder:
            x = block(x, skips.pop())
        return self.head(x)
