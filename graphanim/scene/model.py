"""The picture as plain data: every shape, path, label and image in figure points, each with the
id of what it shows and its style. Backends (matplotlib, SVG) read it; nothing here draws.

Coordinates are points (1/72 in) from the figure's bottom-left corner, y upwards (matplotlib's
convention; the SVG backend flips y). Ids are those of the graph: ``"n3"`` for node ``n3`` and
its parts (``"n3/value"``), ``"e4"`` for the edge at index 4 of ``graph.edges``, ``"module:<path>"``
for a module frame (``"module:<path>#2"`` for a second call).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Box", "Group", "Image", "Label", "Line", "Picture", "Polygon"]

Point = tuple[float, float]
Rect = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclass(frozen=True)
class Box:
    """A rounded rectangle (``radius``) or, with ``ellipse``, the ellipse inside ``rect``;
    ``separators`` are lines between the fields of a record."""

    id: str
    rect: Rect
    fill: str | None
    stroke: str | None
    width: float  # line width, pt
    radius: float = 0.0
    ellipse: bool = False
    separators: tuple[tuple[Point, Point], ...] = ()
    opacity: float = 1.0  # of the fill
    cls: str = ""  # style class: the node's role, "module", "ring", "label-bg"
    z: float = 2.0


@dataclass(frozen=True)
class Line:
    """A straight segment (an edge from its source's outline to its arrow head)."""

    id: str
    start: Point
    end: Point
    color: str
    width: float
    cls: str = "edge"
    z: float = 1.0


@dataclass(frozen=True)
class Polygon:
    """A filled polygon (an arrow head)."""

    id: str
    points: tuple[Point, ...]
    fill: str
    cls: str = "arrow"
    z: float = 1.01


@dataclass(frozen=True)
class Label:
    """A text: ``x`` is its centre (``anchor="middle"``) or left end (``"start"``); ``y`` its
    first line's baseline (``baseline="baseline"``), the centre of its block (``"center"``) or
    its top (``"top"``). ``text`` may be mathtext (``$...$``); a ``\\$`` is a dollar sign."""

    id: str
    x: float
    y: float
    text: str
    size: float  # pt, as drawn
    color: str
    bold: bool = False
    anchor: str = "middle"
    baseline: str = "baseline"
    cls: str = "label"
    z: float = 3.0


@dataclass(frozen=True)
class Image:
    """A heatmap thumbnail: ``pixels`` is an ``(h, w, 4)`` uint8 RGBA array shown in ``rect``
    without smoothing."""

    id: str
    rect: Rect
    pixels: Any
    cls: str = "heatmap"
    z: float = 3.0


@dataclass(frozen=True)
class Group:
    """What one node or edge is: its id, kind and the tooltip text (name, value, gradient)."""

    id: str
    kind: str  # "node" or "edge"
    title: str
    role: str = ""  # a node's role: "input", "parameter", "output", "value", "constant", "op"


Element = Box | Line | Polygon | Label | Image


@dataclass
class Picture:
    """The static picture of a graph: size, background, the elements in drawing order, and the
    node and edge each element belongs to (``groups``, keyed by id).

    Name: the animation's compositor is :class:`graphanim.render.Scene`; this is the data that a
    backend draws.
    """

    width: float  # pt
    height: float
    background: str
    theme: dict[str, str]
    elements: list[Element] = field(default_factory=list)
    groups: dict[str, Group] = field(default_factory=dict)
    labels_shown: bool = True

    def owner(self, element_id: str) -> str:
        """The node or edge id an element belongs to (``"n3/value"`` -> ``"n3"``), or ``""``."""
        head = element_id.split("/", 1)[0]
        return head if head in self.groups else ""

    def by_id(self) -> dict[str, Element]:
        """Elements keyed by id."""
        return {e.id: e for e in self.elements}

    def to_text(self) -> str:
        """One line per element, sorted by id, numbers to 0.01 pt: a golden-file form of the
        picture that a diff can review."""
        def num(v: float) -> str:
            r = round(float(v), 2)
            return f"{r + 0.0:.2f}"

        def pts(ps: Any) -> str:
            return " ".join(f"{num(x)},{num(y)}" for x, y in ps)

        lines = [f"picture {num(self.width)}x{num(self.height)} background={self.background}"]
        for g in sorted(self.groups.values(), key=lambda g: g.id):
            title = g.title.replace("\n", " | ")
            lines.append(f"{g.id} group {g.kind} role={g.role} title={title!r}")
        for e in sorted(self.elements, key=lambda e: e.id):
            if isinstance(e, Box):
                shape = "ellipse" if e.ellipse else f"box r={num(e.radius)}"
                seps = f" seps={len(e.separators)}" if e.separators else ""
                lines.append(f"{e.id} {shape} {pts([e.rect[:2], e.rect[2:]])} fill={e.fill} "
                             f"stroke={e.stroke} w={num(e.width)}{seps} cls={e.cls}")
            elif isinstance(e, Line):
                lines.append(f"{e.id} line {pts([e.start, e.end])} color={e.color} "
                             f"w={num(e.width)}")
            elif isinstance(e, Polygon):
                lines.append(f"{e.id} polygon {pts(e.points)} fill={e.fill}")
            elif isinstance(e, Label):
                lines.append(f"{e.id} label {pts([(e.x, e.y)])} {e.text!r} size={num(e.size)} "
                             f"{'bold ' if e.bold else ''}{e.anchor}/{e.baseline} "
                             f"color={e.color}")
            else:
                h, w = e.pixels.shape[:2]
                lines.append(f"{e.id} image {pts([e.rect[:2], e.rect[2:]])} {w}x{h}px")
        return "\n".join(lines) + "\n"
