from __future__ import annotations

import numpy as np
import pytest
import torch

from nas import NasError, create_space
from nas.costs.measure import count_params
from nas.training.loop import HasAuxiliaryHead
from search_spaces.darts import (
    DARTS_V2,
    GENOTYPES,
    PDARTS,
    PRIMITIVES,
    arch_to_genotype,
    format_genotype,
    genotype_to_arch,
    parse_genotype,
)
from search_spaces.darts.ops import drop_path

# DARTS_V2 exactly as the authors' genotypes.py writes it (and as their code prints genotypes)
DARTS_V2_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
    "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
# P-DARTS as its authors' genotypes.py writes it: range() concats, irregular spacing
PDARTS_TEXT = (
    "Genotype(normal=[('skip_connect', 0), ('dil_conv_3x3', 1), ('skip_connect', 0),('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3',0), ('dil_conv_5x5', 4)], "
    "normal_concat=range(2, 6), reduce=[('avg_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 0), "
    "('dil_conv_5x5', 2), ('max_pool_3x3', 0), ('dil_conv_3x3', 1), ('dil_conv_3x3', 1), "
    "('dil_conv_5x5', 3)], reduce_concat=range(2, 6))"
)
# the reference auxiliary head for 8x8 features: 1x1 conv C->128 + BN, 2x2 conv 128->768 + BN, linear
AUX_PARAMS = 576 * 128 + 2 * 128 + 128 * 768 * 4 + 2 * 768 + 768 * 10 + 10


def tiny(**options: object):
    return create_space(
        "darts", **{"channels": 4, "layers": 3, "search_channels": 4, "search_layers": 3, **options}
    )


@pytest.mark.parametrize(
    ("name", "params"),
    [
        # the DARTS code prints "param size = 3.349342MB" for DARTS_V2 (paper: 3.3M); it leaves the
        # auxiliary head out (utils.count_parameters_in_MB skips names containing "auxiliary")
        ("DARTS_V2", 3_349_342),
        # the same code's counts for the other published cells (papers: 3.3M, 3.4M, 3.6M)
        ("DARTS_V1", 3_169_414),
        ("PDARTS", 3_433_798),
        ("PC_DARTS_cifar", 3_634_678),
    ],
)
def test_published_cells_have_the_reference_parameter_counts(name: str, params: int) -> None:
    space = create_space("darts", channels=36, layers=20, auxiliary=True)
    model = space.build(space.parse(name), num_classes=10)
    assert count_params(model) == params
    assert count_params(model, auxiliary=True) == params + AUX_PARAMS
    no_aux = create_space("darts", channels=36, layers=20, auxiliary=False).build(
        space.parse(name), num_classes=10
    )
    assert count_params(no_aux, auxiliary=True) == params


def test_search_network_has_the_reference_parameter_count() -> None:
    # the DARTS search network (C=16, 8 cells, 10 classes) prints "param size = 1.930618MB"
    mixed = create_space("darts").mixed_supernet(num_classes=10)
    assert sum(p.numel() for p in mixed.weight_parameters()) == 1_930_618
    assert [tuple(a.shape) for a in mixed.arch_parameters()] == [(14, 8), (14, 8)]


def test_state_dict_keys_are_the_reference_keys() -> None:
    space = create_space("darts", channels=8, layers=8)
    keys = set(space.build(space.parse("DARTS_V2"), num_classes=10).state_dict())
    for key in [
        "stem.0.weight",
        "cells.0.preprocess0.op.1.weight",
        "cells.0._ops.0.op.5.weight",
        "cells.3.preprocess0.conv_2.weight",
        "cells.6.preprocess0.bn.running_mean",
        "auxiliary_head.features.5.weight",
        "auxiliary_head.classifier.bias",
        "classifier.weight",
    ]:
        assert key in keys


