"""Encodings: one-hot for every space, path counts for NAS-Bench-201 and DARTS cells."""

from __future__ import annotations

import numpy as np
import pytest

from nas import NasError, create_space
from nas.predictors import encoding
from nas.predictors.encodings import Concatenated, OneHot, cell_style
from search_spaces.darts.genotypes import DARTS_V2, genotype_to_arch
from search_spaces.nb201 import str_to_arch

ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_one_hot_marks_one_choice_per_decision_and_nothing_for_a_missing_one() -> None:
    space = create_space("nb201")
    enc = encoding(space, "onehot")
    arch = str_to_arch(ALL_CONV)
    assert enc.width == 30
    row = enc.row(arch)
    assert row.sum() == 6 and set(np.unique(row)) == {0.0, 1.0}
    partial = {k: v for k, v in list(arch.items())[:3]}  # a conditional objective asked for three
    assert enc.row(partial).sum() == 3


def test_nb201_paths_count_operation_sequences_from_input_to_output() -> None:
    space = create_space("nb201")
    enc = encoding(space, "path")
    assert enc.width == 4 + 4**2 + 4**3  # sequences of 1-3 of the four operations besides none
    row = enc.row(str_to_arch(ALL_CONV))
    # 0->3; 0->1->3 and 0->2->3 (the same sequence, counted twice); 0->1->2->3
    assert sorted(row[row > 0].tolist()) == [1.0, 1.0, 2.0]
    only_skip = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    assert enc.row(str_to_arch(only_skip)).tolist().count(1.0) == 1
    cut = "|none~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|nor_conv_3x3~2|"  # no path reaches 3
    assert not enc.row(str_to_arch(cut)).any()


def test_isomorphic_wiring_with_the_same_paths_gets_the_same_path_row_but_not_the_same_one_hot() -> (
    None
):
    space = create_space("nb201")
    # the two-edge routes 0->1->3 and 0->2->3 carry the same operations, each once
    a = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|"
    b = "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|"
    path, onehot = encoding(space, "path"), encoding(space, "onehot")
    assert (path.row(str_to_arch(a)) == path.row(str_to_arch(b))).all()
    assert (onehot.row(str_to_arch(a)) != onehot.row(str_to_arch(b))).any()


def test_darts_paths_run_from_each_cell_input_up_to_max_length() -> None:
    space = create_space("darts")
    assert cell_style(space) == "pairs"
    enc = encoding(space, "path", max_length=2)
    assert enc.width == 2 * 2 * (7 + 7**2)  # cells x inputs x sequences of 1-2 of 7 operations
    arch = genotype_to_arch(DARTS_V2)
    assert enc.row(arch).sum() == 12 + 8  # 12 one-operation paths, 8 of two through node 2
    # a chain in the normal cell: node 3 reads node 2, 4 reads 3, 5 reads 4 (and input 0 each)
    chain = {**arch, "normal.3.inputs": "2+0", "normal.4.inputs": "3+0", "normal.5.inputs": "4+0"}
    lengths = [encoding(space, "path", max_length=k).row(chain).sum() for k in (1, 2, 3, 4)]
    # normal cell: 5, 4, 3 and 2 paths of 1, 2, 3 and 4 operations; reduce cell: 5 and 6 of 1 and 2
    assert lengths == [5 + 5, 5 + 5 + 4 + 6, 20 + 3, 23 + 2]


def test_auto_is_path_and_one_hot_for_cells_and_one_hot_elsewhere() -> None:
    assert isinstance(encoding(create_space("nb201")), Concatenated)
    mbconv = create_space("mbconv")
    assert cell_style(mbconv) is None
    assert isinstance(encoding(mbconv), OneHot)
    with pytest.raises(
        NasError, match="the path encoding needs a cell space .* use encoding: onehot"
    ):
        encoding(mbconv, "path")


def test_encode_stacks_rows() -> None:
    space = create_space("nb201")
    enc = encoding(space)
    archs = [space.sample(np.random.default_rng(i)) for i in range(5)]
    x = enc.encode(archs)
    assert x.shape == (5, enc.width)
    assert (x[2] == enc.row(archs[2])).all()
