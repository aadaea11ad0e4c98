"""Geometry of a picture before drawing: node looks and positions measured in points, the spacing
and module boxes, how the drawing fits an area, and whether its text stays legible."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..graph import Graph
from .boxes import BoxRoom, ModuleBox, box_room, legalize_boxes, module_boxes
from .cards import NodeLook, edge_grad_text, node_look
from .spacing import AxisMap, layer_spacing, main_axis
from .text import block_height, line_height, text_width
from .themes import (
    FONT,
    GAP_MAIN,
    LOCAL_GAP,
    MARGIN,
    MAX_SCALE,
    MAX_STRETCH,
    MIN_PT_AUTO,
    MIN_PT_USER,
)

__all__ = [
    "Fit", "LegibilityWarning", "MeasuredLayout", "auto_figsize", "fit_layout", "fit_with_local",
    "legibility", "measure_layout", "node_positions", "smallest_font",
]


class LegibilityWarning(UserWarning):
    """A graph is too large for its figure: labels were hidden (or drawn below 8 pt)."""


@dataclass
class MeasuredLayout:
    """Everything measured before drawing: node looks, positions, spacing."""

    graph: Graph
    ids: list[str]
    looks: list[NodeLook]
    xy: Any  # (n, 2) layout units
    half: Any  # (n, 2) pt at scale 1 (half width, half height)
    src: Any
    dst: Any
    edge_text: list[str | None]
    edge_size: Any  # (m, 2) pt at scale 1
    mx: AxisMap
    my: AxisMap
    extra_below: Any  # (n,) pt reserved under a node (Scene: accumulation text)
    content: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # pt, x0 y0 x1 y1 at s=1
    # local-derivative factor shown before each edge's gradient ("×2 →"), and its width (pt)
    edge_local: list[str | None] = field(default_factory=list)
    edge_local_w: list[float] = field(default_factory=list)
    boxes: list[ModuleBox] = field(default_factory=list)  # module boxes, outermost first
    # room around each node beyond its half size (left, bottom, right, top), pt at scale 1:
    # the accumulation text below it and the padding of the module boxes that hold it
    pad: Any = None

    @property
    def natural_size(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.content
        return x1 - x0 + 2 * MARGIN, y1 - y0 + 2 * MARGIN


def node_positions(graph: Graph, layout: Any, direction: str | None = None
               ) -> dict[str, tuple[float, float]]:
    """Node positions from ``layout`` (a dict), ``graph.layout`` or ``graphanim.layout``."""
    kw = {} if direction is None else {"direction": direction}
    if isinstance(layout, Mapping):
        pos: Mapping[str, Any] = layout
    elif callable(getattr(graph, "layout", None)):
        pos = graph.layout(layout, **kw)  # type: ignore[attr-defined]
    else:
        from ..layout import compute_layout

        pos = compute_layout(graph, layout, **kw)
    missing = [n.id for n in graph.nodes if n.id not in pos]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise ValueError(
            f"the layout has no position for {len(missing)} node(s) ({shown}); "
            "pass a dict with an (x, y) pair for every node id"
        )
    out: dict[str, tuple[float, float]] = {}
    for n in graph.nodes:
        p = pos[n.id]
        x, y = float(p[0]), float(p[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"the layout position of node {n.id} is not finite: {p!r}")
        out[n.id] = (x, y)
    return out


def _edge_labels(graph: Graph, show_edge_grads: bool, local: bool
                 ) -> tuple[list[str | None], list[str | None], list[float],
                            list[tuple[float, float]]]:
    """Per edge: its gradient label, local-derivative factor, the factor's width and the size
    of the whole label (pt at scale 1); ``None``/0 where the edge shows none."""
    edge_text: list[str | None] = []
    edge_local: list[str | None] = []
    edge_local_w: list[float] = []
    sizes: list[tuple[float, float]] = []
    if local and show_edge_grads:
        from ..frames import local_label
    for e in graph.edges:
        if show_edge_grads and e.grad is not None:
            t = edge_grad_text(e.grad)
            edge_text.append(t)
            lt = local_label(graph, e) if local else None
            lw = text_width(lt, FONT["edge"]) + LOCAL_GAP if lt else 0.0
            edge_local.append(lt)
            edge_local_w.append(lw)
            sizes.append((text_width(t, FONT["edge"]) + 6.0 + lw,
                          block_height(t, FONT["edge"]) + 3.0))
        else:
            edge_text.append(None)
            edge_local.append(None)
            edge_local_w.append(0.0)
            sizes.append((0.0, 0.0))
    return edge_text, edge_local, edge_local_w, sizes


def measure_layout(
    graph: Graph,
    positions: Mapping[str, tuple[float, float]],
    *,
    show_values: bool,
    show_grads: bool,
    show_edge_grads: bool,
    sums: bool = False,
    local: bool = False,
    checks: Mapping[str, tuple[str, bool]] | None = None,
    modules: bool = False,
) -> MeasuredLayout:
    import numpy as np

    ids = [n.id for n in graph.nodes]
    index = {nid: i for i, nid in enumerate(ids)}
    checks = checks or {}
    looks = [node_look(graph, n, show_values, show_grads, checks.get(n.id))
             for n in graph.nodes]
    xy = np.array([positions[i] for i in ids], dtype=float).reshape(-1, 2)
    half = np.array([(lk.w / 2, lk.h / 2) for lk in looks], dtype=float).reshape(-1, 2)
    extra = np.zeros(len(ids))
    if sums:
        # room under a value used several times for its "2 + 3 = 5" text
        for i, n in enumerate(graph.nodes):
            if n.kind != "op" and len(graph.out_edges(n.id)) > 1 and n.grad is not None:
                extra[i] = line_height(FONT["sum"]) + 4.0
    src = np.array([index[e.src] for e in graph.edges], dtype=int)
    dst = np.array([index[e.dst] for e in graph.edges], dtype=int)
    edge_text, edge_local, edge_local_w, sizes = _edge_labels(graph, show_edge_grads, local)
    edge_size = np.array(sizes, dtype=float).reshape(-1, 2)
    along = edge_size[:, main_axis(xy, src, dst)]
    need = np.where(along > 0, along + 26.0, GAP_MAIN)
    boxes = module_boxes(graph, index) if modules else []
    pad = np.zeros((len(ids), 4))
    pad[:, 1] = extra
    # the accumulation text hangs under its box: count it in the box for spacing
    half_sp = half.copy()
    half_sp[:, 1] += extra / 2
    room: BoxRoom | None = None
    if boxes:
        xy = legalize_boxes(xy, boxes, src, dst)
        ext = np.column_stack([half[:, 0], half[:, 1] + extra, half[:, 0], half[:, 1]])
        room = box_room(boxes, ext, xy)
        for k, b in enumerate(boxes):
            if b.depth == 0:  # what the outermost box around a node adds to its reach
                pad[room.members[k]] = room.offs[k] - half[room.members[k]][:, [0, 1, 0, 1]]
        if len(src):
            # an edge that leaves a box gets room for the box's padding on top of its arrow
            inside = np.zeros((len(ids), len(boxes)), dtype=bool)
            for k, b in enumerate(boxes):
                inside[b.members, k] = True
            tops = np.array([b.pad + b.top for b in boxes])
            diff = inside[src] != inside[dst]
            need = need + np.where(diff.any(axis=1), (diff * tops).sum(axis=1) + 4.0, 0.0)
    mx, my = layer_spacing(xy, half_sp, src, dst, need, room)
    lay = MeasuredLayout(graph, ids, looks, xy, half, src, dst, edge_text, edge_size, mx, my, extra,
                  edge_local=edge_local, edge_local_w=edge_local_w, boxes=boxes, pad=pad)
    if len(ids):
        px, py = mx.fwd(xy[:, 0]), my.fwd(xy[:, 1])
        lay.content = (
            float((px - half[:, 0] - pad[:, 0]).min()),
            float((py - half[:, 1] - pad[:, 1]).min()),
            float((px + half[:, 0] + pad[:, 2]).max()),
            float((py + half[:, 1] + pad[:, 3]).max()),
        )
    return lay


@dataclass
class Fit:
    """How a measured layout sits in a drawing area: text scale and the final axis maps."""

    f: float  # text and box scale
    mx: AxisMap  # layout units -> pt, final
    my: AxisMap
    cx: float  # area centre, pt
    cy: float
    width: float  # area, pt
    height: float


def fit_layout(lay: MeasuredLayout, width: float | None, height: float | None) -> Fit:
    """Fit ``lay`` in an area of ``width`` x ``height`` points (``None``: the natural size)."""
    x0, y0, x1, y1 = lay.content
    nat_w, nat_h = lay.natural_size
    st_x = st_y = 1.0
    if width is None or height is None:
        f = 1.0
        width, height = nat_w, nat_h
    else:
        import numpy as np

        n = len(lay.ids)
        span_x = float(np.ptp(lay.mx.fwd(lay.xy[:, 0]))) if n else 0.0
        span_y = float(np.ptp(lay.my.fwd(lay.xy[:, 1]))) if n else 0.0
        over_x = (x1 - x0) - span_x
        over_y = (y1 - y0) - span_y
        avail_w = max(width - 2 * MARGIN, 1.0)
        avail_h = max(height - 2 * MARGIN, 1.0)
        f = min(avail_w / max(x1 - x0, 1e-9), avail_h / max(y1 - y0, 1e-9), MAX_SCALE)
        if span_x > 0:
            st_x = min(max((avail_w - over_x * f) / (span_x * f), 1.0), MAX_STRETCH)
        if span_y > 0:
            st_y = min(max((avail_h - over_y * f) / (span_y * f), 1.0), MAX_STRETCH)
    mx, my = lay.mx.scaled(f * st_x), lay.my.scaled(f * st_y)
    if len(lay.ids):
        px, py = mx.fwd(lay.xy[:, 0]), my.fwd(lay.xy[:, 1])
        hw, hh = lay.half[:, 0] * f, lay.half[:, 1] * f
        pd = lay.pad * f
        cx = (float((px - hw - pd[:, 0]).min()) + float((px + hw + pd[:, 2]).max())) / 2
        cy = (float((py - hh - pd[:, 1]).min()) + float((py + hh + pd[:, 3]).max())) / 2
    else:
        cx = cy = 0.0
    return Fit(f, mx, my, cx, cy, float(width), float(height))


# -- artists -----------------------------------------------------------------------------------



def fit_with_local(graph: Graph, positions: Mapping[str, tuple[float, float]],
                   lay: MeasuredLayout, area: tuple[float, float], measure: dict[str, Any],
                   auto_local: bool) -> tuple[MeasuredLayout, Fit]:
    """Fit ``lay`` in ``area`` (width, height in pt). Local derivatives shown automatically
    (``auto_local``) are dropped, and the graph measured again with ``measure`` (the keyword
    arguments of :func:`measure_layout`), where they would push the text below 8 pt."""
    fit = fit_layout(lay, *area)
    if auto_local and any(lay.edge_local) and smallest_font(lay) * fit.f < MIN_PT_AUTO:
        lay = measure_layout(graph, positions, local=False, **measure)
        fit = fit_layout(lay, *area)
    return lay, fit



def smallest_font(lay: MeasuredLayout) -> float:
    sizes = [fld.size for lk in lay.looks for fld in lk.fields]
    if any(t is not None for t in lay.edge_text):
        sizes.append(FONT["edge"])
    return min(sizes, default=FONT["value"])


def legibility(lay: MeasuredLayout, f: float, labels: bool | None, user_size: bool,
                what: str, kind: str = "raster") -> bool:
    """Whether to draw the labels at text scale ``f``; warn when they are hidden or small.

    Automatically sized figures keep text at 8 pt unless the size cap forces it smaller: down to
    6 pt it is drawn with a warning, below that hidden with a warning. A size the user chose
    (``figsize``, ``ax``, an open figure) hides text below 5 pt.
    """
    if labels is False or not lay.ids:
        return labels is not False
    smallest = smallest_font(lay) * f
    hide_below, warn_below = (MIN_PT_USER, MIN_PT_USER) if user_size else (6.0, MIN_PT_AUTO)
    if smallest >= warn_below:
        return True
    n = len(lay.ids)
    if user_size:
        fix = "pass a larger figsize="
    elif kind == "svg":  # already the largest page: the text can only be drawn smaller
        fix = "pass figsize= for a larger page"
    else:
        fix = "save as .svg (no size cap), or pass figsize="
    if labels is True or smallest >= hide_below:
        warnings.warn(
            f"{what}: a graph of {n} nodes fits only with text at {smallest:.1f} pt, which may "
            f"not be legible; {fix}",
            LegibilityWarning, stacklevel=4,
        )
        return True
    warnings.warn(
        f"{what}: a graph of {n} nodes would need text at {smallest:.1f} pt (below "
        f"{hide_below:g} pt) to fit, so its labels are hidden; pass labels=True to draw them "
        f"anyway, or {fix.replace('pass ', '')}",
        LegibilityWarning, stacklevel=4,
    )
    return False


#: Automatic figure size limits per output: (largest side in pixels or None, largest area in
#: pixels or None, largest side in inches). Raster: below Agg's and viewers' limits (~100 MB of
#: pixels); PDF: the 200 in page limit of PDF viewers; SVG: effectively none.
_CAPS: dict[str, tuple[float | None, float | None, float]] = {
    "raster": (32000.0, 25e6, 1e9),
    "pdf": (None, None, 200.0),
    "svg": (None, None, 20000.0),
}


def auto_figsize(lay: MeasuredLayout, kind: str, dpi: float) -> tuple[float, float]:
    """Natural figure size in inches, capped for the kind of output."""
    w, h = lay.natural_size
    w_in, h_in = max(w / 72.0, 0.5), max(h / 72.0, 0.5)
    side_px, area_px, side_in = _CAPS[kind]
    f = min(1.0, side_in / w_in, side_in / h_in)
    if side_px is not None:
        f = min(f, side_px / (w_in * dpi), side_px / (h_in * dpi))
    if area_px is not None:
        f = min(f, math.sqrt(area_px / (w_in * h_in * dpi * dpi)))
    return max(w_in * f, 0.5), max(h_in * f, 0.5)
