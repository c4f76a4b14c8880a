"""Single-path weight sharing over the unet space: one module per (stage, block, input width, width)
at the largest depth (a shallower stage runs its first blocks), one decoder block per choice and
neighbouring widths, NAS-Bench-201 super-cells for ``nb201`` stages (one module per edge and op)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import torch
from torch import nn

from nas.arch import Choice
from nas.space import validate_arch
from nas.supernet import Supernet
from search_spaces.nb201.network import EDGES
from search_spaces.nb201.ops import OPS
from search_spaces.nb201.supernet import SuperCell
from search_spaces.unet.network import (
    DecoderBlock,
    DecoderStage,
    EncoderStage,
    conv_unit,
    encoder_stage,
)


def _ints(values: Sequence[Choice]) -> list[int]:
    return [int(v) for v in values]


class UNetSupernet(Supernet):
    """Every choice's weights; ``forward`` follows the architecture last set with ``set_arch``.

    Built from plain values: the space's ``decisions`` (validated against as the space does), the
    cell (None: searched by the ``cell_*`` decisions) and the network options.
    """

    def __init__(
        self,
        *,
        decisions: Mapping[str, Sequence[Choice]],
        space_name: str,
        levels: int,
        cell: Sequence[str] | None,
        batch_norm: bool,
        mbconv_expand: int,
        in_channels: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.decisions = {k: tuple(v) for k, v in decisions.items()}
        self.space_name, self.levels, self.cell = space_name, levels, cell
        self.in_channels = in_channels
        self.encoder = nn.ModuleList()
        inputs = [in_channels]
        for i in range(levels):
            depth = max(_ints(self.decisions[f"enc{i}_depth"]))
            stages = nn.ModuleDict()
            for block in self.decisions[f"enc{i}_block"]:
                for c_in in inputs:
                    for w in _ints(self.decisions[f"enc{i}_width"]):
                        stages[f"{block}_{c_in}_{w}"] = self._stage(
                            str(block), c_in, w, depth, batch_norm, mbconv_expand
                        )
            self.encoder.append(stages)
            inputs = _ints(self.decisions[f"enc{i}_width"])
        self.pool = nn.MaxPool2d(2)
        self.decoder = nn.ModuleList()
        deeper = _ints(self.decisions[f"enc{levels - 1}_width"])
        for level in reversed(range(levels - 1)):
            blocks = nn.ModuleDict()
            for key, stage, c_deep, c_skip in self._decoder_choices(level, deeper):
                blocks[key] = DecoderBlock(stage, c_deep, c_skip, batch_norm)
            self.decoder.append(blocks)
            deeper = _ints(self.decisions[f"dec{level}_width"])
        self.head = nn.ModuleDict({str(w): nn.Conv2d(w, num_classes, 1) for w in deeper})
        self._path: list[tuple[str, int]] = []
        self._decoder_path: list[str] = []
        self._head = ""

    def _decoder_choices(
        self, level: int, deeper: list[int]
    ) -> list[tuple[str, DecoderStage, int, int]]:
        out = []
        for up in self.decisions[f"dec{level}_up"]:
            for fuse in self.decisions[f"dec{level}_fuse"]:
                for w in _ints(self.decisions[f"dec{level}_width"]):
                    for c_deep in deeper:
                        for c_skip in _ints(self.decisions[f"enc{level}_width"]):
                            key = f"{up}_{fuse}_{c_deep}_{c_skip}_{w}"
                            out.append((key, DecoderStage(str(up), str(fuse), w), c_deep, c_skip))
        return out

    @staticmethod
    def _stage(
        block: str, c_in: int, w: int, depth: int, batch_norm: bool, expand: int
    ) -> nn.Sequential:
        if block == "nb201":  # super-cells: every op on every edge
            cells = [SuperCell(w, OPS) for _ in range(depth)]
            return nn.Sequential(conv_unit(c_in, w, batch_norm), *cells)
        return encoder_stage(EncoderStage(block, depth, w), c_in, OPS[:1] * 6, batch_norm, expand)

    def _keys(self, arch: Mapping[str, Choice]) -> tuple[list[tuple[str, int]], list[str], str]:
        """(encoder module key and blocks to run per level, decoder keys deepest first, head key)."""
        a = validate_arch(arch, self.decisions, self.space_name)
        path, c_in = [], None
        for i in range(self.levels):
            block, depth, w = a[f"enc{i}_block"], int(a[f"enc{i}_depth"]), int(a[f"enc{i}_width"])
            first = self.in_channels if c_in is None else c_in
            path.append((f"{block}_{first}_{w}", depth + (1 if block == "nb201" else 0)))
            c_in = w
        decoder, deeper = [], int(a[f"enc{self.levels - 1}_width"])
        for level in reversed(range(self.levels - 1)):
            w, skip = int(a[f"dec{level}_width"]), int(a[f"enc{level}_width"])
            decoder.append(f"{a[f'dec{level}_up']}_{a[f'dec{level}_fuse']}_{deeper}_{skip}_{w}")
            deeper = w
        return path, decoder, str(deeper)

    def _cell_ops(self, arch: Mapping[str, Choice]) -> list[str]:
        if self.cell is not None:
            return list(self.cell)
        return [str(arch[f"cell_{edge}"]) for edge in EDGES]

    def set_arch(self, arch: Mapping[str, Choice]) -> None:
        """Make ``arch`` the path ``forward`` follows."""
        self._path, self._decoder_path, self._head = self._keys(arch)
        ops = self._cell_ops(arch)
        for module in self.modules():
            if isinstance(module, SuperCell):
                module.path = list(ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._path:
            raise RuntimeError("call set_arch() on the supernet before running it")
        skips = []
        for level, (key, count) in enumerate(self._path):
            if level > 0:
                x = self.pool(x)
            stage = cast(nn.ModuleDict, self.encoder[level])[key]
            for block in list(stage.children())[:count]:
                x = block(x)
            skips.append(x)
        skips.pop()
        for blocks, key in zip(self.decoder, self._decoder_path, strict=True):
            x = cast(nn.ModuleDict, blocks)[key](x, skips.pop())
        return self.head[self._head](x)

    def subnet_state_dict(self, arch: Mapping[str, Choice]) -> dict[str, torch.Tensor]:
        """The shared weights of ``arch``, keyed as in ``space.build(arch)``."""
        path, decoder, head = self._keys(arch)
        ops = self._cell_ops(arch)
        out: dict[str, torch.Tensor] = {}
        for name, value in self.state_dict().items():
            parts = name.split(".")
            if parts[0] == "encoder":
                key, count = path[int(parts[1])]
                if parts[2] != key or int(parts[3]) >= count:
                    continue
                rest = parts[4:]
                if rest[:1] == ["edges"]:  # a super-cell edge: only the chosen op, as 'layers'
                    if ops[int(rest[1])] != rest[2]:
                        continue
                    rest = ["layers", rest[1], *rest[3:]]
                out[".".join(["encoder", parts[1], parts[3], *rest])] = value
            elif parts[0] == "decoder" and parts[2] == decoder[int(parts[1])]:
                out[".".join(["decoder", parts[1], *parts[3:]])] = value
            elif parts[0] == "head" and parts[1] == head:
                out[".".join(["head", *parts[2:]])] = value
        return out
