"""Drawing architecture diagrams (``nas.diagrams``) as inline SVG, no graphviz needed.

Cells are laid out in layers (a node one layer right of its furthest input), inputs on the left
and the output on the right; edges are curves that bend around the nodes they would cross, with
the operation written on them and a colour per operation, as in the DARTS paper's figures.
Networks of stages are drawn as a row of bars (height: width in channels) between stem and head.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
import zlib
from collections.abc import Sequence

from nas.diagrams import CellGraph, DecisionTable, DiagramPart, Edge, StageDiagram

NODE_W, NODE_H = 72.0, 32.0
#: Edge labels use a monospace font so that their width is known: 0.6 em per character.
LABEL_FONT, CHAR_W, LABEL_H = 11.0, 6.6, 15.0
MARGIN = 14.0
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f")  # fmt: skip
#: Colours of well-known operations (NAS-Bench-201's and DARTS'); others get one of PALETTE by name.
OP_COLORS = {
    "skip_connect": "#17becf", "avg_pool_3x3": "#ff7f0e", "max_pool_3x3": "#2ca02c",
    "nor_conv_1x1": "#9467bd", "nor_conv_3x3": "#d62728", "sep_conv_3x3": "#1f77b4",
    "sep_conv_5x5": "#8c564b", "dil_conv_3x3": "#e377c2", "dil_conv_5x5": "#bcbd22",
}  # fmt: skip
NODE_FILL = {"input": "#c7e9c0", "node": "#c6dbef", "output": "#fdd98b"}
MUTED = "#b0b0b0"
#: Every colour an edge can have (one arrow head each).
COLORS = tuple(dict.fromkeys((*PALETTE, *OP_COLORS.values(), MUTED)))

Point = tuple[float, float]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def render(part: DiagramPart) -> str:
    """HTML for one diagram part: an SVG for cells and stages, a table for decisions."""
    if isinstance(part, CellGraph):
        return cell_svg(part)
    if isinstance(part, StageDiagram):
        return stages_svg(part)
    return table_html(part)


def op_color(label: str) -> str:
    """The colour of an operation: the same for the same name in every figure."""
    return OP_COLORS.get(label) or PALETTE[zlib.crc32(label.encode()) % len(PALETTE)]


def rich_text(label: str) -> str:
    """Escaped SVG text where ``a_{b}`` becomes a with subscript b."""
    parts = re.split(r"_\{([^}]*)\}", label)
    out = [html.escape(parts[0])]
    for i in range(1, len(parts), 2):
        out.append(f'<tspan baseline-shift="sub" font-size="75%">{html.escape(parts[i])}</tspan>')
        out.append(html.escape(parts[i + 1]))
    return "".join(out)


def layers_of(cell: CellGraph) -> dict[str, int]:
    """Each node's layer: inputs 0, every other node one more than its furthest input."""
    layer = {n.id: 0 for n in cell.nodes}
    for _ in range(len(cell.nodes)):  # longest path by relaxation: a DAG settles in |nodes| rounds
        changed = False
        for e in cell.edges:
            if e.src in layer and e.dst in layer and layer[e.dst] < layer[e.src] + 1:
                layer[e.dst], changed = layer[e.src] + 1, True
        if not changed:
            break
    last = max(layer.values(), default=0)
    for n in cell.nodes:  # an output without edges still goes rightmost
        if n.kind == "output" and layer[n.id] < last:
            layer[n.id] = last if any(e.dst == n.id for e in cell.edges) else last + 1
    return layer


def positions(cell: CellGraph, gap: float, vgap: float) -> dict[str, Point]:
    """Node centres: x by layer; in each layer, nodes ordered by their inputs' mean height."""
    layer = layers_of(cell)
    pos: dict[str, Point] = {}
    for depth in range(max(layer.values(), default=0) + 1):
        ids = [n.id for n in cell.nodes if layer[n.id] == depth]

        def barycentre(node: str) -> float:
            ys = [pos[e.src][1] for e in cell.edges if e.dst == node and e.src in pos]
            return sum(ys) / len(ys) if ys else 0.0

        if depth > 0:
            ids.sort(key=barycentre)
        for i, node in enumerate(ids):
            pos[node] = (depth * gap, (i - (len(ids) - 1) / 2) * vgap)
    return pos


def bezier(p0: Point, p3: Point, bend: float) -> tuple[Point, Point, Point, Point]:
    """A cubic from the right side of one node to the left side of another, bowed by ``bend``."""
    dx = (p3[0] - p0[0]) * 0.4
    return p0, (p0[0] + dx, p0[1] + bend), (p3[0] - dx, p3[1] + bend), p3


