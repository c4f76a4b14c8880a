"""The conformance suite every registered search space must pass."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nas import SPACES, NasError, arch_id, canonical_json, create_space
from nas.arch import arch_from_json
from nas.supernet import HasMixedSupernet, HasSupernet, MixedSupernet, Supernet
from nas.tasks import task_named
from tests.search_spaces.conftest import DEFAULT_INPUT_SHAPE, INPUT_SHAPES, SMALL_OPTIONS

SPACE_NAMES = SPACES.names()


def make(name: str):
    return create_space(name, **SMALL_OPTIONS.get(name, {}))


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_sample_validate_build_forward_backward(name: str) -> None:
    space = make(name)
    shape = INPUT_SHAPES.get(name, DEFAULT_INPUT_SHAPE)
    rng = np.random.default_rng(0)
    for _ in range(3):
        arch = space.sample(rng)
        assert space.validate(arch) == arch
        model = space.build(arch, num_classes=7, input_shape=shape)
        out = model(torch.randn(2, *shape))
        assert out.shape == (2, *task_named(space.task).output_shape(7, shape))
        out.sum().backward()
        assert any(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_decisions_are_categorical_and_json_serialisable(name: str) -> None:
    decisions = make(name).decisions()
    assert decisions and all(len(choices) >= 1 for choices in decisions.values())
    json.dumps({k: list(v) for k, v in decisions.items()})


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_mutate_changes_exactly_one_decision_and_returns_a_new_arch(name: str) -> None:
    space = make(name)
    rng = np.random.default_rng(1)
    for _ in range(20):
        arch = space.sample(rng)
        before = dict(arch)
        child = space.mutate(arch, rng)
        assert arch == before, "mutate must not change its input"
        assert space.validate(child) == child
        assert sum(child[k] != arch[k] for k in arch) == 1


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_same_seed_same_architectures(name: str) -> None:
    space = make(name)
    first = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    second = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    assert first == second
    assert (
        len({arch_id(a) for a in [space.sample(np.random.default_rng(s)) for s in range(20)]}) > 1
    )


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_json_and_native_notation_round_trip(name: str) -> None:
    space = make(name)
    rng = np.random.default_rng(2)
    for _ in range(10):
        arch = space.sample(rng)
        assert arch_from_json(canonical_json(arch)) == arch
        text = space.format(arch)
        assert space.parse(text) == arch
        assert space.format(space.parse(text)) == text
        assert space.parse(canonical_json(arch)) == arch


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_invalid_architectures_raise_clear_errors(name: str) -> None:
    space = make(name)
    arch = space.sample(np.random.default_rng(3))
    key = next(iter(arch))
    with pytest.raises(NasError, match="unknown decision"):
        space.validate({**arch, "no_such_decision": 1})
    with pytest.raises(NasError, match="lacks decision"):
        space.validate({k: v for k, v in arch.items() if k != key})
    with pytest.raises(NasError, match="is not one of"):
        space.validate({**arch, key: "__import__('os').system('true')"})
    with pytest.raises(NasError):
        space.parse("not an architecture")


def _supernet_spaces() -> list[str]:
    return [n for n in SPACE_NAMES if isinstance(make(n), HasSupernet)]


def _mixed_spaces() -> list[str]:
    return [n for n in SPACE_NAMES if isinstance(make(n), HasMixedSupernet)]


@pytest.mark.parametrize("name", _supernet_spaces())
def test_supernet_restricted_to_an_arch_computes_the_standalone_network(name: str) -> None:
    space = make(name)
    shape = INPUT_SHAPES.get(name, DEFAULT_INPUT_SHAPE)
    torch.manual_seed(0)
    supernet = space.supernet(num_classes=7, input_shape=shape)
    assert isinstance(supernet, Supernet)
    rng = np.random.default_rng(4)
    x = torch.randn(4, *shape)
    supernet.train()
    with torch.no_grad():
        for _ in range(4):  # move the BN statistics of several paths away from their initial values
            supernet.set_arch(space.sample(rng))
            supernet(x)
    supernet.eval()
    outputs = []
    for _ in range(3):
        arch = space.sample(rng)
        supernet.set_arch(arch)
        model = space.build(arch, num_classes=7, input_shape=shape)
        model.load_state_dict(supernet.subnet_state_dict(arch), strict=True)
        model.eval()
        with torch.no_grad():
            expected, got = model(x), supernet(x)
        torch.testing.assert_close(got, expected)
        outputs.append(got)
    assert not torch.allclose(outputs[0], outputs[1]), (
        "different paths should compute different functions"
    )


@pytest.mark.parametrize("name", _supernet_spaces())
def test_supernet_refuses_an_architecture_outside_the_space_as_the_space_does(name: str) -> None:
    space = make(name)
    shape = INPUT_SHAPES.get(name, DEFAULT_INPUT_SHAPE)
    supernet = space.supernet(num_classes=7, input_shape=shape)
    arch = space.sample(np.random.default_rng(3))
    key = next(iter(arch))
    for bad in (
        {**arch, "no_such_decision": 1},
        {k: v for k, v in arch.items() if k != key},
        {**arch, key: "no such choice"},
    ):
        with pytest.raises(NasError) as expected:
            space.validate(bad)
        for method in (supernet.set_arch, supernet.subnet_state_dict):
            with pytest.raises(NasError) as got:
                method(bad)
            assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("name", _mixed_spaces())
def test_mixed_supernet_trains_weights_and_alphas_and_derives_a_valid_arch(name: str) -> None:
    space = make(name)
    shape = INPUT_SHAPES.get(name, DEFAULT_INPUT_SHAPE)
    torch.manual_seed(0)
    mixed = space.mixed_supernet(num_classes=7, input_shape=shape)
    assert isinstance(mixed, MixedSupernet)
    alphas, weights = mixed.arch_parameters(), mixed.weight_parameters()
    assert alphas and weights
    assert {id(p) for p in alphas}.isdisjoint(id(p) for p in weights)
    assert len(alphas) + len(weights) == len(list(mixed.parameters()))
    loss = torch.nn.functional.cross_entropy(mixed(torch.randn(4, *shape)), torch.arange(4))
    loss.backward()
    for alpha in alphas:
        assert (
            alpha.grad is not None
            and torch.isfinite(alpha.grad).all()
            and alpha.grad.abs().sum() > 0
        )
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)
    for choice_weights in mixed.alphas().values():
        assert sum(choice_weights.values()) == pytest.approx(1.0)
    assert space.validate(mixed.derive()) == mixed.derive()
    with torch.no_grad():  # derive follows the alphas: a different preference gives another arch
        for alpha in alphas:
            alpha.copy_(torch.randn(alpha.shape, generator=torch.Generator().manual_seed(5)))
    assert space.validate(mixed.derive()) == mixed.derive()