def test_reference_genotype_text_round_trips_exactly() -> None:
    space = tiny()
    arch = space.parse(DARTS_V2_TEXT)
    assert space.format(arch) == DARTS_V2_TEXT == format_genotype(DARTS_V2)
    assert arch == space.parse("DARTS_V2") == space.parse("DARTS")
    # the listing order within a node is kept: node 4 lists input 1 before input 0
    assert (arch["normal.4.inputs"], arch["normal.4.op1"], arch["normal.4.op2"]) == (
        "1+0",
        "sep_conv_3x3",
        "skip_connect",
    )


def test_every_published_genotype_round_trips() -> None:
    space = tiny()
    for name, genotype in GENOTYPES.items():
        arch = space.parse(name)
        assert arch_to_genotype(arch) == genotype
        assert parse_genotype(space.format(arch)) == genotype
    assert space.parse(PDARTS_TEXT) == genotype_to_arch(PDARTS)


def test_decisions_give_every_ordered_input_pair() -> None:
    decisions = tiny().decisions()
    assert len(decisions) == 2 * 4 * 3
    assert decisions["normal.2.inputs"] == ("0+1", "1+0")
    assert [len(decisions[f"reduce.{n}.inputs"]) for n in (2, 3, 4, 5)] == [2, 6, 12, 20]
    assert decisions["reduce.5.op2"] == PRIMITIVES
    assert tiny().size() == (2 * 6 * 12 * 20) ** 2 * 8**16


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('true')", "is not a genotype"),
        (
            "Genotype(normal=__import__('os'), normal_concat=[2], reduce=[], reduce_concat=[])",
            "must be a list of",
        ),
        (
            "Genotype(normal=[('sep_conv_3x3', 0)] * 8, normal_concat=[2, 3, 4, 5], reduce=[], reduce_concat=[])",
            "must be a list of",
        ),
        (
            "Genotype(normal=[], normal_concat=[2, 3, 4, 5], reduce=[])",
            "lacks field 'reduce_concat'",
        ),
        (
            "Genotype(normal=[(0, 'sep_conv_3x3')], normal_concat=[2], reduce=[], reduce_concat=[])",
            r"each entry must be \('op', input\)",
        ),
        (
            "Genotype(normal=[], normal_concat=[2, 3, 4, 5, 6], reduce=[], reduce_concat=[2, 3, 4, 5])",
            "normal_concat must be",
        ),
        ("Genotype(", "cannot read"),
        ("DARTS_V3", "did you mean"),
    ],
)
def test_malformed_genotypes_are_refused_without_evaluation(text: str, message: str) -> None:
    with pytest.raises(NasError, match=message):
        tiny().parse(text)


def test_genotypes_outside_the_space_are_refused() -> None:
    space = tiny()
    same_input = DARTS_V2_TEXT.replace("('sep_conv_3x3', 1)", "('sep_conv_3x3', 0)", 1)
    with pytest.raises(NasError, match="node 2 has inputs 0 and 0"):
        space.parse(same_input)
    later_input = DARTS_V2._replace(
        normal=[*DARTS_V2.normal[:2], ("sep_conv_3x3", 3), *DARTS_V2.normal[3:]]
    )
    with pytest.raises(NasError, match="node 3 has inputs 3 and 1"):
        space.parse(format_genotype(later_input))
    with pytest.raises(NasError, match="'normal.2.op1' = 'sep_conv_7x7' is not one of"):
        space.parse(DARTS_V2_TEXT.replace("sep_conv_3x3", "sep_conv_7x7", 1))
    with pytest.raises(NasError, match="'normal.5.op2' = 'dil_conv_3x3' is not one of"):
        tiny(operations=["skip_connect", "sep_conv_3x3"]).parse("DARTS_V2")