def at(curve: Sequence[Point], t: float) -> Point:
    """The point of a cubic Bezier curve at parameter ``t``."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = curve
    a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t**3
    return a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3


def overlap(a: Box, b: Box) -> float:
    """The area two boxes share."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def node_box(p: Point, pad: float = 0.0) -> Box:
    """The box a node occupies, grown by ``pad``."""
    return (p[0] - NODE_W / 2 - pad, p[1] - NODE_H / 2 - pad,
            p[0] + NODE_W / 2 + pad, p[1] + NODE_H / 2 + pad)  # fmt: skip


def route(edge: Edge, pos: dict[str, Point], vgap: float, seen: int) -> tuple[Point, ...]:
    """The curve of an edge: straight-ish when nothing is in the way, else bowed around the
    nodes it would cross (``seen``: earlier edges between the same nodes, bowed apart)."""
    p0 = (pos[edge.src][0] + NODE_W / 2, pos[edge.src][1])
    p3 = (pos[edge.dst][0] - NODE_W / 2, pos[edge.dst][1])
    others = [node_box(p, 4.0) for n, p in pos.items() if n not in (edge.src, edge.dst)]
    sign = -1.0 if (p0[1] + p3[1]) <= 0 else 1.0  # bow away from the middle of the drawing
    bends = [0.0] if seen == 0 else []
    for k in range(1, 7):
        bends += [sign * k * 0.45 * vgap, -sign * k * 0.45 * vgap]
    best, best_hits = bezier(p0, p3, bends[0]), math.inf
    for bend in bends:
        curve = bezier(p0, p3, bend)
        samples = [at(curve, i / 24) for i in range(1, 24)]
        hits = sum(1 for x, y in samples for b in others if b[0] < x < b[2] and b[1] < y < b[3])
        if hits < best_hits:
            best, best_hits = curve, hits
        if hits == 0:
            break
    return best


def place_label(curve: Sequence[Point], text: str, taken: list[Box]) -> Box:
    """Where an edge's label goes: on the curve, where it covers the fewest other labels and nodes."""
    w, h = CHAR_W * len(text) + 6, LABEL_H
    best: Box | None = None
    best_cost = math.inf
    for t in (0.5, 0.4, 0.6, 0.3, 0.7, 0.25, 0.75, 0.2, 0.8):
        x, y = at(curve, t)
        box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
        cost = sum(overlap(box, other) for other in taken)
        if cost < best_cost:
            best, best_cost = box, cost
        if cost == 0:
            break
    assert best is not None
    taken.append(best)
    return best


def cell_svg(cell: CellGraph) -> str:
    """An SVG drawing of a cell: nodes coloured by kind, edges labelled and coloured by operation."""
    widest = max((len(e.label) for e in cell.edges), default=4)
    gap, vgap = NODE_W + 1.5 * (CHAR_W * widest + 6) + 24, 76.0
    pos = positions(cell, gap, vgap)
    uid = "nas" + hashlib.sha1(repr(cell).encode()).hexdigest()[:10]
    taken = [node_box(p, 2.0) for p in pos.values()]
    paths: list[str] = []
    labels: list[str] = []
    pairs: dict[tuple[str, str], int] = {}
    edges = sorted(cell.edges, key=lambda e: e.muted)  # muted edges first: drawn underneath
    for edge in edges:
        if edge.src not in pos or edge.dst not in pos:
            continue
        seen = pairs.get((edge.src, edge.dst), 0)
        pairs[(edge.src, edge.dst)] = seen + 1
        curve = route(edge, pos, vgap, seen)
        color = MUTED if edge.muted else op_color(edge.label)
        d = "M{:.1f},{:.1f} C{:.1f},{:.1f} {:.1f},{:.1f} {:.1f},{:.1f}".format(
            *(v for p in curve for v in p)
        )
        dash = ' stroke-dasharray="5,4"' if edge.muted else ""
        marker = f"{uid}-{COLORS.index(color)}"
        paths.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="1.6"{dash} '
                     f'marker-end="url(#{marker})"/>')  # fmt: skip
        for p in curve:
            taken.append((p[0], p[1], p[0], p[1]))  # curves widen the drawing's bounds
        if edge.label:
            x0, y0, x1, y1 = place_label(curve, edge.label, taken)
            labels.append(
                f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" '
                f'rx="3" fill="white" fill-opacity="0.88"/><text x="{(x0 + x1) / 2:.1f}" '
                f'y="{(y0 + y1) / 2 + 4:.1f}" text-anchor="middle" font-family="monospace" '
                f'font-size="{LABEL_FONT:g}" fill="{color}">{html.escape(edge.label)}</text>'
            )
    nodes = []
    for node in cell.nodes:
        x, y = pos[node.id]
        nodes.append(
            f'<rect x="{x - NODE_W / 2:.1f}" y="{y - NODE_H / 2:.1f}" width="{NODE_W:g}" '
            f'height="{NODE_H:g}" rx="{10 if node.kind == "node" else 3}" '
            f'fill="{NODE_FILL.get(node.kind, NODE_FILL["node"])}" stroke="#555"/>'
            f'<text x="{x:.1f}" y="{y + 5:.1f}" text-anchor="middle" font-family="sans-serif" '
            f'font-size="14">{rich_text(node.label)}</text>'
        )
    return _svg(cell.title, uid, taken, paths + nodes + labels)


