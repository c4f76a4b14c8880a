"""The DARTS genotype notation, the published genotypes, and their mapping to flat architectures.

A genotype lists, for each cell type, two ``(operation, input)`` pairs per intermediate node
(inputs 0 and 1 are the cell's two inputs, 2.. the earlier nodes). A flat architecture holds
the same information as three decisions per node, e.g. for node 2 of the normal cell:

    normal.2.inputs = "1+0"            the two inputs, in the order the genotype lists them
    normal.2.op1    = "sep_conv_3x3"   the operation on the first of them
    normal.2.op2    = "skip_connect"   the operation on the second

Every combination of choices is a valid cell (an input pair names two distinct earlier
nodes), and the listing order is kept, so genotypes round-trip exactly.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import NamedTuple

from nas.arch import Arch, Choice
from nas.errors import NasError

#: The two cell types, in genotype order.
CELL_TYPES: tuple[str, ...] = ("normal", "reduce")
#: Intermediate nodes of a cell, numbered as genotypes number them.
NODES: tuple[int, ...] = (2, 3, 4, 5)
#: Every cell's output concatenates all its intermediate nodes.
CONCAT: list[int] = list(NODES)
#: Longest genotype text ``parse_genotype`` reads.
MAX_TEXT = 20_000


class Genotype(NamedTuple):
    """A DARTS genotype, field for field as the reference code's namedtuple."""

    normal: list[tuple[str, int]]
    normal_concat: list[int]
    reduce: list[tuple[str, int]]
    reduce_concat: list[int]


def make_genotype(normal: list[tuple[str, int]], reduce: list[tuple[str, int]]) -> Genotype:
    """A genotype whose cells concatenate all four nodes."""
    return Genotype(normal, list(CONCAT), reduce, list(CONCAT))


# Published cells, copied from the authors' genotypes.py files (DARTS is DARTS_V2 there too).
DARTS_V1 = make_genotype(
    [
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("skip_connect", 0),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("skip_connect", 2),
    ],
    [
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("skip_connect", 2),
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 0),
        ("skip_connect", 2),
        ("skip_connect", 2),
        ("avg_pool_3x3", 0),
    ],
)
DARTS_V2 = make_genotype(
    [
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("skip_connect", 0),
        ("dil_conv_3x3", 2),
    ],
    [
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
        ("max_pool_3x3", 0),
        ("skip_connect", 2),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
    ],
)
PDARTS = make_genotype(
    [
        ("skip_connect", 0),
        ("dil_conv_3x3", 1),
        ("skip_connect", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 3),
        ("sep_conv_3x3", 0),
        ("dil_conv_5x5", 4),
    ],
    [
        ("avg_pool_3x3", 0),
        ("sep_conv_5x5", 1),
        ("sep_conv_3x3", 0),
        ("dil_conv_5x5", 2),
        ("max_pool_3x3", 0),
        ("dil_conv_3x3", 1),
        ("dil_conv_3x3", 1),
        ("dil_conv_5x5", 3),
    ],
)
PC_DARTS_CIFAR = make_genotype(
    [
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("sep_conv_3x3", 0),
        ("dil_conv_3x3", 1),
        ("sep_conv_5x5", 0),
        ("sep_conv_3x3", 1),
        ("avg_pool_3x3", 0),
        ("dil_conv_3x3", 1),
    ],
    [
        ("sep_conv_5x5", 1),
        ("max_pool_3x3", 0),
        ("sep_conv_5x5", 1),
        ("sep_conv_5x5", 2),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 3),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 2),
    ],
)
PC_DARTS_IMAGE = make_genotype(
    [
        ("skip_connect", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 0),
        ("skip_connect", 1),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 3),
        ("sep_conv_3x3", 1),
        ("dil_conv_5x5", 4),
    ],
    [
        ("sep_conv_3x3", 0),
        ("skip_connect", 1),
        ("dil_conv_5x5", 2),
        ("max_pool_3x3", 1),
        ("sep_conv_3x3", 2),
        ("sep_conv_3x3", 1),
        ("sep_conv_5x5", 0),
        ("sep_conv_3x3", 3),
    ],
)

#: Published genotypes by the names their authors gave them; ``DartsSpace.parse`` accepts these names.
GENOTYPES: dict[str, Genotype] = {
    "DARTS_V1": DARTS_V1,
    "DARTS_V2": DARTS_V2,
    "DARTS": DARTS_V2,
    "PDARTS": PDARTS,
    "PC_DARTS_cifar": PC_DARTS_CIFAR,
    "PC_DARTS_image": PC_DARTS_IMAGE,
}


def input_pairs(node: int) -> tuple[str, ...]:
    """The choices of a node's ``inputs`` decision: ordered pairs of distinct earlier nodes."""
    return tuple(f"{a}+{b}" for a in range(node) for b in range(node) if a != b)


def decision_names(cell: str, node: int) -> tuple[str, str, str]:
    """The three decisions of one node: its inputs, the op on the first, the op on the second."""
    return f"{cell}.{node}.inputs", f"{cell}.{node}.op1", f"{cell}.{node}.op2"


