"""The EfficientNet-style MBConv search space: per-stage kernel, expansion, depth, width and SE."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import nn

from nas.arch import Arch, Choice
from nas.costs.units import LatencyUnit
from nas.diagrams import Stage, StageDiagram
from nas.errors import NasError
from nas.space import NetworkSpec, SpecSearchSpace
from search_spaces.mbconv import latency
from search_spaces.mbconv.blocks import EfficientNet
from search_spaces.mbconv.notation import BlockArgs, decode, encode
from search_spaces.mbconv.plan import (
    B0_STAGES,
    HEAD_CHANNELS,
    NUM_STAGES,
    STEM_CHANNELS,
    NetworkPlan,
    StageChoice,
    round_filters,
    round_repeats,
)
from search_spaces.mbconv.planner import FIELDS, Planner, stage_choices
from search_spaces.mbconv.supernet import MBConvSupernet


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise NasError(message)


def _choices(values: Sequence[Choice], name: str) -> tuple:
    _check(len(values) > 0, f"mbconv option {name!r} needs at least one choice")
    _check(
        len(set(values)) == len(values),
        f"mbconv option {name!r} lists a choice twice: {list(values)}",
    )
    return tuple(values)


class MBConvSpace(SpecSearchSpace):
    """EfficientNet-B0's skeleton with searchable stages, compound-scalable (width, depth, resolution).

    Every stage chooses its kernel size, expansion ratio, number of layers, output channels (B0's
    width times one of ``width_multipliers``, rounded to a multiple of 8) and SE on/off. The
    defaults contain EfficientNet-B0 itself (``baseline()``). ``width_coefficient``,
    ``depth_coefficient`` and ``resolution`` scale every architecture as the reference scales B0
    into B1..B7; ``resolution`` resizes the input inside the network (None: keep the input size).
    Inputs smaller than 224 keep fewer of B0's five stride-2 reductions (32x32 keeps three),
    chosen by the input's size before any resize.
    ``bn_momentum`` is PyTorch's (the reference's TensorFlow 0.99 is 0.01, which suits long
    ImageNet schedules; 0.1 gives usable running statistics after a few NAS epochs).
    """

    name = "mbconv"

    def __init__(
        self,
        *,
        kernel_sizes: tuple[int, ...] = (3, 5, 7),
        expand_ratios: tuple[int, ...] = (1, 3, 4, 6),
        layers: tuple[int, ...] = (1, 2, 3, 4),
        width_multipliers: tuple[float, ...] = (0.75, 1.0, 1.25),
        se: tuple[bool, ...] = (True, False),
        se_ratio: float = 0.25,
        width_coefficient: float = 1.0,
        depth_coefficient: float = 1.0,
        resolution: int | None = None,
        dropout: float = 0.2,
        drop_path_rate: float = 0.2,
        bn_momentum: float = 0.1,
    ) -> None:
        self.kernel_sizes = _choices(kernel_sizes, "kernel_sizes")
        self.expand_ratios = _choices(expand_ratios, "expand_ratios")
        self.layers = _choices(layers, "layers")
        self.se = _choices(se, "se")
        _check(
            all(k % 2 == 1 for k in kernel_sizes) and min(kernel_sizes) >= 1,
            f"mbconv kernel_sizes must be odd, got {list(kernel_sizes)}",
        )
        _check(
            min(expand_ratios) >= 1, f"mbconv expand_ratios must be >= 1, got {list(expand_ratios)}"
        )
        _check(min(layers) >= 1, f"mbconv layers must be >= 1, got {list(layers)}")
        _check(
            len(width_multipliers) > 0 and min(width_multipliers) > 0,
            f"mbconv width_multipliers must be positive, got {list(width_multipliers)}",
        )
        _check(0 < se_ratio <= 1, f"mbconv se_ratio must be in (0, 1], got {se_ratio}")
        _check(
            width_coefficient > 0 and depth_coefficient > 0,
            "mbconv width_coefficient and depth_coefficient must be positive",
        )
        _check(
            resolution is None or resolution >= 1,
            f"mbconv resolution must be >= 1, got {resolution}",
        )
        _check(
            0 <= dropout < 1 and 0 <= drop_path_rate < 1,
            "mbconv dropout and drop_path_rate must be in [0, 1)",
        )
        _check(0 < bn_momentum <= 1, f"mbconv bn_momentum must be in (0, 1], got {bn_momentum}")
        # Per stage, the distinct base widths the multipliers give (several may round alike).
        self.channels = tuple(
            tuple(sorted({round_filters(base[4], m) for m in width_multipliers}))
            for base in B0_STAGES
        )
        self.se_ratio = se_ratio
        self.width_coefficient = width_coefficient
        self.depth_coefficient = depth_coefficient
        self.resolution = resolution
        self.dropout = dropout
        self.drop_path_rate = drop_path_rate
        self.bn_momentum = bn_momentum

    def decisions(self) -> dict[str, tuple[Choice, ...]]:
        """Five decisions per stage: kernel, expand, layers, channels (base, unscaled), se."""
        out: dict[str, tuple[Choice, ...]] = {}
        for i in range(NUM_STAGES):
            per_field = (
                self.kernel_sizes,
                self.expand_ratios,
                self.layers,
                self.channels[i],
                self.se,
            )
            for field, choices in zip(FIELDS, per_field, strict=False):
                out[f"s{i + 1}_{field}"] = choices
        return out

    def baseline(self) -> Arch:
        """EfficientNet-B0's architecture (NasError if the configured choices exclude it)."""
        arch: Arch = {}
        for i, (repeats, kernel, _, expand, channels) in enumerate(B0_STAGES, start=1):
            arch.update(
                {
                    f"s{i}_kernel": kernel,
                    f"s{i}_expand": expand,
                    f"s{i}_layers": repeats,
                    f"s{i}_channels": channels,
                    f"s{i}_se": True,
                }
            )
        return self.validate(arch)

    def stages(self, arch: Mapping[str, Choice]) -> list[StageChoice]:
        """The validated per-stage choices of ``arch``."""
        return stage_choices(self.validate(arch))

    def diagram(self, arch: Mapping[str, Choice]) -> list[StageDiagram]:
        """The seven stages as built (widths and layers after compound scaling): kernel,
        expansion, layers, width and SE of each."""
        width, depth = self.width_coefficient, self.depth_coefficient
        stages = tuple(
            Stage(
                f"stage {i}",
                round_repeats(s.layers, depth),
                round_filters(s.channels, width),
                {
                    "kernel": f"{s.kernel}x{s.kernel}",
                    "expand": str(s.expand),
                    "SE": "yes" if s.se else "no",
                },
            )
            for i, s in enumerate(self.stages(arch), start=1)
        )
        stem = f"stem {round_filters(STEM_CHANNELS, width)} ch"
        head = f"head {round_filters(HEAD_CHANNELS, width)} ch"
        return [StageDiagram("MBConv stages", stages, stem, head)]

    def planner(self) -> Planner:
        """The space's values that, with an architecture and an input shape, fix the blocks."""
        return Planner(
            width=self.width_coefficient,
            depth=self.depth_coefficient,
            resolution=self.resolution,
            se_ratio=self.se_ratio,
            dropout=self.dropout,
            drop_path_rate=self.drop_path_rate,
            bn_momentum=self.bn_momentum,
        )

    def plan(self, arch: Mapping[str, Choice], input_shape: tuple[int, int, int]) -> NetworkPlan:
        """The concrete, scaled blocks of ``arch`` for inputs of ``input_shape``."""
        self._check_input(input_shape)
        return self.planner().plan(self.validate(arch), input_shape)

    def latency_units(
        self, arch: Mapping[str, Choice], input_shape: tuple[int, int, int]
    ) -> list[LatencyUnit]:
        """Every block of ``arch``'s network as built, and the head (nas/costs/units.py)."""
        return latency.plan_units(self.plan(arch, input_shape), input_shape)

    def all_latency_units(self, input_shape: tuple[int, int, int]) -> list[LatencyUnit]:
        """Every block and head some architecture runs."""
        units = (
            self.latency_units(arch, input_shape)
            for arch in latency.covering_archs(self.decisions(), NUM_STAGES)
        )
        return list(dict.fromkeys(u for group in units for u in group))

    def build_latency_unit(self, unit: LatencyUnit) -> nn.Module:
        """The standalone module of one unit."""
        return latency.build_unit(unit, self.se_ratio, self.bn_momentum)

    def _check_input(self, input_shape: tuple[int, int, int]) -> None:
        _check(
            len(input_shape) == 3 and min(input_shape) >= 1,
            f"mbconv input_shape must be (channels, height, width), got {input_shape}",
        )

    def network_spec(
        self, arch: Mapping[str, Choice], *, num_classes: int, input_shape: tuple[int, int, int]
    ) -> NetworkSpec:
        """``EfficientNet`` of ``search_spaces.mbconv.blocks`` with the arch's scaled ``NetworkPlan``."""
        plan = self.plan(arch, input_shape)
        return NetworkSpec(
            EfficientNet.__module__,
            EfficientNet.__name__,
            {"plan": plan, "num_classes": num_classes},
        )

    def supernet(
        self, *, num_classes: int, input_shape: tuple[int, int, int] = (3, 32, 32)
    ) -> MBConvSupernet:
        """An OFA-style weight-sharing supernet over kernel, expansion, depth, width and SE."""
        self._check_input(input_shape)
        return MBConvSupernet(
            decisions=self.decisions(),
            space_name=self.name,
            planner=self.planner(),
            num_classes=num_classes,
            input_shape=input_shape,
        )

    def format(self, arch: Mapping[str, Choice]) -> str:
        """Seven block strings (base widths, B0's strides) separated by spaces."""
        blocks, c_in = [], STEM_CHANNELS
        for stage, base in zip(self.stages(arch), B0_STAGES, strict=False):
            se = self.se_ratio if stage.se else None
            blocks.append(
                encode(
                    BlockArgs(
                        stage.layers, stage.kernel, base[2], stage.expand, c_in, stage.channels, se
                    )
                )
            )
            c_in = stage.channels
        return " ".join(blocks)

    def parse(self, text: str) -> Arch:
        """Parse seven block strings (as ``format`` writes them) or canonical JSON."""
        if text.lstrip().startswith("{"):
            return super().parse(text)
        tokens = text.split()
        _check(
            len(tokens) == NUM_STAGES,
            f"an mbconv architecture is {NUM_STAGES} block strings separated by spaces, got {len(tokens)}",
        )
        arch: Arch = {}
        c_in = STEM_CHANNELS
        for i, (token, base) in enumerate(zip(tokens, B0_STAGES, strict=False), start=1):
            block = decode(token)
            _check(
                block.stride == base[2],
                f"stage {i} block {token!r} must have stride s{base[2]}{base[2]} "
                "(strides are B0's; small inputs drop reductions when built)",
            )
            _check(
                block.c_in == c_in,
                f"stage {i} block {token!r} must take i{c_in} (the previous output)",
            )
            _check(
                block.se_ratio in (None, self.se_ratio),
                f"stage {i} block {token!r}: this space's SE ratio is {self.se_ratio!r}",
            )
            arch.update(
                {
                    f"s{i}_kernel": block.kernel,
                    f"s{i}_expand": block.expand,
                    f"s{i}_layers": block.repeats,
                    f"s{i}_channels": block.c_out,
                    f"s{i}_se": block.se_ratio is not None,
                }
            )
            c_in = block.c_out
        return self.validate(arch)

    def scaled_blocks(
        self, arch: Mapping[str, Choice], input_shape: tuple[int, int, int]
    ) -> list[str]:
        """The block strings of the network as built: scaled channels and repeats, actual strides."""
        plan = self.plan(arch, input_shape)
        se = self.se_ratio
        return [
            encode(
                BlockArgs(
                    len(s),
                    s[0].kernel,
                    s[0].stride,
                    s[0].expand,
                    s[0].c_in,
                    s[0].c_out,
                    se if s[0].se else None,
                )
            )
            for s in plan.stages
        ]
