"""Property-based tests: every notation parser and the config loader, on arbitrary input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nas import SPACES, NasError, create_space
from nas.arch import arch_from_json, canonical_json
from nas.config import apply_overrides, resolve_config
from tests.search_spaces.conftest import SMALL_OPTIONS

SPACE_NAMES = SPACES.names()
# the tiny_config fixture is only read, never changed, so sharing it across examples is safe
QUICK = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def archs(name: str) -> st.SearchStrategy[dict]:
    space = create_space(name, **SMALL_OPTIONS.get(name, {}))
    return st.fixed_dictionaries({k: st.sampled_from(v) for k, v in space.decisions().items()})


@pytest.mark.parametrize("name", SPACE_NAMES)
@QUICK
@given(data=st.data())
def test_any_architecture_round_trips_through_both_notations(
    name: str, data: st.DataObject
) -> None:
    space = create_space(name, **SMALL_OPTIONS.get(name, {}))
    arch = data.draw(archs(name))
    assert space.parse(space.format(arch)) == arch
    assert space.parse(canonical_json(arch)) == arch


@pytest.mark.parametrize("name", SPACE_NAMES)
@QUICK
@given(text=st.text(max_size=200))
def test_parsers_refuse_garbage_with_nas_errors_only(name: str, text: str) -> None:
    space = create_space(name, **SMALL_OPTIONS.get(name, {}))
    try:
        arch = space.parse(text)
    except NasError as exc:
        assert "\n" not in str(exc)
    else:
        assert space.validate(arch) == arch


@pytest.mark.parametrize("name", SPACE_NAMES)
@QUICK
@given(data=st.data())
def test_parsers_refuse_mutated_notation(name: str, data: st.DataObject) -> None:
    space = create_space(name, **SMALL_OPTIONS.get(name, {}))
    text = space.format(data.draw(archs(name)))
    i = data.draw(st.integers(0, len(text) - 1))
    mutated = (
        text[:i]
        + data.draw(st.sampled_from(["", "x", "9", "|", "~", "(", "'", " ", "_"]))
        + text[i + 1 :]
    )
    try:
        arch = space.parse(mutated)
    except NasError:
        return
    assert space.validate(arch) == arch  # a mutation may land on another valid architecture


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 50), st.floats(allow_nan=True), st.text(max_size=12)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
KEYS = st.sampled_from(
    [
        "name",
        "seed",
        "trials",
        "space",
        "dataset",
        "strategy",
        "evaluator",
        "training",
        "objectives",
        "storage",
        "output",
        "costs",
        "max_consecutive_failures",
        "typo",
    ]
)


@QUICK
@given(changes=st.dictionaries(KEYS, VALUES, max_size=4))
def test_config_loader_accepts_or_refuses_in_one_line(
    tiny_config: dict, changes: dict[str, Any]
) -> None:
    try:
        config = resolve_config({**tiny_config, **changes})
    except NasError as exc:
        assert "\n" not in str(exc) and str(exc)
    else:
        assert resolve_config(config.to_yaml_dict()) == config


@QUICK
@given(
    key=st.lists(
        st.sampled_from(["seed", "training", "lr", "strategy", "x", "name"]), min_size=1, max_size=3
    ),
    value=st.text(max_size=10),
)
def test_overrides_apply_or_refuse_in_one_line(
    tiny_config: dict, key: list[str], value: str
) -> None:
    try:
        resolve_config(apply_overrides(tiny_config, [f"{'.'.join(key)}={value}"]))
    except NasError as exc:
        assert "\n" not in str(exc)


@QUICK
@given(text=st.text(max_size=100))
def test_arch_json_parser_refuses_garbage_with_nas_errors_only(text: str) -> None:
    try:
        arch = arch_from_json(text)
    except NasError:
        return
    assert isinstance(arch, dict)
