"""The unet space: the classic U-Net as one of its architectures, reused blocks, any input size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas import NasError, create_space
from nas.costs.measure import count_params
from search_spaces.mbconv.blocks import MBConv
from search_spaces.nb201.network import InferCell
from search_spaces.unet import UNetSpace


def conv(c_in: int, c_out: int, k: int = 3) -> int:
    """Weights and bias of a k x k convolution."""
    return c_in * c_out * k * k + c_out


def test_the_classic_unet_is_one_architecture_with_its_hand_computed_parameter_count() -> None:
    # Ronneberger et al. 2015: 1 input channel, 2 classes, widths 64..1024, double 3x3 convs with
    # bias and no BatchNorm, 2x2 max-pooling, 2x2 up-convolutions halving the width,
    # concatenated skips, a 1x1 head. Padding ('same' here, 'valid' there) has no parameters.
    widths = [64, 128, 256, 512, 1024]
    encoder = 0
    c_in = 1
    for w in widths:
        encoder += conv(c_in, w) + conv(w, w)  # 640 + 36,928 at level 0, ...
        c_in = w
    decoder = 0
    for w in reversed(widths[:-1]):  # 512, 256, 128, 64
        up = (2 * w) * w * 2 * 2 + w  # 2x2 transposed conv from 2w channels to w
        decoder += up + conv(2 * w, w) + conv(w, w)  # skip (w) + upsampled (w) = 2w in
    head = conv(64, 2, k=1)
    assert encoder == 18_842_048 and decoder == 12_188_480 and head == 130
    space = UNetSpace(
        levels=5,
        base_width=64,
        width_multipliers=(1.0,),
        decoder_multipliers=(1.0,),
        batch_norm=False,
    )
    model = space.build(space.classic(), num_classes=2, input_shape=(1, 572, 572))
    assert count_params(model) == encoder + decoder + head == 31_030_658


def test_blocks_reuse_the_nb201_cell_and_the_mbconv_block_and_the_output_keeps_any_size() -> None:
    space = create_space("unet", base_width=4)
    arch = {**space.classic(), "enc0_block": "nb201", "enc1_block": "mbconv", "enc2_block": "nb201"}
    model = space.build(arch, num_classes=5, input_shape=(3, 18, 18))
    kinds = {type(m) for m in model.modules()}
    assert {InferCell, MBConv} <= kinds
    for side in (18, 19, 32):  # 19 -> 9 -> 4 -> 8 -> 18 needs resizing on the way up
        assert model(torch.randn(2, 3, side, side)).shape == (2, 5, side, side)


def test_every_decoder_choice_builds_and_the_cell_can_be_searched() -> None:
    space = create_space("unet", base_width=4, cell=None)
    assert "cell_3<-2" in space.decisions()
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(12):
        arch = space.sample(rng)
        seen.add((arch["dec0_up"], arch["dec0_fuse"]))
        model = space.build(arch, num_classes=3, input_shape=(1, 16, 16))
        assert model(torch.randn(1, 1, 16, 16)).shape == (1, 3, 16, 16)
    assert len(seen) == 4


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"levels": 1}, "levels >= 2"),
        ({"blocks": ("conv", "resnet")}, "blocks must be some of"),
        ({"depths": (0,)}, "depths must be >= 1"),
        ({"cell": "|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|"}, "unknown operation"),
    ],
)
def test_bad_options_are_refused_in_one_line(options: dict, message: str) -> None:
    with pytest.raises(NasError, match=message):
        create_space("unet", **options)


def test_images_too_small_for_the_levels_are_refused_with_the_fix() -> None:
    space = create_space("unet", levels=5, base_width=4)
    with pytest.raises(NasError, match="8x8 images are too small: use levels <= 4") as caught:
        space.build(space.classic(), num_classes=2, input_shape=(1, 8, 8))
    assert "\n" not in str(caught.value)


def test_the_supernet_with_the_fixed_cell_gives_each_subnet_its_standalone_output() -> None:
    space = create_space("unet", base_width=4)  # the default cell: super-cells on a fixed path
    supernet = space.supernet(num_classes=3, input_shape=(1, 16, 16))
    x = torch.randn(2, 1, 16, 16)
    arch = {**space.classic(), "enc0_block": "nb201", "enc0_depth": 1, "enc1_block": "mbconv"}
    arch["dec1_up"], arch["dec0_fuse"], arch["dec0_width"] = "bilinear", "add", 2
    supernet.set_arch(arch)
    model = space.build(arch, num_classes=3, input_shape=(1, 16, 16))
    model.load_state_dict(supernet.subnet_state_dict(arch), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(supernet.eval()(x), model.eval()(x))
