"""Build the picture of a graph as data (:class:`~graphanim.scene.model.Picture`) from the graph,
its layout and the plot options: the same measuring, spacing and placement the matplotlib
backend draws, with every element in figure points."""

from __future__ import annotations

from typing import Any

from ..graph import Graph, Node, format_tensor
from .cards import check_fields
from .geometry import (
    auto_figsize,
    fit_with_local,
    legibility,
    measure_layout,
    node_positions,
)
from .model import Box, Element, Group, Image, Label, Line, Picture, Polygon
from .place import Placement, TextReq
from .themes import DEFAULT_DPI, EDGE_LW, FONT, look_style, rc_context, theme_colors

__all__ = ["build_picture", "measure_options"]


def measure_options(graph: Graph, with_all: bool, *, values: bool, grads: bool | None,
                    edge_grads: bool | None, check: Any, local: bool | None,
                    modules: bool | None) -> tuple[dict[str, Any], bool]:
    """What a static picture shows, from the plot options: the keyword arguments of
    :func:`~graphanim.scene.geometry.measure_layout` and whether local derivatives are measured
    at first (an automatic choice may drop them later, see ``fit_with_local``).

    Raises
    ------
    TypeError
        For a ``graph`` that is not a Graph, a ``local`` or ``modules`` that is not a bool or
        None, or a ``check`` that is not a gradient-check result.
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"plot() needs a graphanim Graph, got {type(graph).__name__}")
    for name, flag in (("local", local), ("modules", modules)):
        if flag is not None and not isinstance(flag, bool):
            raise TypeError(f"{name} must be True, False or None (automatic), got {flag!r}")
    backward = graph.has_backward
    checks = check_fields(graph, check)
    show_grads = bool((with_all or checks) and backward) if grads is None else bool(grads)
    show_edge = bool(with_all and backward) if edge_grads is None else bool(edge_grads)
    measure: dict[str, Any] = {"show_values": bool(values or with_all), "show_grads": show_grads,
                               "show_edge_grads": show_edge, "checks": checks,
                               "modules": modules is not False}
    return measure, show_edge if local is None else local


def build_picture(graph: Graph, with_all: bool = False, *, values: bool = True,
                  grads: bool | None = None, layout: Any = None, theme: str = "light",
                  figsize: tuple[float, float] | None = None, dpi: float | None = None,
                  edge_grads: bool | None = None, labels: bool | None = None,
                  direction: str | None = None, local: bool | None = None, check: Any = None,
                  modules: bool | None = None) -> Picture:
    """The static picture of ``graph`` as data, for a vector output (no size cap).

    The options are those of :func:`graphanim.render.plot`; the picture is what
    ``plot(...).savefig("g.svg")`` shows, element for element.

    Raises
    ------
    ValueError
        For an unknown ``theme`` or a layout without a position for every node.
    TypeError
        For a ``graph`` that is not a :class:`~graphanim.graph.Graph` or a bad ``local``,
        ``modules`` or ``check``.
    """
    th = theme_colors(theme)
    measure, local_first = measure_options(graph, with_all, values=values, grads=grads,
                                           edge_grads=edge_grads, check=check, local=local,
                                           modules=modules)
    pos = node_positions(graph, layout, direction)
    with rc_context():
        lay = measure_layout(graph, pos, local=local_first, **measure)
        if figsize is None:
            w_in, h_in = auto_figsize(lay, "svg", float(dpi or DEFAULT_DPI))
            user_size = False
        else:
            w_in, h_in = float(figsize[0]), float(figsize[1])
            user_size = True
        area = (w_in * 72.0, h_in * 72.0)
        lay, fit = fit_with_local(graph, pos, lay, area, measure, local is None and user_size)
        shown = legibility(lay, fit.f, labels, user_size, "plot", "svg")
        place = Placement(lay, fit, th, labels=shown)
        place.edge_paths()
        pic = Picture(area[0], area[1], th["background"], th, labels_shown=shown)
        _Builder(place, pic, thumbnails=labels is not False).run()
    return pic


def _title(node: Node) -> str:
    op = node.op if node.kind == "op" and node.op and node.op != node.name else ""
    lines = [f"{node.name} ({op})" if op else node.name]
    if node.value is not None:
        lines.append(f"value {format_tensor(node.value)}")
    if node.grad is not None:
        lines.append(f"grad {format_tensor(node.grad)}")
    return "\n".join(lines)


class _Builder:
    """Turns a placement into elements (in figure points), in the matplotlib backend's drawing
    order."""

    def __init__(self, place: Placement, pic: Picture, *, thumbnails: bool) -> None:
        self.p, self.pic, self.thumbnails = place, pic, thumbnails
        fit = place.fit
        self.ox, self.oy = fit.cx - fit.width / 2, fit.cy - fit.height / 2
        self.f = fit.f
        self.ids = place.lay.ids

    def xy(self, x: float, y: float) -> tuple[float, float]:
        return float(x) - self.ox, float(y) - self.oy

    def rect(self, x0: float, y0: float, x1: float, y1: float
             ) -> tuple[float, float, float, float]:
        (a, b), (c, d) = self.xy(x0, y0), self.xy(x1, y1)
        return a, b, c, d

    def add(self, e: Element) -> None:
        self.pic.elements.append(e)

    def run(self) -> None:
        graph = self.p.lay.graph
        for n, lk in zip(graph.nodes, self.p.lay.looks):
            self.pic.groups[n.id] = Group(n.id, "node", _title(n), lk.role)
        names = {n.id: n.name for n in graph.nodes}
        shown = self.p.lay.edge_text  # a small gradient's label is its format_tensor text
        for k, e in enumerate(graph.edges):
            title = f"{names[e.src]} → {names[e.dst]}"
            if e.grad is not None:
                scalar = getattr(e.grad, "ndim", 1) == 0
                text = shown[k] if scalar and shown[k] is not None else format_tensor(e.grad)
                title += f"\ngrad {text}"
            self.pic.groups[f"e{k}"] = Group(f"e{k}", "edge", title)
        self.modules()
        self.edges()
        self.nodes()
        reqs = self.p.node_text_requests() + self.p.edge_label_requests()
        self.texts(reqs)
        self.images()

    def modules(self) -> None:
        f, th, lay = self.f, self.p.theme, self.p.lay
        for b, (x0, y0, x1, y1) in zip(lay.boxes, self.p.module_rects()):
            bid = f"module:{b.path}" + (f"#{b.call}" if b.call > 1 else "")
            self.add(Box(bid, self.rect(x0, y0, x1, y1), th["module_fill"], th["module_edge"],
                         0.9 * max(f, 0.3), radius=7.0 * f, opacity=0.7, cls="module",
                         z=0.2 + 0.01 * b.depth))
            if self.p.labels:
                x, y = self.xy(x0 + 5.0 * f, y1 - 3.0 * f)
                self.add(Label(f"{bid}/label", x, y, b.label, round(FONT["module"] * f, 3),
                               th["module_text"], anchor="start", baseline="top",
                               cls="module-label", z=0.9))

    def edges(self) -> None:
        color = self.p.theme["edge"]
        width = EDGE_LW * max(self.f, 0.3)
        for k, g in enumerate(self.p.edge_geom):
            if g is None:
                continue
            start, end, tip = g
            self.add(Line(f"e{k}", self.xy(*start), self.xy(*end), color, width))
            head = tuple(self.xy(*q) for q in self.p.arrow_head(tip, start))
            self.add(Polygon(f"e{k}/head", head, color))

    def nodes(self) -> None:
        f, th = self.f, self.p.theme
        for i, lk in enumerate(self.p.lay.looks):
            cx, cy = self.p.point(i)
            hw, hh = lk.w / 2 * f, lk.h / 2 * f
            st = look_style(th, lk)
            seps = tuple((self.xy(cx + a * f, cy + b * f), self.xy(cx + c * f, cy + d * f))
                         for a, b, c, d in lk.separators)
            self.add(Box(lk.node.id, self.rect(cx - hw, cy - hh, cx + hw, cy + hh),
                         st.fill, st.edge, st.lw * max(f, 0.3),
                         radius=0.0 if lk.ellipse else 4.5 * f, ellipse=lk.ellipse,
                         separators=seps, cls=lk.role))
        for i, lk in enumerate(self.p.lay.looks):
            if not lk.bad:
                continue
            cx, cy = self.p.point(i)
            hw, hh = (lk.w / 2 + 3.0) * f, (lk.h / 2 + 3.0) * f
            self.add(Box(f"{lk.node.id}/mismatch", self.rect(cx - hw, cy - hh, cx + hw, cy + hh),
                         None, th["check_bad"], 2.4 * max(f, 0.3), radius=7.0 * f, cls="ring",
                         z=2.05))

    def _text_id(self, r: TextReq) -> str:
        kind, which = r.key
        if kind == "edge":
            return f"e{which}/grad"
        if kind == "edge-local":
            return f"e{which}/local"
        return f"{self.ids[int(kind)]}/{which}"

    def texts(self, reqs: list[TextReq]) -> None:
        for r in reqs:
            tid = self._text_id(r)
            if r.box is not None:
                self.add(Box(f"{tid}-bg", self.rect(*r.box), self.p.theme["label_bg"], None,
                             0.0, radius=3.0 * self.f, cls="label-bg", z=3.9))
            x, y = self.xy(r.x, r.y)
            self.add(Label(tid, x, y, r.text, round(r.size * self.f, 3), r.color, bold=r.bold,
                           baseline=r.va, z=r.zorder))

    def images(self) -> None:
        if not self.thumbnails:
            return
        f = self.f
        for i, lk in enumerate(self.p.lay.looks):
            cx, cy = self.p.point(i)
            for fld in lk.fields:
                if fld.img is None:
                    continue
                x, y = cx + fld.dx * f, cy + fld.dy * f
                hw, hh = fld.tw / 2 * f, fld.th / 2 * f
                self.add(Image(f"{lk.node.id}/{fld.role}",
                               self.rect(x - hw, y - hh, x + hw, y + hh),
                               fld.img))
