"""The SearchSpace interface every space (ours and third parties') implements."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from torch import nn

from nas.arch import Arch, Choice, arch_from_json, canonical_json
from nas.errors import NasError, did_you_mean


def validate_arch(
    arch: Mapping[str, Choice], decisions: Mapping[str, Sequence[Choice]], space_name: str
) -> Arch:
    """A copy of ``arch`` if it makes one of its choices per decision, else a clear NasError.

    What ``SearchSpace.validate`` does; a supernet given the space's decisions (plain values, not
    the space) validates with it exactly as its space does.
    """
    if not isinstance(arch, Mapping):
        raise NasError(f"an architecture must be a mapping of decisions, got {type(arch).__name__}")
    for key in arch:
        if key not in decisions:
            raise NasError(
                f"architecture has unknown decision {key!r} for space {space_name!r}"
                f"{did_you_mean(str(key), decisions)}"
            )
    out: Arch = {}
    for key, choices in decisions.items():
        if key not in arch:
            raise NasError(f"architecture lacks decision {key!r} of space {space_name!r}")
        value = arch[key]
        # exact type too, so that True is not taken for 1, nor 1 for 1.0
        if not any(c == value and type(c) is type(value) for c in choices):
            raise NasError(
                f"architecture decision {key!r} = {value!r} is not one of {list(choices)}"
            )
        out[key] = value
    return out


class SearchSpace(ABC):
    """Owns a set of independent categorical decisions and turns architectures into networks.

    Every combination of choices must be a valid architecture, so that any sampler over the
    decisions (Optuna's included) proposes only valid ones. Subclasses implement
    ``decisions`` and ``build``; ``format``/``parse`` default to canonical JSON and may be
    overridden with the space's native notation (with exact round-trips).

    Example:
        >>> space = create_space("nb201")                      # doctest: +SKIP
        >>> arch = space.sample(np.random.default_rng(0))      # doctest: +SKIP
        >>> model = space.build(arch, num_classes=10)          # doctest: +SKIP
    """

    name: ClassVar[str] = ""
    #: the task its networks are built for (a name in nas.registry.TASKS): what their output means
    task: ClassVar[str] = "classification"

    @abstractmethod
    def decisions(self) -> dict[str, tuple[Choice, ...]]:
        """Decision name -> its choices, in a fixed order."""

    @abstractmethod
    def build(
        self,
        arch: Mapping[str, Choice],
        *,
        num_classes: int,
        input_shape: tuple[int, int, int] = (3, 32, 32),
    ) -> nn.Module:
        """Build the standalone network for ``arch`` (input shape is channels, height, width)."""

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({options})"

    def size(self) -> int:
        """Number of distinct architectures."""
        return int(np.prod([len(c) for c in self.decisions().values()], dtype=object))

    def sample(self, rng: np.random.Generator) -> Arch:
        """Draw an architecture uniformly at random."""
        return {
            name: choices[rng.integers(len(choices))] for name, choices in self.decisions().items()
        }

    def mutate(self, arch: Mapping[str, Choice], rng: np.random.Generator) -> Arch:
        """Return a new architecture that differs from ``arch`` in exactly one decision."""
        decisions = {n: c for n, c in self.decisions().items() if len(c) > 1}
        if not decisions:
            raise NasError(
                f"space {self.name!r} has no decision with two or more choices to mutate"
            )
        child = dict(self.validate(arch))
        name = list(decisions)[rng.integers(len(decisions))]
        others = [c for c in decisions[name] if c != child[name]]
        child[name] = others[rng.integers(len(others))]
        return child

    def validate(self, arch: Mapping[str, Choice]) -> Arch:
        """Return a copy of ``arch`` if it belongs to this space, else raise a clear NasError."""
        return validate_arch(arch, self.decisions(), self.name)

    def format(self, arch: Mapping[str, Choice]) -> str:
        """The architecture in the space's notation (canonical JSON unless overridden)."""
        return canonical_json(self.validate(arch))

    def parse(self, text: str) -> Arch:
        """Parse the space's notation (or canonical JSON) into a validated architecture."""
        return self.validate(arch_from_json(text))


@dataclass(frozen=True)
class NetworkSpec:
    """How to construct one network: ``module.cls(**kwargs)``.

    ``module`` is the importable module that defines the network class (it may import torch, the
    standard library and other modules of its own package, nothing else, so that ``nas export``
    can inline it); ``kwargs`` are plain values (numbers, strings, booleans, None, lists, tuples,
    dicts, and dataclasses defined in that package) and include ``num_classes``.
    """

    module: str
    cls: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Exportable(Protocol):
    """A space whose networks ``nas export`` can write as standalone modules."""

    def network_spec(
        self, arch: Mapping[str, Choice], *, num_classes: int, input_shape: tuple[int, int, int]
    ) -> NetworkSpec:
        """The network class and constructor arguments that ``build(arch, ...)`` instantiates."""
        ...


def instantiate(spec: NetworkSpec) -> nn.Module:
    """Construct the network a spec describes (what ``build`` of an Exportable space returns)."""
    network_cls = getattr(importlib.import_module(spec.module), spec.cls)
    return network_cls(**spec.kwargs)


class SpecSearchSpace(SearchSpace):
    """A space that describes each network as a NetworkSpec; ``build`` instantiates it, so that
    building and ``nas export`` can never disagree. Subclasses implement ``network_spec``."""

    @abstractmethod
    def network_spec(
        self, arch: Mapping[str, Choice], *, num_classes: int, input_shape: tuple[int, int, int]
    ) -> NetworkSpec:
        """The network class and constructor arguments for ``arch``."""

    def build(
        self,
        arch: Mapping[str, Choice],
        *,
        num_classes: int,
        input_shape: tuple[int, int, int] = (3, 32, 32),
    ) -> nn.Module:
        """Instantiate ``network_spec(arch, ...)``."""
        return instantiate(
            self.network_spec(arch, num_classes=num_classes, input_shape=input_shape)
        )
