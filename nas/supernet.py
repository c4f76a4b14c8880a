"""Interfaces of the networks that share weights across a space's architectures.

A space offers them by defining ``supernet()`` (weight sharing, one path per forward) and, for
cell spaces, ``mixed_supernet()`` (DARTS continuous relaxation). Strategies and evaluators check
for them with ``isinstance(space, HasSupernet)``; a space without one is refused with a clear
error, never with a capability flag or a NotImplementedError.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from nas.arch import Arch, Choice


class Supernet(nn.Module, ABC):
    """Holds the weights of every choice; ``forward`` follows the architecture last set."""

    @abstractmethod
    def set_arch(self, arch: Mapping[str, Choice]) -> None:
        """Make ``arch`` the path that ``forward`` follows."""

    @abstractmethod
    def subnet_state_dict(self, arch: Mapping[str, Choice]) -> dict[str, torch.Tensor]:
        """The shared weights of ``arch``, keyed to load into ``space.build(arch, ...)`` exactly."""


class MixedSupernet(nn.Module, ABC):
    """DARTS continuous relaxation: every edge is a softmax-weighted mixture of its choices."""

    @abstractmethod
    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture parameters (alphas)."""

    @abstractmethod
    def weight_parameters(self) -> list[nn.Parameter]:
        """The network weights (everything but the alphas)."""

    @abstractmethod
    def alphas(self) -> dict[str, dict[str, float]]:
        """Softmax weight of each choice, per decision (for the alpha history and plots)."""

    @abstractmethod
    def derive(self) -> Arch:
        """The discrete architecture the current alphas select."""


@runtime_checkable
class HasSupernet(Protocol):
    """A space that can build a weight-sharing supernet."""

    def supernet(
        self, *, num_classes: int, input_shape: tuple[int, int, int] = (3, 32, 32)
    ) -> Supernet:
        """A supernet covering every architecture of the space."""
        ...


@runtime_checkable
class HasMixedSupernet(Protocol):
    """A cell space that can build a DARTS mixed supernet."""

    def mixed_supernet(
        self,
        *,
        num_classes: int,
        input_shape: tuple[int, int, int] = (3, 32, 32),
        generator: torch.Generator | None = None,
    ) -> MixedSupernet:
        """The continuous relaxation of the space; alphas start uniform (zero), or at
        1e-3 * N(0, 1) from ``generator``."""
        ...
