"""The animation's highlight artists: each edge's thick line and arrow head in the pass colour
(with the cover that hides its grey forward tip going backward) and each value's saved-tensor
mark. They are made once and drawn by the Scene's compositor, never added to the Axes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..scene.themes import ARROW_HALF, ARROW_LEN
from .artists import Painter
from .shapes import rounded_rect

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes

__all__ = ["Highlights", "make_highlights"]


@dataclass
class Highlights:
    """The highlight artists of a Scene and the data points that bound each shape."""

    edge_overlay: list[tuple[Any, Any] | None] = field(default_factory=list)  # line, head
    edge_mask: dict[int, Any] = field(default_factory=dict)  # edge -> cover of its forward tip
    overlay_geom: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> look -> points
    saved: dict[int, Any] = field(default_factory=dict)  # node index -> saved-tensor mark
    shape_pts: dict[int, Any] = field(default_factory=dict)  # id(artist) -> bounding points


def make_highlights(painter: Painter, ax: Axes) -> Highlights:
    """The highlights of a painted picture (node outlines' bounds included, in ``shape_pts``)."""
    h = Highlights()
    _edge_overlays(h, painter, ax)
    _saved_marks(h, painter, ax)
    return h


def _edge_overlays(h: Highlights, painter: Painter, ax: Axes) -> None:
    """A thick line and head per edge, shown while the edge is active (drawn by the Scene,
    not added to ``ax``). Forward, the head sits on the edge's own arrow tip; backward, on
    the operand's end, pointing at it: the gradient flows against the arrow."""
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.patches import Polygon

    p = painter
    f = painter.fit.f
    lw = 2.6 * max(f, 0.3)
    fig: Any = ax.get_figure()
    for g in p.edge_geom:
        if g is None:
            h.edge_overlay.append(None)
            continue
        start, end, tip = g
        pts = p.to_data([start, end, *p.arrow_head(tip, start, 1.4)])
        length = math.hypot(tip[0] - start[0], tip[1] - start[1]) or 1.0
        ux, uy = (tip[0] - start[0]) / length, (tip[1] - start[1]) / length
        back = ARROW_LEN * f * 1.4 * 0.5
        bstart = (start[0] + ux * back, start[1] + uy * back)
        bpts = p.to_data([tip, bstart, *p.arrow_head(start, tip, 1.4)])
        line = Line2D(pts[:2, 0], pts[:2, 1], linewidth=lw, solid_capstyle="butt",
                      zorder=1.5, color=painter.theme["forward"], visible=False,
                      transform=ax.transData)
        head = Polygon(pts[2:], closed=True, zorder=1.51, facecolor=painter.theme["forward"],
                       edgecolor="none", visible=False, transform=ax.transData)
        for a in (line, head):
            a.set_figure(fig)
        h.shape_pts[id(line)] = np.concatenate([pts[:2], bpts[:2]])
        h.shape_pts[id(head)] = np.concatenate([pts[2:], bpts[2:]])
        h.overlay_geom[id(line)] = {"forward": pts[:2], "backward": bpts[:2]}
        h.overlay_geom[id(head)] = {"forward": pts[2:], "backward": bpts[2:]}
        h.edge_overlay.append((line, head))
        # backward, the static edge's forward arrow head is painted over in the background
        # colour: the highlighted edge then points one way only, at the operand
        (hx0, hy0), (hx1, hy1), (hx2, hy2) = p.arrow_head(tip, start, 1.0)
        cxm, cym = (hx0 + hx1 + hx2) / 3, (hy0 + hy1 + hy2) / 3
        grow = 1.0 + 1.2 / max(ARROW_HALF, 1e-9)
        tri = [(cxm + (x - cxm) * grow, cym + (y - cym) * grow)
               for x, y in ((hx0, hy0), (hx1, hy1), (hx2, hy2))]
        mask = Polygon(p.to_data(tri), closed=True, zorder=1.49,
                       facecolor=painter.theme["background"], edgecolor="none", visible=False,
                       transform=ax.transData)
        mask.set_figure(fig)
        h.shape_pts[id(mask)] = p.to_data(tri)
        h.edge_mask[len(h.edge_overlay) - 1] = mask
    for na, lk in zip(p.nodes, painter.lay.looks):
        cx, cy = p.point(na.index)
        hw, hh = lk.w / 2 * painter.fit.f, lk.h / 2 * painter.fit.f
        h.shape_pts[id(na.patch)] = p.to_data(
            np.array([(cx - hw, cy - hh), (cx + hw, cy + hh)]))

def _saved_marks(h: Highlights, painter: Painter, ax: Axes) -> None:
    """Per value node, the highlight of the part of its box that holds the forward value,
    shown while a backward step reads it as a saved tensor (the whole box outlined when no
    value is shown)."""
    import numpy as np
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MPath

    p = painter
    f = painter.fit.f
    fig: Any = ax.get_figure()
    for na, lk in zip(p.nodes, painter.lay.looks):
        if lk.role == "op":
            continue
        cx, cy = p.point(na.index)
        if lk.value_box is not None:
            x0, y0, x1, y1 = lk.value_box
            inset = 2.2
            box = (cx + (x0 + inset) * f, cy + (y0 + inset) * f,
                   cx + (x1 - inset) * f, cy + (y1 - inset) * f)
            fill = painter.theme["saved_fill"]
        else:
            grow = 2.5
            box = (cx - (lk.w / 2 + grow) * f, cy - (lk.h / 2 + grow) * f,
                   cx + (lk.w / 2 + grow) * f, cy + (lk.h / 2 + grow) * f)
            fill = "none"
        v, c = rounded_rect(*box, 3.0 * f)
        data = p.to_data(v)
        patch = PathPatch(MPath(data, c), facecolor=fill, edgecolor=painter.theme["saved_edge"],
                          linewidth=1.6 * max(f, 0.3), zorder=2.5, transform=ax.transData)
        patch.set_figure(fig)
        patch.set_gid(f"graphanim-{lk.node.id}-saved")
        h.shape_pts[id(patch)] = np.array([data.min(axis=0), data.max(axis=0)])
        h.saved[na.index] = patch