def arch_to_genotype(arch: Mapping[str, Choice]) -> Genotype:
    """The genotype of a (validated) architecture."""
    cells: dict[str, list[tuple[str, int]]] = {}
    for cell in CELL_TYPES:
        edges: list[tuple[str, int]] = []
        for node in NODES:
            inputs, op1, op2 = decision_names(cell, node)
            first, second = (int(i) for i in str(arch[inputs]).split("+"))
            edges += [(str(arch[op1]), first), (str(arch[op2]), second)]
        cells[cell] = edges
    return make_genotype(cells["normal"], cells["reduce"])


def genotype_to_arch(genotype: Genotype) -> Arch:
    """The flat architecture of a genotype (operation names are checked later, by the space)."""
    arch: Arch = {}
    for cell in CELL_TYPES:
        edges, concat = getattr(genotype, cell), getattr(genotype, f"{cell}_concat")
        if list(concat) != CONCAT:
            raise NasError(
                f"genotype {cell}_concat must be {CONCAT} (all four nodes), got {list(concat)}"
            )
        if len(edges) != 2 * len(NODES):
            raise NasError(
                f"genotype {cell} cell needs {2 * len(NODES)} (op, input) pairs, got {len(edges)}"
            )
        for k, node in enumerate(NODES):
            (op1, a), (op2, b) = edges[2 * k], edges[2 * k + 1]
            if not (0 <= a < node and 0 <= b < node) or a == b:
                raise NasError(
                    f"genotype {cell} node {node} has inputs {a} and {b}; they must be two different "
                    f"numbers below {node}"
                )
            inputs, first, second = decision_names(cell, node)
            arch[inputs], arch[first], arch[second] = f"{a}+{b}", op1, op2
    return arch


def format_genotype(genotype: Genotype) -> str:
    """The genotype as the reference code prints it: ``Genotype(normal=[('sep_conv_3x3', 0), ...], ...)``."""
    g = genotype
    return (
        f"Genotype(normal={[(str(o), int(i)) for o, i in g.normal]!r}, "
        f"normal_concat={[int(i) for i in g.normal_concat]!r}, "
        f"reduce={[(str(o), int(i)) for o, i in g.reduce]!r}, "
        f"reduce_concat={[int(i) for i in g.reduce_concat]!r})"
    )


def parse_genotype(text: str) -> Genotype:
    """Read ``Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)`` without evaluating it.

    Concats may be written as lists or as ``range(a, b)``; arguments by keyword or position.
    """
    if len(text) > MAX_TEXT:
        raise NasError(f"genotype text is {len(text)} characters long; at most {MAX_TEXT} are read")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise NasError(
            f"cannot read {_short(text)} as a genotype; write Genotype(normal=[(op, input), ...], "
            "normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])"
        ) from None
    if not (isinstance(tree, ast.Call) and _name(tree.func) == "Genotype"):
        raise NasError(
            f"{_short(text)} is not a genotype; it must be written Genotype(normal=[...], ...)"
        )
    fields = list(Genotype._fields)
    if len(tree.args) > len(fields):
        raise NasError(
            f"Genotype takes {len(fields)} fields ({', '.join(fields)}), got {len(tree.args)}"
        )
    given: dict[str, ast.expr] = dict(zip(fields, tree.args, strict=False))
    for kw in tree.keywords:
        if kw.arg not in fields or kw.arg in given:
            raise NasError(
                f"Genotype field {kw.arg!r} is unknown or given twice; fields are {', '.join(fields)}"
            )
        given[kw.arg] = kw.value
    missing = [f for f in fields if f not in given]
    if missing:
        raise NasError(f"genotype lacks field {missing[0]!r}")
    return Genotype(
        _edges(given["normal"], "normal"),
        _concat(given["normal_concat"], "normal_concat"),
        _edges(given["reduce"], "reduce"),
        _concat(given["reduce_concat"], "reduce_concat"),
    )


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # genotypes.Genotype(...)
        return node.attr
    return None


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _edges(node: ast.expr, field: str) -> list[tuple[str, int]]:
    if not isinstance(node, (ast.List, ast.Tuple)):
        raise NasError(f"genotype field {field!r} must be a list of (operation, input) pairs")
    edges = []
    for item in node.elts:
        op, src = (None, None)
        if isinstance(item, ast.Tuple) and len(item.elts) == 2:
            op, src = (_constant(e) for e in item.elts)
        if not (isinstance(op, str) and type(src) is int):
            raise NasError(
                f"genotype field {field!r} holds {ast.unparse(item)!r}; each entry must be ('op', input)"
            )
        edges.append((op, src))
    return edges


def _concat(node: ast.expr, field: str) -> list[int]:
    if isinstance(node, ast.Call) and _name(node.func) == "range" and not node.keywords:
        bounds = [b for b in (_constant(a) for a in node.args) if type(b) is int]
        if 1 <= len(node.args) <= 2 and len(bounds) == len(node.args):
            return list(range(*bounds))
    elif isinstance(node, (ast.List, ast.Tuple)):
        values = [v for v in (_constant(e) for e in node.elts) if type(v) is int]
        if len(values) == len(node.elts):
            return values
    raise NasError(f"genotype field {field!r} must be a list of node numbers or range(a, b)")


def _constant(node: ast.expr) -> object:
    return node.value if isinstance(node, ast.Constant) else None
