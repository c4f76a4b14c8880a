from __future__ import annotations

import pytest

from nas import NasError, arch_id, canonical_json
from nas.arch import arch_from_json


def test_canonical_json_sorts_keys_and_is_compact() -> None:
    assert canonical_json({"b": 1, "a": "x"}) == '{"a":"x","b":1}'


def test_arch_id_is_stable_and_order_independent() -> None:
    a = {"x": "conv", "y": 3}
    assert arch_id(a) == arch_id({"y": 3, "x": "conv"})
    assert arch_id(a) != arch_id({"x": "conv", "y": 5})
    assert len(arch_id(a)) == 12
    # pinned: a changed id would break de-duplication in resumed runs
    assert arch_id({"1<-0": "none"}) == "2e2ba05a72dc"


def test_arch_from_json_round_trip_and_errors() -> None:
    arch = {"a": "x", "b": 2, "c": 0.5, "d": True}
    assert arch_from_json(canonical_json(arch)) == arch
    with pytest.raises(NasError, match="not valid JSON"):
        arch_from_json("{nope")
    with pytest.raises(NasError, match="must be an object"):
        arch_from_json("[1, 2]")
    with pytest.raises(NasError, match="decision 'a' has a list value"):
        arch_from_json('{"a": [1]}')
