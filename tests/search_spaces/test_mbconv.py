"""The MBConv space: reference B0..B7 sizes, block strings, small-input strides, options."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas import NasError, create_space
from nas.costs.measure import count_flops, count_params
from nas.deploy.scaling import PUBLISHED
from search_spaces.mbconv import B0_BLOCKS, decode, encode, round_filters, round_repeats
from search_spaces.mbconv.blocks import drop_path
from search_spaces.mbconv.plan import reductions_for

#: Parameter counts (1000 classes) of efficientnet_pytorch 0.7.1's EfficientNet.from_name('efficientnet-bN'),
#: the PyTorch port of the TensorFlow reference.
REFERENCE_PARAMS = {
    0: 5_288_548,
    1: 7_794_184,
    2: 9_109_994,
    3: 12_233_232,
    4: 19_341_616,
    5: 30_389_784,
    6: 43_040_704,
    7: 66_347_960,
}


def _meta_build(space, arch, num_classes, shape):
    with torch.device("meta"):
        return space.build(arch, num_classes=num_classes, input_shape=shape)


@pytest.mark.parametrize("phi", sorted(REFERENCE_PARAMS))
def test_published_b0_to_b7_have_the_reference_parameter_counts(phi: int) -> None:
    width, depth, resolution, dropout = PUBLISHED[phi]
    space = create_space(
        "mbconv", width_coefficient=width, depth_coefficient=depth, dropout=dropout
    )
    model = _meta_build(space, space.baseline(), 1000, (3, resolution, resolution))
    assert count_params(model) == REFERENCE_PARAMS[phi]


def test_b0_at_224_is_the_reference_network_with_0_39_gflops() -> None:
    space = create_space("mbconv")
    b0 = space.baseline()
    assert space.scaled_blocks(b0, (3, 224, 224)) == list(B0_BLOCKS)
    model = space.build(b0, num_classes=1000, input_shape=(3, 224, 224))
    flops = count_flops(model, (3, 224, 224))
    assert 0.38e9 < flops < 0.40e9
    # the meta-device shortcut that `nas scale` uses counts the same
    assert count_flops(_meta_build(space, b0, 1000, (3, 224, 224)), (3, 224, 224)) == flops


def test_rounding_follows_the_reference() -> None:
    assert [round_filters(c, 1.0) for c in (32, 16, 24, 40, 1280)] == [32, 16, 24, 40, 1280]
    assert (
        round_filters(32, 1.1) == 32
        and round_filters(16, 1.4) == 24
        and round_filters(1280, 2.0) == 2560
    )
    assert round_filters(19, 1.0) == 24  # rounding down by more than 10% adds a divisor
    assert round_filters(3, 0.25) == 8  # never below the divisor
    assert [round_repeats(n, 3.1) for n in (1, 2, 3, 4)] == [4, 7, 10, 13]
    assert round_repeats(2, 1.0) == 2 and round_repeats(1, 1.1) == 2


def test_reference_block_strings_round_trip() -> None:
    space = create_space("mbconv")
    text = " ".join(B0_BLOCKS)
    assert space.parse(text) == space.baseline()
    assert space.format(space.baseline()) == text
    for block in B0_BLOCKS:
        assert encode(decode(block)) == block
    no_se = decode("r2_k5_s22_e6_i24_o40")
    assert no_se.se_ratio is None and encode(no_se) == "r2_k5_s22_e6_i24_o40"


@pytest.mark.parametrize(
    "text, message",
    [
        ("r1_k3_s12_e1_i32_o16", "different strides"),
        ("r01_k3_s11_e1_i32_o16", "must look like"),
        ("r1_k3_s11_e1_i32_o16_se0.250", "canonical form"),
        ("r1_k3_s11_e1_i32_o16_se0.25_noskip", "must look like"),
        ("__import__('os')", "must look like"),
    ],
)
def test_malformed_block_strings_are_refused(text: str, message: str) -> None:
    with pytest.raises(NasError, match=message):
        decode(text)


def test_inconsistent_architectures_are_refused_with_the_reason() -> None:
    space = create_space("mbconv")
    blocks = list(B0_BLOCKS)
    with pytest.raises(NasError, match="7 block strings"):
        space.parse(" ".join(blocks[:6]))
    with pytest.raises(NasError, match="must take i16"):
        space.parse(" ".join([blocks[0], "r2_k3_s22_e6_i24_o24_se0.25", *blocks[2:]]))
    with pytest.raises(NasError, match="stride s22"):
        space.parse(" ".join([blocks[0], "r2_k3_s11_e6_i16_o24_se0.25", *blocks[2:]]))
    with pytest.raises(NasError, match="SE ratio"):
        space.parse(" ".join([blocks[0], "r2_k3_s22_e6_i16_o24_se0.5", *blocks[2:]]))
    with pytest.raises(NasError, match="is not one of"):
        space.parse(" ".join([blocks[0], "r9_k3_s22_e6_i16_o24_se0.25", *blocks[2:]]))
    with pytest.raises(NasError, match="s4_layers"):
        create_space("mbconv", layers=(1, 2)).baseline()


def test_small_inputs_keep_fewer_reductions() -> None:
    assert [reductions_for(r) for r in (600, 224, 64, 32, 16, 8, 7)] == [5, 5, 4, 3, 2, 1, 0]
    space = create_space("mbconv", width_coefficient=0.25, layers=(1, 2))
    arch = space.sample(np.random.default_rng(0))
    cifar = space.plan(arch, (3, 32, 32))
    assert cifar.stem_stride == 1
    assert [stage[0].stride for stage in cifar.stages] == [1, 1, 2, 2, 1, 2, 1]
    digits = space.plan(arch, (1, 8, 8))
    assert digits.stem_stride == 1 and [s[0].stride for s in digits.stages] == [1, 1, 1, 1, 1, 2, 1]
    out = space.build(arch, num_classes=10, input_shape=(1, 8, 8))(torch.randn(2, 1, 8, 8))
    assert out.shape == (2, 10)


def test_resolution_option_resizes_the_input_inside_the_network() -> None:
    base = create_space("mbconv", width_coefficient=0.25, layers=(1, 2))
    arch = base.sample(np.random.default_rng(1))
    scaled = create_space("mbconv", width_coefficient=0.25, layers=(1, 2), resolution=16)
    assert scaled.plan(arch, (1, 8, 8)).resize_to == (16, 16)
    model = scaled.build(arch, num_classes=10, input_shape=(1, 8, 8))
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    small = base.build(arch, num_classes=10, input_shape=(1, 8, 8))
    # same strides as the 8x8 network, four times the pixels
    assert [s[0].stride for s in scaled.plan(arch, (1, 8, 8)).stages] == [
        s[0].stride for s in base.plan(arch, (1, 8, 8)).stages
    ]
    assert count_flops(model, (1, 8, 8)) > 3 * count_flops(small, (1, 8, 8))


def test_width_choices_are_rounded_b0_widths_and_reach_the_network() -> None:
    space = create_space("mbconv", width_multipliers=(0.5, 1.0, 2.0))
    assert space.decisions()["s1_channels"] == (8, 16, 32)
    arch = {**space.baseline(), "s7_channels": 640}
    plan = space.plan(arch, (3, 224, 224))
    assert plan.blocks[-1].c_out == 640
    assert space.format(arch).endswith("r1_k3_s11_e6_i192_o640_se0.25")


def test_drop_path_drops_whole_samples_only_in_training() -> None:
    torch.manual_seed(0)
    x = torch.ones(2000, 3, 2, 2)
    out = drop_path(x, 0.25, training=True)
    per_sample = out.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, torch.tensor(1 / 0.75).item()}
    assert bool((per_sample == per_sample[:, :1]).all())
    assert abs(out.mean().item() - 1.0) < 0.05
    assert torch.equal(drop_path(x, 0.25, training=False), x)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"kernel_sizes": (3, 4)}, "odd"),
        ({"layers": (0, 1)}, "layers must be >= 1"),
        ({"expand_ratios": (1, 1)}, "twice"),
        ({"se_ratio": 0.0}, "se_ratio"),
        ({"resolution": 0}, "resolution"),
        ({"kernel_sizes": "big"}, "kernel_sizes"),
    ],
)
def test_bad_options_raise_clear_errors(options: dict, message: str) -> None:
    with pytest.raises(NasError, match=message):
        create_space("mbconv", **options)
