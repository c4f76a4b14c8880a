"""What an architecture looks like, as plain data a report can draw: the drawing protocol.

A space that wants its architectures drawn offers ``diagram(arch) -> list of parts``, each part
a ``CellGraph`` (a cell as a DAG: nodes, and edges labelled by their operation, drawn like the
DARTS paper's figures) or a ``StageDiagram`` (a network as a row of stages, each with its
width, depth and attributes). A space without ``diagram`` (a third party's, say) is shown as a
table of its decisions (``DecisionTable``). These types hold plain values only and import
nothing heavy, so any space may build them.

Example (a two-node cell):
    >>> CellGraph("cell", (Node("in", "input", "input"), Node("out", "output", "output")),
    ...           (Edge("in", "out", "conv_3x3"),))                          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from nas.errors import NasError

#: How a node is drawn: an input of the cell, an intermediate node, or its output.
NodeKind = Literal["input", "node", "output"]


@dataclass(frozen=True)
class Node:
    """One node of a cell: an id unique in its cell, the text shown, and its kind."""

    id: str
    label: str
    kind: NodeKind = "node"


@dataclass(frozen=True)
class Edge:
    """One edge of a cell, from node ``src`` to node ``dst``, labelled by its operation.

    ``muted`` edges (an operation that outputs zeros, a concatenation) are drawn light and dashed.
    """

    src: str
    dst: str
    label: str = ""
    muted: bool = False


@dataclass(frozen=True)
class CellGraph:
    """A cell as a directed acyclic graph."""

    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


@dataclass(frozen=True)
class Stage:
    """One stage of a network: ``layers`` blocks producing ``width`` channels, and what they are
    (``attributes``: shown as ``name value`` lines, e.g. kernel 5x5, expansion 6, SE yes)."""

    name: str
    layers: int
    width: int
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StageDiagram:
    """A network as a row of stages between a stem and a head."""

    title: str
    stages: tuple[Stage, ...]
    stem: str = "stem"
    head: str = "head"


@dataclass(frozen=True)
class DecisionTable:
    """The fallback: an architecture's decisions and choices, in the space's order."""

    title: str
    rows: tuple[tuple[str, str], ...]


#: One drawable part of an architecture's diagram.
DiagramPart = CellGraph | StageDiagram | DecisionTable


@runtime_checkable
class Diagrammable(Protocol):
    """A space whose architectures a report can draw."""

    def diagram(self, arch: Mapping[str, Any]) -> Sequence[DiagramPart]:
        """The parts that show ``arch``: cells as graphs, networks as stage diagrams."""
        ...


def decision_table(arch: Mapping[str, Any], title: str = "decisions") -> DecisionTable:
    """Any architecture as a table of its decisions (for spaces without ``diagram``)."""
    return DecisionTable(title, tuple((str(k), str(v)) for k, v in arch.items()))


def diagram_of(space: object, arch: Mapping[str, Any]) -> list[DiagramPart]:
    """The parts that draw ``arch``: the space's ``diagram`` where it has one, else the table."""
    if not isinstance(space, Diagrammable):
        return [decision_table(arch)]
    parts = list(space.diagram(arch))
    wrong = [p for p in parts if not isinstance(p, (CellGraph, StageDiagram, DecisionTable))]
    if not parts or wrong:
        raise NasError(
            f"{type(space).__name__}.diagram() returned {type(wrong[0]).__name__ if wrong else 'nothing'}; "
            "return a list of nas.diagrams CellGraph, StageDiagram or DecisionTable parts"
        )
    return parts
