"""Architectures drawn: each shipped space's diagram holds exactly its architecture, the SVG
is well-formed and lays every edge left to right, and other spaces fall back to a table."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

import nas
from nas import NasError
from nas.diagrams import (
    CellGraph,
    DecisionTable,
    Edge,
    Node,
    StageDiagram,
    diagram_of,
)
from nas.results.drawing import layers_of, render
from search_spaces.darts.genotypes import GENOTYPES

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> list[str]:
    """Every text element's text (subscripts joined), from parsing the SVG as XML."""
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_nb201_cell_is_the_arch_string() -> None:
    space = nas.create_space("nb201")
    arch = space.parse(
        "|skip_connect~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|avg_pool_3x3~2|"
    )
    (cell,) = diagram_of(space, arch)
    assert isinstance(cell, CellGraph)
    assert [(n.id, n.kind) for n in cell.nodes] == [
        ("0", "input"),
        ("1", "node"),
        ("2", "node"),
        ("3", "output"),
    ]
    drawn = {(e.src, e.dst): (e.label, e.muted) for e in cell.edges}
    assert drawn == {
        ("0", "1"): ("skip_connect", False),
        ("0", "2"): ("nor_conv_3x3", False),
        ("1", "2"): ("avg_pool_3x3", False),
        ("0", "3"): ("nor_conv_3x3", False),
        ("1", "3"): ("none", True),
        ("2", "3"): ("avg_pool_3x3", False),
    }
    svg = render(cell)
    assert sorted(texts(svg)) == sorted(
        ["0", "1", "2", "3", *(label for label, _ in drawn.values())]
    )


@pytest.mark.parametrize("name", ["DARTS_V2", "PDARTS"])
def test_darts_cells_are_the_genotype(name: str) -> None:
    space = nas.create_space("darts")
    normal, reduce = diagram_of(space, space.parse(name))
    genotype = GENOTYPES[name]
    for cell, half, title in (
        (normal, genotype.normal, "normal cell"),
        (reduce, genotype.reduce, "reduction cell"),
    ):
        assert isinstance(cell, CellGraph) and cell.title == title
        names = ["c_{k-2}", "c_{k-1}", "0", "1", "2", "3"]
        expected = sorted((names[src], str(k // 2), op) for k, (op, src) in enumerate(half))
        assert sorted((e.src, e.dst, e.label) for e in cell.edges if e.dst != "c_{k}") == expected
        assert sorted(e.src for e in cell.edges if e.dst == "c_{k}") == [
            "0",
            "1",
            "2",
            "3",
        ]  # the concat
        layer = layers_of(cell)
        assert layer["c_{k-2}"] == layer["c_{k-1}"] == 0
        assert all(layer[e.src] < layer[e.dst] for e in cell.edges)
        assert layer["c_{k}"] == max(layer.values())
        svg = render(cell)
        assert "c" + "k-2" in texts(svg)  # c_{k-2} is drawn as c with a subscript
        assert sorted(t for t in texts(svg) if "_" in t) == sorted(
            op for op, _ in half if "_" in op
        )


def test_mbconv_stages_are_the_choices_scaled() -> None:
    space = nas.create_space("mbconv", width_coefficient=0.5)
    arch = space.baseline()
    (diagram,) = diagram_of(space, arch)
    assert isinstance(diagram, StageDiagram)
    assert [s.layers for s in diagram.stages] == [1, 2, 2, 3, 3, 4, 1]
    assert [s.width for s in diagram.stages] == [8, 16, 24, 40, 56, 96, 160]  # B0's, halved
    assert [s.attributes["kernel"] for s in diagram.stages] == [
        "3x3",
        "3x3",
        "5x5",
        "3x3",
        "5x5",
        "5x5",
        "3x3",
    ]
    assert [s.attributes["expand"] for s in diagram.stages] == ["1", "6", "6", "6", "6", "6", "6"]
    assert {s.attributes["SE"] for s in diagram.stages} == {"yes"}
    shown = texts(render(diagram))
    assert (
        "160 ch" in shown
        and "\u00d74" in shown
        and "stem 16 ch" in shown
        and "head 640 ch" in shown
    )


class PlainSpace:
    """A space without a diagram (as a third party's may be)."""


class WrongSpace:
    def diagram(self, arch: Mapping[str, Any]) -> list[str]:
        return ["not a diagram part"]


def test_spaces_without_a_diagram_get_a_table_and_wrong_ones_an_error() -> None:
    (table,) = diagram_of(PlainSpace(), {"depth": 3, "act": "<relu>"})
    assert table == DecisionTable("decisions", (("depth", "3"), ("act", "<relu>")))
    html = render(table)
    assert "<code>&lt;relu&gt;</code>" in html and "<relu>" not in html  # escaped
    with pytest.raises(NasError, match="WrongSpace.diagram\\(\\) returned str"):
        diagram_of(WrongSpace(), {"depth": 3})


def test_any_cell_draws_with_escaped_labels_and_its_edges_left_to_right() -> None:
    rng = np.random.default_rng(0)
    nodes = [Node("in", "in<put>", "input")] + [Node(f"n{i}", f"n{i}") for i in range(5)]
    nodes.append(Node("out", "out", "output"))
    edges = [Edge("in", "n0", "op&1")]
    for i in range(1, 5):
        for j in rng.choice(i + 1, size=2, replace=False):
            edges.append(Edge("in" if j == i else f"n{j}", f"n{i}", f"op{j}"))
    edges += [Edge(f"n{i}", "out", muted=True) for i in range(5)]
    edges.append(Edge("n3", "n4", "op3"))  # a second edge between the same nodes
    svg = render(CellGraph("random", tuple(nodes), tuple(edges)))
    root = ET.fromstring(svg)  # well-formed: labels were escaped
    assert "in<put>" in texts(svg) and "op&1" in texts(svg)
    paths = [p for p in root.iter(f"{SVG}path") if p.get("marker-end")]
    assert len(paths) == len(edges)
    for path in paths:  # every edge runs from a node's right side to a later node's left side
        d = path.get("d", "").replace("M", "").replace("C", "").split()
        start, end = (float(v) for v in d[0].split(",")), (float(v) for v in d[-1].split(","))
        assert next(iter(start)) < next(iter(end))
