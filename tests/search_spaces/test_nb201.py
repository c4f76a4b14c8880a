from __future__ import annotations

import itertools

import pytest
import torch

from nas import NasError, create_space
from nas.costs.measure import count_flops, count_params
from search_spaces.nb201 import EDGES, OPS, arch_to_str, str_to_arch


def uniform(op: str) -> dict[str, str]:
    return {edge: op for edge in EDGES}


def test_space_has_15625_architectures() -> None:
    space = create_space("nb201")
    assert space.size() == 15625 == len(OPS) ** len(EDGES)


@pytest.mark.parametrize(
    ("op", "params"),
    [
        # published by the benchmark for C=16, N=5, 10 classes
        ("nor_conv_3x3", 1_531_546),
        # hand-computed: the fixed skeleton (stem, 2 residual blocks, BN, classifier) is 73,306
        # parameters; each 1x1 conv edge adds C*C + 2C per cell at widths 16, 32, 64, 5 cells each
        ("nor_conv_1x1", 73_306 + 6 * 5 * sum(c * c + 2 * c for c in (16, 32, 64))),
        ("skip_connect", 73_306),
        ("avg_pool_3x3", 73_306),
        ("none", 73_306),
    ],
)
def test_parameter_counts_match_the_benchmark(op: str, params: int) -> None:
    model = create_space("nb201").build(uniform(op), num_classes=10)
    assert count_params(model) == params


def test_flops_of_the_largest_cell_match_the_benchmark() -> None:
    # NAS-Bench-201 reports 220.11969 MFLOPs (multiply-adds, conv and linear layers) on 32x32
    model = create_space("nb201").build(uniform("nor_conv_3x3"), num_classes=10)
    assert abs(count_flops(model, (3, 32, 32)) / 1e6 - 220.11969) < 0.01


def test_every_arch_string_round_trips() -> None:
    space = create_space("nb201", channels=4, cells_per_stage=1)
    seen = set()
    for ops in itertools.product(OPS, repeat=len(EDGES)):
        arch = dict(zip(EDGES, ops, strict=False))
        text = arch_to_str(arch)
        assert space.parse(text) == arch
        seen.add(text)
    assert len(seen) == 15625


def test_known_arch_string_parses_to_edges() -> None:
    text = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    arch = str_to_arch(text)
    assert arch == {
        "1<-0": "nor_conv_3x3",
        "2<-0": "nor_conv_3x3",
        "2<-1": "avg_pool_3x3",
        "3<-0": "skip_connect",
        "3<-1": "nor_conv_3x3",
        "3<-2": "skip_connect",
    }
    assert arch_to_str(arch) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("|none~0|+|none~0|none~1|", "must have 3 nodes"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 input edges"),
        (
            "|none~0|+|none~0|none~2|+|none~0|none~1|none~2|",
            r"edge 'none~2' must be op~input with input < 2",
        ),
        ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", "names edge 2<-0 twice"),
        ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "must be written"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "'1<-0' = 'conv' is not one of"),
    ],
)
def test_malformed_arch_strings_are_refused(text: str, message: str) -> None:
    with pytest.raises(NasError, match=message):
        create_space("nb201").parse(text)


def test_none_edges_give_zero_nodes_and_small_inputs_work() -> None:
    space = create_space("nb201", channels=4, cells_per_stage=1)
    model = space.build(uniform("none"), num_classes=10, input_shape=(1, 8, 8)).eval()
    out = model(torch.randn(3, 1, 8, 8))
    # with every edge 'none', each cell outputs zeros, so all inputs give the same logits
    assert torch.allclose(out[0], out[1]) and torch.allclose(out[1], out[2])


def test_input_size_must_divide_by_four() -> None:
    with pytest.raises(NasError, match="divisible by 4"):
        create_space("nb201").build(uniform("none"), num_classes=10, input_shape=(3, 10, 10))


def test_bad_space_options() -> None:
    with pytest.raises(NasError, match="unknown config key 'space.chanels'"):
        create_space("nb201", chanels=3)
    with pytest.raises(NasError, match="channels >= 1"):
        create_space("nb201", channels=0)


def test_supernet_holds_every_operation_once_per_edge() -> None:
    # 1x1 and 3x3 convs (with affine BN) on each of 6 edges, 5 cells per stage at widths 16, 32, 64
    supernet = create_space("nb201").supernet(num_classes=10)
    assert count_params(supernet) == 73_306 + 6 * 5 * sum(10 * c * c + 4 * c for c in (16, 32, 64))
    # the relaxation's BNs have no affine parameters, as in DARTS; plus 6 x 5 alphas
    mixed = create_space("nb201").mixed_supernet(num_classes=10)
    assert count_params(mixed) == 73_306 + 6 * 5 * sum(10 * c * c for c in (16, 32, 64)) + 30


def test_mixed_supernet_derives_the_strongest_operation_per_edge() -> None:
    space = create_space("nb201", channels=4, cells_per_stage=1)
    mixed = space.mixed_supernet(num_classes=10, input_shape=(1, 8, 8))
    assert set(mixed.alphas()) == set(EDGES)
    for ops in [
        ("none",) * 6,
        ("nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none"),
    ]:
        arch = dict(zip(EDGES, ops, strict=False))
        with torch.no_grad():
            mixed.alphas_cell.zero_()
            for e, op in enumerate(ops):
                mixed.alphas_cell[e, OPS.index(op)] = 1.0
        assert mixed.derive() == arch
        assert max(mixed.alphas()["1<-0"], key=mixed.alphas()["1<-0"].get) == ops[0]


def test_supernet_refuses_to_run_without_an_arch() -> None:
    supernet = create_space("nb201", channels=4, cells_per_stage=1).supernet(num_classes=10)
    with pytest.raises(RuntimeError, match="set_arch"):
        supernet(torch.randn(1, 3, 8, 8))
    with pytest.raises(NasError, match="is not one of"):
        supernet.set_arch(uniform("conv"))
