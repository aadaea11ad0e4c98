"""Where everything of a picture goes, in points, before any drawing library is involved: the
node centres, each edge from outline to arrow tip with its arrow head, the module boxes, and every
label's anchor, font and colour (edge labels placed on free spots along their edge)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .geometry import Fit, MeasuredLayout
from .text import text_width
from .themes import ARROW_HALF, ARROW_LEN, FONT, LOCAL_GAP

__all__ = ["LABEL_SPOTS", "Grid", "Placement", "TextReq"]


class Placement:
    """The geometry of a measured, fitted layout in points (the fit's maps of the layout
    positions): what every backend draws."""

    def __init__(self, lay: MeasuredLayout, fit: Fit, theme: dict[str, str], *,
                 labels: bool) -> None:
        self.lay, self.fit, self.theme = lay, fit, theme
        self.labels = labels
        self.px = fit.mx.fwd(lay.xy[:, 0]) if len(lay.ids) else []
        self.py = fit.my.fwd(lay.xy[:, 1]) if len(lay.ids) else []
        self.edge_geom: list[tuple[tuple[float, float], ...] | None] = []  # start, end, tip (pt)

    def point(self, i: int) -> tuple[float, float]:
        """Centre of node ``i`` (pt)."""
        return float(self.px[i]), float(self.py[i])

    def edge_paths(self) -> None:
        """Each edge from its source's outline to an arrow tip on its target's outline (pt)."""
        import numpy as np

        f = self.fit.f
        src, dst = self.lay.src, self.lay.dst
        m = len(src)
        if not m:
            return
        px, py = np.asarray(self.px, dtype=float), np.asarray(self.py, dtype=float)
        vx, vy = px[dst] - px[src], py[dst] - py[src]
        length = np.hypot(vx, vy)
        ok = length > 1e-9
        safe = np.where(ok, length, 1.0)
        ux, uy = vx / safe, vy / safe
        # parallel edges (x * x feeds one op twice) side by side
        counts: dict[tuple[int, int], int] = {}
        rank = np.zeros(m)
        for k, pair in enumerate(zip(src.tolist(), dst.tolist())):
            rank[k] = counts.get(pair, 0)
            counts[pair] = int(rank[k]) + 1
        total = np.array([counts[p] for p in zip(src.tolist(), dst.tolist())], dtype=float)
        off = (rank - (total - 1) / 2) * 7.0 * f
        ox, oy = -uy * off, ux * off
        a = np.array([lk.w for lk in self.lay.looks]) / 2 * f
        b = np.array([lk.h for lk in self.lay.looks]) / 2 * f
        ell = np.array([lk.ellipse for lk in self.lay.looks], dtype=bool)

        def boundary(i: Any) -> Any:
            with np.errstate(divide="ignore", invalid="ignore"):
                rect = np.minimum(np.where(np.abs(ux) > 1e-12, a[i] / np.abs(ux), np.inf),
                                  np.where(np.abs(uy) > 1e-12, b[i] / np.abs(uy), np.inf))
                el = 1.0 / np.sqrt((ux / a[i]) ** 2 + (uy / b[i]) ** 2)
            return np.where(ell[i], el, rect)

        t0 = boundary(src) + 1.0 * f
        t1 = length - boundary(dst) - 1.5 * f
        short = t1 - t0 < ARROW_LEN * f * 1.5
        t0 = np.where(short, np.maximum(0.0, t1 - ARROW_LEN * f * 1.5), t0)
        sx_, sy_ = px[src] + ux * t0 + ox, py[src] + uy * t0 + oy
        tx, ty = px[src] + ux * t1 + ox, py[src] + uy * t1 + oy
        ex, ey = tx - ux * ARROW_LEN * f * 0.7, ty - uy * ARROW_LEN * f * 0.7
        rows = np.column_stack([sx_, sy_, ex, ey, tx, ty]).tolist()
        self.edge_geom = [
            ((r[0], r[1]), (r[2], r[3]), (r[4], r[5])) if good else None
            for r, good in zip(rows, ok.tolist())
        ]

    def arrow_head(self, tip: tuple[float, float], start: tuple[float, float],
                   scale: float = 1.0) -> list[tuple[float, float]]:
        """Triangle of an arrow head ending at ``tip`` (pt)."""
        f = self.fit.f * scale
        vx, vy = tip[0] - start[0], tip[1] - start[1]
        n = math.hypot(vx, vy) or 1.0
        ux, uy = vx / n, vy / n
        bx, by = tip[0] - ux * ARROW_LEN * f, tip[1] - uy * ARROW_LEN * f
        return [tip, (bx - uy * ARROW_HALF * f, by + ux * ARROW_HALF * f),
                (bx + uy * ARROW_HALF * f, by - ux * ARROW_HALF * f)]

    def module_rects(self) -> list[tuple[float, float, float, float]]:
        """Each module box (pt): its members' shapes and its child boxes, plus padding and a row
        for the label on top; at least as wide as its label."""
        f = self.fit.f
        lay = self.lay
        boxes = lay.boxes
        rects: list[tuple[float, float, float, float]] = [(0.0, 0.0, 0.0, 0.0)] * len(boxes)
        for k in reversed(range(len(boxes))):  # children come after their parents
            b = boxes[k]
            xs0, ys0, xs1, ys1 = [], [], [], []
            for i in b.members:
                cx, cy = self.point(i)
                hw, hh = lay.half[i, 0] * f, lay.half[i, 1] * f
                xs0.append(cx - hw)
                xs1.append(cx + hw)
                ys0.append(cy - hh - lay.extra_below[i] * f)
                ys1.append(cy + hh)
            for c in b.children:
                r = rects[c]
                xs0.append(r[0])
                ys0.append(r[1])
                xs1.append(r[2])
                ys1.append(r[3])
            x0, y0 = min(xs0) - b.pad * f, min(ys0) - b.pad * f
            x1, y1 = max(xs1) + b.pad * f, max(ys1) + (b.pad + b.top) * f
            label_w = (text_width(b.label, FONT["module"]) + 10.0) * f
            if x1 - x0 < label_w:
                grow = (label_w - (x1 - x0)) / 2
                x0, x1 = x0 - grow, x1 + grow
            rects[k] = (x0, y0, x1, y1)
        return rects

    def node_text_requests(self) -> list[TextReq]:
        """Where each field's text goes (pt), its font and colour."""
        if not self.labels:
            return []
        f = self.fit.f
        th = self.theme
        reqs: list[TextReq] = []
        for i, lk in enumerate(self.lay.looks):
            cx, cy = self.point(i)
            for fld in lk.fields:
                if fld.img is not None or not fld.text:
                    continue
                fx, fy = cx + fld.dx * f, cy + fld.dy * f
                if fld.role.startswith("grad"):
                    color = th["grad"]
                elif fld.role == "check":
                    color = th["check_bad"] if lk.bad else th["check_ok"]
                elif lk.role == "constant" or fld.role in ("shape", "ops"):
                    color = th["constant_text"]
                else:
                    color = th["text"]
                if "\n" in fld.text:
                    y, va = fy, "center"
                else:
                    # digits and capitals centred on the field: baseline ~0.36 em below its middle
                    y, va = fy - 0.36 * fld.size * f, "baseline"
                reqs.append(TextReq(fx, y, fld.text, fld.size, fld.bold, color, va, 3.0,
                                     f"graphanim-{lk.node.id}-{fld.role}", (i, fld.role)))
        return reqs

    def edge_label_requests(self) -> list[TextReq]:
        """Gradient labels near the middle of each edge, moved along it (or beside it) to avoid
        nodes and earlier labels; where no spot is free, the least crowded one. With local
        derivatives the factor (``×2 →``, in the text colour) comes first, then the gradient."""
        if not self.labels:
            return []
        f = self.fit.f
        grid = Grid(48.0)
        for i, lk in enumerate(self.lay.looks):
            cx, cy = self.point(i)
            hw, hh = lk.w / 2 * f, lk.h / 2 * f
            grid.add((cx - hw, cy - hh, cx + hw, cy + hh))
        locals_ = self.lay.edge_local or [None] * len(self.lay.edge_text)
        local_w = self.lay.edge_local_w or [0.0] * len(self.lay.edge_text)
        reqs: list[TextReq] = []
        for ei, (text, geom) in enumerate(zip(self.lay.edge_text, self.edge_geom)):
            if text is None or geom is None:
                continue
            (sx_, sy_), _, (tx, ty) = geom
            w, h = self.lay.edge_size[ei] * f
            # candidates: along the edge from its middle outwards, then beside the line
            length = math.hypot(tx - sx_, ty - sy_) or 1.0
            nx, ny = -(ty - sy_) / length, (tx - sx_) / length
            side = abs(nx) * w / 2 + abs(ny) * h / 2 + 3.0 * f
            best: tuple[float, tuple[float, float, tuple[float, float, float, float]]] | None
            best = None
            for s, t in LABEL_SPOTS:
                mx = sx_ + (tx - sx_) * t + nx * side * s
                my = sy_ + (ty - sy_) * t + ny * side * s
                box = (mx - w / 2, my - h / 2, mx + w / 2, my + h / 2)
                cost = grid.overlap(box)
                if best is None or cost < best[0]:
                    best = (cost, (mx, my, box))
                if cost == 0.0:
                    break
            assert best is not None
            place = best[1]
            grid.add(place[2])
            if "\n" in text:
                y, va = place[1], "center"
            else:
                y, va = place[1] - 0.36 * FONT["edge"] * f, "baseline"
            box = place[2]
            lt, lw = locals_[ei], local_w[ei] * f
            gx = place[0]
            if lt:
                # the factor on the left part of the box, the gradient on the right part
                gx = place[0] + lw / 2
                lx = box[0] + (lw - LOCAL_GAP * f) / 2 + 3.0 * f
                reqs.append(TextReq(lx, y, lt, FONT["edge"], False, self.theme["local"], va,
                                     4.0, f"graphanim-edge-{ei}-local", ("edge-local", ei),
                                     box=(box[0], box[1], box[0] + lw + 3.0 * f, box[3])))
                box = (box[0] + lw, box[1], box[2], box[3])
            reqs.append(TextReq(gx, y, text, FONT["edge"], False, self.theme["grad"], va,
                                 4.0, f"graphanim-edge-{ei}", ("edge", ei), box=box))
        return reqs