def _svg(title: str, uid: str, boxes: list[Box], body: list[str]) -> str:
    x0 = min(b[0] for b in boxes) - MARGIN
    y0 = min(b[1] for b in boxes) - MARGIN
    w = max(b[2] for b in boxes) + MARGIN - x0
    h = max(b[3] for b in boxes) + MARGIN - y0
    markers = [(f"{uid}-{i}", c) for i, c in enumerate(COLORS)]
    defs = "".join(
        f'<marker id="{m}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{c}"/></marker>'
        for m, c in markers
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="nas-diagram" width="{w:.0f}" '
        f'height="{h:.0f}" viewBox="{x0:.1f} {y0:.1f} {w:.1f} {h:.1f}" role="img">'
        f"<title>{html.escape(title)}</title><defs>{defs}</defs>{''.join(body)}</svg>"
    )


def stages_svg(diagram: StageDiagram) -> str:
    """An SVG row of stage bars (height: channels, on a square-root scale) between stem and head."""
    col, bar_w, tallest = 100.0, 64.0, 110.0
    widest = max((s.width for s in diagram.stages), default=1) or 1
    lines = max((len(s.attributes) for s in diagram.stages), default=0)
    uid = "nas" + hashlib.sha1(repr(diagram).encode()).hexdigest()[:10]
    body: list[str] = []
    boxes: list[Box] = [(0.0, -tallest - 22, col, 0.0)]
    _end_box(body, boxes, 0.0, diagram.stem, tallest)
    for i, stage in enumerate(diagram.stages, start=1):
        x = i * col + (col - bar_w) / 2
        h = 18 + (tallest - 18) * math.sqrt(max(stage.width, 0) / widest)
        color = op_color(next(iter(stage.attributes.values()), stage.name))
        body.append(
            f'<rect x="{x:.1f}" y="{-h:.1f}" width="{bar_w:g}" height="{h:.1f}" rx="3" '
            f'fill="{color}" fill-opacity="0.75" stroke="#444"/>'
            f'<text x="{x + bar_w / 2:.1f}" y="{-h - 6:.1f}" text-anchor="middle" '
            f'font-family="sans-serif" font-size="12">{stage.width} ch</text>'
            f'<text x="{x + bar_w / 2:.1f}" y="-5" text-anchor="middle" font-family="sans-serif" '
            f'font-size="13" font-weight="bold" fill="white">\u00d7{stage.layers}</text>'
        )
        texts = [f'<tspan font-weight="bold">{html.escape(stage.name)}</tspan>']
        texts += [f"{html.escape(k)} {html.escape(v)}" for k, v in stage.attributes.items()]
        for j, text in enumerate(texts):
            body.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{18 + 15 * j}" text-anchor="middle" '
                f'font-family="sans-serif" font-size="12">{text}</text>'
            )
        boxes.append((i * col, -tallest - 22, (i + 1) * col, 22 + 15 * lines))
    _end_box(body, boxes, (len(diagram.stages) + 1) * col, diagram.head, tallest)
    arrow = f'stroke="#666" stroke-width="1.4" marker-end="url(#{uid}-{COLORS.index(PALETTE[-1])})"'
    for i in range(len(diagram.stages) + 1):
        x = (i + 1) * col
        body.insert(0, f'<line x1="{x - 8:.1f}" y1="-12" x2="{x + 16:.1f}" y2="-12" {arrow}/>')
    return _svg(diagram.title, uid, boxes, body)


def _end_box(body: list[str], boxes: list[Box], x: float, text: str, tallest: float) -> None:
    body.append(
        f'<rect x="{x + 8:.1f}" y="-40" width="84" height="40" rx="4" fill="#eeeeee" '
        f'stroke="#777"/><text x="{x + 50:.1f}" y="-16" text-anchor="middle" '
        f'font-family="sans-serif" font-size="12">{html.escape(text)}</text>'
    )
    boxes.append((x, -tallest - 22, x + 100, 0.0))


def table_html(table: DecisionTable) -> str:
    """An HTML table of an architecture's decisions."""
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(v)}</code></td></tr>"
        for k, v in table.rows
    )
    return (
        f'<table class="nas-decisions"><caption>{html.escape(table.title)}</caption>{rows}</table>'
    )
