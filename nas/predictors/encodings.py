"""Architectures as feature rows: one-hot of the decisions (every space) and the path encoding
(cell spaces), as in BANANAS (White et al., AAAI 2021).

A decision an architecture lacks (an objective that asked for some decisions only) is a row of
zeros in the one-hot encoding. The path encoding counts, for each sequence of operations, the
paths through the cell that carry it; an operation named ``none`` cuts its edge.

Cell spaces are recognised by their decision names:

- NAS-Bench-201 style, ``"j<-i"`` (the operation on the edge from node i to node j; node 0 is
  the input, the largest node the output): paths from the input to the output;
- DARTS style, ``"<cell>.<node>.inputs"`` (a pair such as ``"1+0"``) with ``.op1`` and ``.op2``
  (the operations on those inputs; nodes 0 and 1 are the cell's inputs, every later node feeds
  the output): paths from each cell input to each node, up to ``max_length`` operations, per cell.

Example:
    >>> enc = encoding(create_space("nb201"), "path")   # doctest: +SKIP
    >>> enc.width                                        # doctest: +SKIP
    84
"""

from __future__ import annotations

import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from nas.arch import Choice
from nas.errors import NasError
from nas.space import SearchSpace

EncodingName = Literal["auto", "onehot", "path", "path+onehot"]
#: The operation that means "no edge" in a cell.
NONE_OP = "none"
_EDGE = re.compile(r"^(\d+)<-(\d+)$")


class Encoding(ABC):
    """Turns architectures into rows of ``width`` floats."""

    width: int

    @abstractmethod
    def row(self, arch: Mapping[str, Choice]) -> np.ndarray:
        """The feature row of one architecture."""

    def encode(self, archs: Sequence[Mapping[str, Choice]]) -> np.ndarray:
        """An (n, width) matrix, one row per architecture."""
        out = np.zeros((len(archs), self.width))
        for i, arch in enumerate(archs):
            out[i] = self.row(arch)
        return out


class OneHot(Encoding):
    """One column per (decision, choice); works for every space."""

    def __init__(self, space: SearchSpace) -> None:
        self._columns: dict[str, dict[Choice, int]] = {}
        width = 0
        for name, choices in space.decisions().items():
            self._columns[name] = {c: width + k for k, c in enumerate(choices)}
            width += len(choices)
        self.width = width

    def row(self, arch: Mapping[str, Choice]) -> np.ndarray:
        """1 in the column of each decision's choice."""
        out = np.zeros(self.width)
        for name, columns in self._columns.items():
            column = columns.get(arch[name]) if name in arch else None
            if column is not None:
                out[column] = 1.0
        return out


class PathCounts(Encoding):
    """Counts of operation sequences along paths, for cells whose paths :meth:`paths` lists."""

    def __init__(self, ops: Sequence[str], groups: Sequence[str], max_length: int) -> None:
        self._ops = [op for op in ops if op != NONE_OP]
        self._index: dict[tuple[str, tuple[str, ...]], int] = {}
        for group in groups:
            for length in range(1, max_length + 1):
                for seq in itertools.product(self._ops, repeat=length):
                    self._index[(group, seq)] = len(self._index)
        self.max_length = max_length
        self.width = len(self._index)

    @abstractmethod
    def paths(self, arch: Mapping[str, Choice]) -> list[tuple[str, tuple[str, ...]]]:
        """(group, operations) of every path of the cell (operations ``none`` never included)."""

    def row(self, arch: Mapping[str, Choice]) -> np.ndarray:
        """How many paths carry each sequence of operations."""
        out = np.zeros(self.width)
        for key in self.paths(arch):
            column = self._index.get(key)
            if column is not None:
                out[column] += 1.0
        return out