def test_space_options_are_checked() -> None:
    with pytest.raises(NasError, match="'sep_conv_9x9' is unknown .*did you mean"):
        tiny(operations=["sep_conv_9x9"])
    with pytest.raises(NasError, match="at least one besides 'none'"):
        tiny(operations=["none"])
    with pytest.raises(NasError, match=r"drop_path_prob must be in \[0, 1\)"):
        tiny(drop_path_prob=1.0)
    with pytest.raises(NasError, match="must divide by 4, got 6x6"):
        tiny().build(tiny().parse("DARTS_V2"), num_classes=10, input_shape=(1, 6, 6))
    space = tiny(operations=["sep_conv_3x3", "none", "skip_connect"])
    assert space.decisions()["normal.3.op1"] == ("none", "skip_connect", "sep_conv_3x3")


def test_auxiliary_head_runs_in_training_only_on_small_inputs() -> None:
    space = tiny(auxiliary=True)
    model = space.build(space.parse("DARTS_V2"), num_classes=10, input_shape=(1, 8, 8))
    assert isinstance(model, HasAuxiliaryHead)
    x = torch.randn(3, 1, 8, 8)
    logits, aux = model.train().forward_with_auxiliary(x)
    assert logits.shape == aux.shape == (3, 10)
    model.eval()
    logits, aux = model.forward_with_auxiliary(x)
    assert aux is None and torch.equal(logits, model(x))


def test_drop_path_drops_whole_samples_in_training_only() -> None:
    torch.manual_seed(0)
    x = torch.ones(64, 2, 3, 3)
    out = drop_path(x, 0.5)
    per_sample = out.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}
    assert ((per_sample == 0).all(1) | (per_sample == 2).all(1)).all()
    space = tiny(drop_path_prob=0.5)
    model = space.build(space.parse("DARTS_V2"), num_classes=10, input_shape=(1, 8, 8)).eval()
    assert torch.equal(model(torch.ones(2, 1, 8, 8)), model(torch.ones(2, 1, 8, 8)))


def _alphas_for(space, arch, none_weight: float) -> list[torch.Tensor]:
    """Alphas under which DARTS derivation must give ``arch`` ('none' made strongest everywhere)."""
    from search_spaces.darts.supernet import EDGE_INDEX

    genotype = arch_to_genotype(arch)
    alphas = []
    for edges in (genotype.normal, genotype.reduce):
        alpha = torch.zeros(14, len(space.operations))
        alpha[:, space.operations.index("none")] = none_weight
        for slot, (op, src) in enumerate(edges):
            alpha[EDGE_INDEX[(2 + slot // 2, src)], space.operations.index(op)] = 3.0 - slot % 2
        alphas.append(alpha)
    return alphas


def test_mixed_supernet_derives_the_darts_way() -> None:
    space = tiny()
    mixed = space.mixed_supernet(num_classes=10, input_shape=(1, 8, 8))
    rng = np.random.default_rng(0)
    no_none = create_space("darts", operations=[op for op in PRIMITIVES if op != "none"])
    for _ in range(5):
        arch = no_none.sample(rng)
        with torch.no_grad():
            for param, value in zip(
                mixed.arch_parameters(), _alphas_for(space, arch, none_weight=9.0), strict=False
            ):
                param.copy_(value)
        assert mixed.derive() == arch  # strongest input first; 'none' never chosen
    weights = mixed.alphas()
    assert len(weights) == 28 and set(weights["reduce.5<-4"]) == set(PRIMITIVES)


def test_mixed_supernet_alphas_start_uniform_or_from_a_generator() -> None:
    space = tiny()
    uniform = space.mixed_supernet(num_classes=10, input_shape=(1, 8, 8))
    assert all(w == pytest.approx(1 / 8) for row in uniform.alphas().values() for w in row.values())
    a = space.mixed_supernet(
        num_classes=10, input_shape=(1, 8, 8), generator=torch.Generator().manual_seed(1)
    )
    b = space.mixed_supernet(
        num_classes=10, input_shape=(1, 8, 8), generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(a.alphas_normal, b.alphas_normal) and 0 < a.alphas_normal.abs().max() < 0.01
