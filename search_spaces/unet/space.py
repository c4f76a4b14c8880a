"""The U-Net search space: per encoder stage a block kind, depth and width; per decoder stage an
upsampling, a skip fusion and a width."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from nas.arch import Choice
from nas.errors import NasError
from nas.space import NetworkSpec, SpecSearchSpace
from search_spaces.nb201.network import EDGES
from search_spaces.nb201.ops import OPS
from search_spaces.nb201.space import str_to_arch
from search_spaces.unet.network import DecoderStage, EncoderStage
from search_spaces.unet.supernet import UNetSupernet

BLOCKS: tuple[str, ...] = ("conv", "nb201", "mbconv")
UPSAMPLING: tuple[str, ...] = ("transposed", "bilinear")
FUSIONS: tuple[str, ...] = ("concat", "add")
#: The cell ``nb201`` blocks use unless the space searches it (``cell: null``): ResNet-like.
DEFAULT_CELL = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"


def _widths(base: int, level: int, multipliers: Sequence[float]) -> tuple[int, ...]:
    """The distinct channel counts of a stage: ``base * 2**level`` times each multiplier."""
    return tuple(sorted({max(1, round(base * 2**level * m)) for m in multipliers}))


class UNetSpace(SpecSearchSpace):
    """U-Net encoder-decoders for segmentation: ``(N, C, H, W)`` images to ``(N, classes, H, W)``.

    ``levels`` encoder stages (the last is the bottleneck), 2x2 max-pooling between them; each
    chooses its block (plain 3x3 convolutions, NAS-Bench-201 cells, MBConv blocks), its depth and
    its width (``base_width * 2**level`` times one of ``width_multipliers``). Each of the
    ``levels - 1`` decoder stages chooses its upsampling (2x2 transposed convolution, or bilinear
    then 1x1 convolution), how it fuses the encoder's skip (concatenation, or addition after a 1x1
    projection when widths differ) and its width (``decoder_multipliers``); two conv units follow.
    ``cell`` is the NAS-Bench-201 cell of ``nb201`` blocks (its notation), or None to search its
    six edges too. ``batch_norm: false`` gives biased convolutions without BatchNorm, as the
    original U-Net (:meth:`classic` is Ronneberger et al.'s with ``levels=5, base_width=64``).
    """

    name = "unet"
    task = "segmentation"

    def __init__(
        self,
        *,
        levels: int = 3,
        base_width: int = 16,
        blocks: tuple[str, ...] = BLOCKS,
        depths: tuple[int, ...] = (1, 2),
        width_multipliers: tuple[float, ...] = (0.5, 1.0),
        decoder_multipliers: tuple[float, ...] = (0.5, 1.0),
        cell: str | None = DEFAULT_CELL,
        batch_norm: bool = True,
        mbconv_expand: int = 3,
    ) -> None:
        if levels < 2 or base_width < 1 or mbconv_expand < 1:
            raise NasError("unet needs levels >= 2, base_width >= 1 and mbconv_expand >= 1")
        unknown = sorted(set(blocks) - set(BLOCKS))
        if not blocks or unknown:
            raise NasError(f"unet blocks must be some of {list(BLOCKS)}, got {list(blocks)}")
        if not depths or min(depths) < 1:
            raise NasError(f"unet depths must be >= 1, got {list(depths)}")
        if not width_multipliers or not decoder_multipliers:
            raise NasError("unet width_multipliers and decoder_multipliers must not be empty")
        if min(width_multipliers) <= 0 or min(decoder_multipliers) <= 0:
            raise NasError("unet width_multipliers and decoder_multipliers must be positive")
        self.levels = levels
        self.base_width = base_width
        self.blocks = tuple(dict.fromkeys(blocks))
        self.depths = tuple(sorted(set(depths)))
        self.width_multipliers = tuple(width_multipliers)
        self.decoder_multipliers = tuple(decoder_multipliers)
        self.cell = cell
        self._cell_ops = None if cell is None else self._parse_cell(cell)
        self.batch_norm = batch_norm
        self.mbconv_expand = mbconv_expand

    @staticmethod
    def _parse_cell(cell: str) -> tuple[str, ...]:
        arch = str_to_arch(cell)
        bad = [op for op in arch.values() if op not in OPS]
        if bad:
            raise NasError(f"unet cell {cell!r} uses unknown operation {bad[0]!r}; use {list(OPS)}")
        return tuple(str(arch[edge]) for edge in EDGES)

    def decisions(self) -> dict[str, tuple[Choice, ...]]:
        """Per encoder stage ``enc{i}_block/_depth/_width``, per decoder stage ``dec{i}_up/_fuse/
        _width`` (decoder stage i joins encoder stage i's skip), and ``cell_{edge}`` when searched."""
        out: dict[str, tuple[Choice, ...]] = {}
        for i in range(self.levels):
            out[f"enc{i}_block"] = self.blocks
            out[f"enc{i}_depth"] = self.depths
            out[f"enc{i}_width"] = _widths(self.base_width, i, self.width_multipliers)
        for i in range(self.levels - 1):
            out[f"dec{i}_up"] = UPSAMPLING
            out[f"dec{i}_fuse"] = FUSIONS
            out[f"dec{i}_width"] = _widths(self.base_width, i, self.decoder_multipliers)
        if self._cell_ops is None:
            for edge in EDGES:
                out[f"cell_{edge}"] = OPS
        return out

    def _check_input(self, input_shape: tuple[int, int, int]) -> int:
        """The input's channels, or NasError if its sides cannot be halved ``levels - 1`` times."""
        c, h, w = input_shape
        if min(h, w) < 2 ** (self.levels - 1):
            raise NasError(
                f"unet with levels={self.levels} halves the input {self.levels - 1} times; "
                f"{h}x{w} images are too small: use levels <= {max(1, min(h, w)).bit_length()}"
            )
        return c

    def network_spec(
        self, arch: Mapping[str, Choice], *, num_classes: int, input_shape: tuple[int, int, int]
    ) -> NetworkSpec:
        """The UNet class and its stages for ``arch``."""
        arch = self.validate(arch)
        c = self._check_input(input_shape)
        encoder = [
            EncoderStage(
                str(arch[f"enc{i}_block"]), int(arch[f"enc{i}_depth"]), int(arch[f"enc{i}_width"])
            )
            for i in range(self.levels)
        ]
        decoder = [
            DecoderStage(
                str(arch[f"dec{i}_up"]), str(arch[f"dec{i}_fuse"]), int(arch[f"dec{i}_width"])
            )
            for i in range(self.levels - 1)
        ]
        cell = self._cell_ops or tuple(str(arch[f"cell_{edge}"]) for edge in EDGES)
        return NetworkSpec(
            "search_spaces.unet.network",
            "UNet",
            {
                "encoder": encoder,
                "decoder": decoder,
                "cell": list(cell),
                "batch_norm": self.batch_norm,
                "mbconv_expand": self.mbconv_expand,
                "in_channels": c,
                "num_classes": num_classes,
            },
        )

    def supernet(
        self, *, num_classes: int, input_shape: tuple[int, int, int] = (3, 32, 32)
    ) -> UNetSupernet:
        """Single-path weight sharing: one module per stage choice, super-cells for nb201 stages."""
        self._check_input(input_shape)
        return UNetSupernet(
            decisions=self.decisions(),
            space_name=self.name,
            levels=self.levels,
            cell=self._cell_ops,
            batch_norm=self.batch_norm,
            mbconv_expand=self.mbconv_expand,
            in_channels=input_shape[0],
            num_classes=num_classes,
        )

    def classic(self) -> dict[str, Choice]:
        """The original U-Net's choices in this space (plain double convolutions, widths
        ``base_width * 2**level``, transposed upsampling, concatenation); NasError if excluded."""
        arch: dict[str, Choice] = {}
        for i in range(self.levels):
            arch.update(
                {
                    f"enc{i}_block": "conv",
                    f"enc{i}_depth": 2,
                    f"enc{i}_width": self.base_width * 2**i,
                }
            )
        for i in range(self.levels - 1):
            arch.update(
                {
                    f"dec{i}_up": "transposed",
                    f"dec{i}_fuse": "concat",
                    f"dec{i}_width": self.base_width * 2**i,
                }
            )
        if self._cell_ops is None:
            arch.update({f"cell_{k}": v for k, v in str_to_arch(DEFAULT_CELL).items()})
        return self.validate(arch)