class EdgeCellPaths(PathCounts):
    """Input-to-output paths of a NAS-Bench-201 style cell (decisions ``"j<-i"``)."""

    def __init__(self, space: SearchSpace) -> None:
        decisions = space.decisions()
        edges = {name: tuple(map(int, _EDGE.match(name).groups())) for name in decisions}  # type: ignore[union-attr]
        last = max(dst for dst, _ in edges.values())
        by_pair = {(src, dst): name for name, (dst, src) in edges.items()}
        self._routes: list[list[str]] = []
        for inner in range(last):
            for middle in itertools.combinations(range(1, last), inner):
                nodes = (0, *middle, last)
                hops = list(zip(nodes, nodes[1:], strict=False))
                if all(hop in by_pair for hop in hops):
                    self._routes.append([by_pair[hop] for hop in hops])
        ops = sorted({str(c) for choices in decisions.values() for c in choices})
        super().__init__(ops, [""], max(len(r) for r in self._routes))

    def paths(self, arch: Mapping[str, Choice]) -> list[tuple[str, tuple[str, ...]]]:
        """Every input-to-output route whose edges all carry an operation."""
        out = []
        for route in self._routes:
            if all(edge in arch for edge in route):
                ops = tuple(str(arch[edge]) for edge in route)
                if NONE_OP not in ops:
                    out.append(("", ops))
        return out


class PairCellPaths(PathCounts):
    """Paths of DARTS style cells (decisions ``<cell>.<node>.inputs/op1/op2``), per cell and cell input."""

    def __init__(self, space: SearchSpace, max_length: int = 3) -> None:
        decisions = space.decisions()
        self._cells: dict[str, list[int]] = {}
        ops: set[str] = set()
        for name, choices in decisions.items():
            cell, node, kind = name.split(".")
            if kind == "inputs":
                self._cells.setdefault(cell, []).append(int(node))
            else:
                ops.update(str(c) for c in choices)
        for nodes in self._cells.values():
            nodes.sort()
        groups = [f"{cell}:{k}" for cell in self._cells for k in (0, 1)]
        super().__init__(sorted(ops), groups, max_length)

    def paths(self, arch: Mapping[str, Choice]) -> list[tuple[str, tuple[str, ...]]]:
        """Every path from a cell input to a node, as long as ``max_length`` operations at most."""
        out = []
        for cell, nodes in self._cells.items():
            reaching: dict[int, list[tuple[int, tuple[str, ...]]]] = {}
            for node in nodes:
                reaching[node] = []
                inputs = arch.get(f"{cell}.{node}.inputs")
                if inputs is None:
                    continue
                for src, slot in zip(
                    map(int, str(inputs).split("+")), ("op1", "op2"), strict=False
                ):
                    op = arch.get(f"{cell}.{node}.{slot}")
                    if op is None or op == NONE_OP:
                        continue
                    heads = [(src, ())] if src < 2 else reaching.get(src, [])
                    for start, ops in heads:
                        if len(ops) < self.max_length:
                            reaching[node].append((start, (*ops, str(op))))
                out += [(f"{cell}:{start}", ops) for start, ops in reaching[node]]
        return out


class Concatenated(Encoding):
    """Several encodings side by side."""

    def __init__(self, parts: Sequence[Encoding]) -> None:
        self.parts = list(parts)
        self.width = sum(p.width for p in parts)

    def row(self, arch: Mapping[str, Choice]) -> np.ndarray:
        """The parts' rows, concatenated."""
        return np.concatenate([p.row(arch) for p in self.parts])


def cell_style(space: SearchSpace) -> str | None:
    """``"edges"`` (NAS-Bench-201 style), ``"pairs"`` (DARTS style) or None (not a cell space)."""
    names = list(space.decisions())
    if names and all(_EDGE.match(n) for n in names):
        return "edges"
    parts = [n.split(".") for n in names]
    if names and all(len(p) == 3 and p[1].isdigit() for p in parts):
        if all(p[2] in ("inputs", "op1", "op2") for p in parts):
            return "pairs"
    return None


def encoding(space: SearchSpace, name: EncodingName = "auto", *, max_length: int = 3) -> Encoding:
    """The encoding ``name`` of ``space``'s architectures (``auto``: path+onehot for cell spaces,
    else one-hot); ``max_length`` bounds the paths of DARTS style cells."""
    style = cell_style(space)
    if name == "onehot" or (name == "auto" and style is None):
        return OneHot(space)
    if style is None:
        raise NasError(
            f"the path encoding needs a cell space (decisions named 'j<-i' as in nb201, or "
            f"'<cell>.<node>.inputs/op1/op2' as in darts); space {space.name!r} is not one: "
            "use encoding: onehot"
        )
    paths: Encoding = EdgeCellPaths(space) if style == "edges" else PairCellPaths(space, max_length)
    if name == "path":
        return paths
    return Concatenated([paths, OneHot(space)])