@dataclass
class TextReq:
    """One label to draw: anchor in pt (centre x; baseline or block centre y), font, colour."""

    x: float
    y: float
    text: str
    size: float  # pt at scale 1
    bold: bool
    color: str
    va: str  # "baseline" or "center"
    zorder: float
    gid: str
    key: tuple[Any, Any]  # (node index, role) or ("edge", edge index)
    box: tuple[float, float, float, float] | None = None  # background box (edge labels), pt


#: Where an edge label may go: (side, t) = beside the line (-1, 0, 1) at fraction t of the edge,
#: tried in order until one is free of nodes and earlier labels.
LABEL_SPOTS = [(0, t) for t in (0.5, 0.38, 0.62, 0.27, 0.73, 0.17, 0.83)] + [
    (s, t) for t in (0.5, 0.35, 0.65) for s in (1, -1)]


class Grid:
    """A uniform grid of boxes for quick overlap queries (pt space)."""

    def __init__(self, cell: float) -> None:
        self.cell = cell
        self.cells: dict[tuple[int, int], list[tuple[float, float, float, float]]] = {}

    def _keys(self, box: tuple[float, float, float, float]) -> Iterator[tuple[int, int]]:
        c = self.cell
        for gx in range(math.floor(box[0] / c), math.floor(box[2] / c) + 1):
            for gy in range(math.floor(box[1] / c), math.floor(box[3] / c) + 1):
                yield gx, gy

    def add(self, box: tuple[float, float, float, float]) -> None:
        for k in self._keys(box):
            self.cells.setdefault(k, []).append(box)

    def overlap(self, box: tuple[float, float, float, float]) -> float:
        """Total area of the stored boxes that ``box`` overlaps (0.0: free)."""
        area = 0.0
        seen: set[int] = set()
        for k in self._keys(box):
            for b in self.cells.get(k, ()):
                if id(b) in seen:
                    continue
                seen.add(id(b))
                dx = min(box[2], b[2]) - max(box[0], b[0])
                dy = min(box[3], b[3]) - max(box[1], b[1])
                if dx > 0 and dy > 0:
                    area += dx * dy
        return area
