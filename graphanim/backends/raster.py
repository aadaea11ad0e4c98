"""The animation's raster compositor: :class:`Scene` draws a graph once and shows each frame by
blending pre-rasterised sprites of what changed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..graph import Graph
from ..scene.changes import (
    Change,
    NodeState,
    apply_changes,
    changes,
    first_state,
    frame_state,
)
from ..scene.geometry import (
    fit_with_local,
    legibility,
    measure_layout,
    node_positions,
)
from ..scene.text import line_height
from ..scene.themes import FONT, base_style, rc_context, theme_colors
from .artists import paint
from .captions import CaptionBand, Sprite
from .highlights import make_highlights
from .matplotlib import new_figure

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

    from ..frames import Frame

__all__ = ["Positions", "Scene", "merge_boxes"]

Positions = Mapping[str, "tuple[float, float]"]



class Scene:
    """One fixed drawing of a graph whose highlights, texts and caption change per frame.

    Every changing element (node, its texts, edge highlight, edge label, caption) is rasterised
    by matplotlib once per look it can take and kept as a sprite; :meth:`show` restores the
    background only where something changed and blends the sprites there back in drawing order.
    A frame therefore costs a few small array operations, not a figure draw, and gives the same
    pixels as drawing its state from scratch. Node positions never move.

    What a frame shows (see :class:`graphanim.frames.Frame`): nodes in ``active`` get a yellow
    fill and an orange border; nodes in ``done`` a border in the colour of their pass (forward
    blue, backward vermillion); value texts of ``values`` and gradient texts of ``grads`` appear
    in their record fields (a constant always shows its value; tensor heatmaps appear with their
    field); edges in ``active_edges`` are drawn thick in the pass colour, backward with the head
    at the operand (the edge's grey forward tip hidden); ``edge_grads`` label their edges with
    the gradient flowing back, preceded by the local derivative (``×2 → 2``); ``sums`` put an
    accumulation such as ``2 + 3 = 5`` under a value; ``saved`` values get their value field
    tinted and outlined blue; the ``caption`` is written under the graph (the ``note`` as a last
    line in blue) and the pass name above it. Module boxes are part of the fixed background.

    Parameters
    ----------
    graph : Graph
        The graph.
    positions : dict or None
        ``{node_id: (x, y)}`` in layout units (``None``: the graph's default layout).
    theme : {"light", "dark"}
        Colour theme.
    figsize : (float, float), optional
        Inches; default: the natural size of the graph plus the caption band, capped at
        25.6 × 14.4 in. The pixel size is rounded up to even numbers (video encoders need it).
    dpi : float
        Pixels per inch.
    with_all : bool
        Room for gradients on nodes and edges (shown when a frame lists them).
    caption : bool
        Draw the frame caption under the graph and the pass name above it.
    labels : bool, optional
        ``None``: hide node and edge texts that would be smaller than 5 pt (with a
        :class:`LegibilityWarning`); ``True``: always draw them; ``False``: never.
    local : bool, optional
        Local derivatives before the edge gradients; default: shown unless they would push the
        text below 8 pt.
    modules : bool, optional
        Module boxes; default: drawn when the graph ran through modules.

    Attributes
    ----------
    fig : matplotlib.figure.Figure
        The figure (not registered with pyplot; nothing to close). It holds the static
        background; the frame itself is :meth:`rgb`.
    ax : matplotlib.axes.Axes
        The Axes holding the graph; data coordinates are the layout units.

    Examples
    --------
    >>> from graphanim import TorchGraph
    >>> from graphanim.frames import build_frames
    >>> g = TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])
    >>> scene = Scene(g, g.layout())
    >>> for frame in build_frames(g, "backward"):
    ...     scene.show(frame)
    ...     pixels = scene.rgb()  # (h, w, 3) uint8, h and w even
    """

    _CAPTION_LINES = 3
    _MAX_AUTO = (25.6, 14.4)
    _CELL = 64  # pixel size of the grid that finds the artists under a changed region

    def __init__(
        self,
        graph: Graph,
        positions: Positions | None = None,
        *,
        theme: str = "light",
        figsize: tuple[float, float] | None = None,
        dpi: float = 100,
        with_all: bool = True,
        caption: bool = True,
        labels: bool | None = None,
        local: bool | None = None,
        modules: bool | None = None,
    ) -> None:
        th = theme_colors(theme)
        if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not dpi > 0:
            raise ValueError(f"dpi must be a positive number, got {dpi!r}")
        self.graph = graph
        self.theme = th
        self._dpi = float(dpi)
        pos = node_positions(graph, positions)
        show_grads = bool(with_all) and graph.has_backward
        with rc_context():
            measure: dict[str, Any] = {"show_values": True, "show_grads": show_grads,
                       "show_edge_grads": show_grads, "sums": show_grads,
                       "modules": modules is not False}
            lay = measure_layout(graph, pos, local=show_grads and local is not False, **measure)
            wpx, hpx, band_bottom, band_top = self._pixel_size(lay, figsize, caption)
            self._w, self._h = wpx, hpx
            # a hair over the pixel size: the canvas truncates width * dpi to an integer
            fig = new_figure(((wpx + 0.01) / self._dpi, (hpx + 0.01) / self._dpi), self._dpi,
                              managed=False)
            fig.set_facecolor(th["background"])
            w_pt, h_pt = wpx / self._dpi * 72.0, hpx / self._dpi * 72.0
            band_bottom = min(band_bottom, h_pt * 0.3)
            band_top = min(band_top, h_pt * 0.1)
            graph_h = max(h_pt - band_bottom - band_top, 1.0)
            ax = fig.add_axes((0.0, band_bottom / h_pt, 1.0, graph_h / h_pt))
            lay, fit = fit_with_local(graph, pos, lay, (w_pt, graph_h), measure, local is None)
            self._labels = legibility(lay, fit.f, labels, True, "animation")
            self.fig, self.ax = fig, ax
            self._lay, self._fit = lay, fit
            p = paint(ax, lay, fit, th, labels=self._labels, thumbnails=labels is not False,
                      show_values=True, animated=True)
            self._painter = p
            hl = make_highlights(p, ax)
            self._shape_pts = hl.shape_pts
            self._edge_overlay, self._edge_mask = hl.edge_overlay, hl.edge_mask
            self._overlay_geom, self._saved = hl.overlay_geom, hl.saved
            self._caption_on = bool(caption)
            self._caption_box = (0, 0, wpx, math.ceil(band_bottom / 72.0 * self._dpi))
            self._phase_box = (0, hpx - math.ceil(band_top / 72.0 * self._dpi), wpx, hpx)
            # every artist that changes is drawn by the Scene, not by the figure
            dynamic: list[Any] = []
            for pair in self._edge_overlay:
                if pair is not None:
                    dynamic.extend(pair)
            dynamic.extend(self._edge_mask.values())
            for na in p.nodes:
                dynamic.append(na.patch)
                dynamic.extend(na.texts.values())
            dynamic.extend(self._saved.values())
            dynamic.extend(p.edge_labels.values())
            dynamic.extend(p.edge_locals.values())
            self._start_compositor(dynamic)
            self._captions = CaptionBand(fig, th, wpx, self._dpi, self._caption_box,
                                         self._phase_box, self._render)
            self._roles = [lk.role for lk in lay.looks]
            self._index = {nid: i for i, nid in enumerate(lay.ids)}
            self._state = first_state(graph, self._roles)
            for na in p.nodes:
                self._apply_node(na.index, self._state.nodes[na.index], None)
            self._redraw([(0, 0, wpx, hpx)])


    # -- construction helpers
    def _pixel_size(self, lay: Any, figsize: tuple[float, float] | None, caption: bool
                    ) -> tuple[int, int, float, float]:
        """Frame size in pixels (even numbers) and the caption bands below and above (pt):
        ``figsize``, or the natural size of the graph plus the bands, capped."""
        cap_h = line_height(FONT["caption"]) * (1 + 1.2 * (self._CAPTION_LINES - 1))
        band_bottom = cap_h + 14.0 if caption else 0.0
        band_top = line_height(FONT["phase"]) + 10.0 if caption else 0.0
        if figsize is None:
            nat_w, nat_h = lay.natural_size
            w_in, h_in = nat_w / 72.0, (nat_h + band_bottom + band_top) / 72.0
            cap = min(1.0, self._MAX_AUTO[0] / w_in, self._MAX_AUTO[1] / h_in)
            w_in, h_in = max(w_in * cap, 4.0), max(h_in * cap, 2.5)
        else:
            w_in, h_in = float(figsize[0]), float(figsize[1])
        wpx = max(2, 2 * math.ceil(w_in * self._dpi / 2.0 - 1e-9))
        hpx = max(2, 2 * math.ceil(h_in * self._dpi / 2.0 - 1e-9))
        return wpx, hpx, band_bottom, band_top

    def _start_compositor(self, dynamic: list[Any]) -> None:
        """Draw the static background once (the ``dynamic`` artists left out) and register
        every dynamic artist, in drawing order, with the pixel boxes it can touch."""
        import numpy as np

        wpx, hpx, fig = self._w, self._h, self.fig
        for a in dynamic:
            a.set_animated(True)
        fig.canvas.draw()  # the static background, once
        self._renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        self._scratch = np.asarray(fig.canvas.buffer_rgba())  # type: ignore[attr-defined]
        if self._scratch.shape[:2] != (hpx, wpx):  # pragma: no cover - rounding guard
            raise RuntimeError(
                f"canvas is {self._scratch.shape[1]}x{self._scratch.shape[0]} px, "
                f"expected {wpx}x{hpx}"
            )
        self._bg = np.ascontiguousarray(self._scratch[:, :, :3])
        self._img = self._bg.copy()
        # state: which look each item shows; sprites per (item, look)
        self._items: list[Any] = []  # artists, in drawing order
        self._order: dict[int, int] = {}
        self._look: dict[int, Any] = {}  # id(artist) -> current look, None = hidden
        self._sprites: dict[tuple[int, Any], Sprite | None] = {}
        self._extent: dict[int, tuple[int, int, int, int]] = {}
        self._grid: dict[tuple[int, int], list[Any]] = {}
        boxes = self._shape_boxes()
        for a in sorted(dynamic, key=lambda a: a.get_zorder()):  # stable: creation order
            self._add_item(a, boxes.get(id(a)))

    def _pixel_box(self, a: Any) -> tuple[int, int, int, int]:
        """Pixels an artist can touch in any of its looks (thick borders, label boxes)."""
        from matplotlib.transforms import Bbox

        pts = self._shape_pts.get(id(a))
        if pts is not None:  # shapes: from their geometry (their extents walk every curve)
            bb = Bbox.null()
            bb.update_from_data_xy(self.ax.transData.transform(pts))
        else:
            was = a.get_visible()
            a.set_visible(True)
            bb = a.get_window_extent(self._renderer)
            a.set_visible(was)
        pad_pt = 2.0 * max(self._fit.f, 0.3)
        if hasattr(a, "get_bbox_patch") and a.get_bbox_patch() is not None:
            pad_pt += 0.3 * a.get_fontsize()
        pad = math.ceil(pad_pt * self._dpi / 72.0) + 2
        return (math.floor(bb.x0) - pad, math.floor(bb.y0) - pad,
                math.ceil(bb.x1) + pad, math.ceil(bb.y1) + pad)

    def _add_item(self, a: Any, box: tuple[int, int, int, int] | None = None) -> None:
        self._order[id(a)] = len(self._items)
        self._items.append(a)
        self._look[id(a)] = None
        self._place(a, box or self._pixel_box(a))

    def _shape_boxes(self) -> dict[int, tuple[int, int, int, int]]:
        """Pixel boxes of all node shapes and edge highlights, in one transform."""
        import numpy as np

        keys = list(self._shape_pts)
        if not keys:
            return {}
        pts = [np.asarray(self._shape_pts[k], dtype=float) for k in keys]
        cuts = np.cumsum([len(p) for p in pts])[:-1]
        screen = np.split(self.ax.transData.transform(np.concatenate(pts)), cuts)
        pad = math.ceil(2.0 * max(self._fit.f, 0.3) * self._dpi / 72.0) + 2
        out = {}
        for k, s in zip(keys, screen):
            lo, hi = s.min(axis=0), s.max(axis=0)
            out[k] = (math.floor(lo[0]) - pad, math.floor(lo[1]) - pad,
                      math.ceil(hi[0]) + pad, math.ceil(hi[1]) + pad)
        return out

    def _place(self, a: Any, box: tuple[int, int, int, int]) -> None:
        self._extent[id(a)] = box
        c = self._CELL
        for gx in range(box[0] // c, box[2] // c + 1):
            for gy in range(box[1] // c, box[3] // c + 1):
                self._grid.setdefault((gx, gy), []).append(a)

    def _unplace(self, a: Any) -> None:
        box = self._extent.pop(id(a))
        c = self._CELL
        for gx in range(box[0] // c, box[2] // c + 1):
            for gy in range(box[1] // c, box[3] // c + 1):
                cell = self._grid[(gx, gy)]
                cell[:] = [b for b in cell if b is not a]

    def _render(self, a: Any, box: tuple[int, int, int, int]) -> Sprite | None:
        """Rasterise artist ``a`` alone (as it is now) inside ``box``; ``None`` if empty."""
        import numpy as np
        from matplotlib.transforms import Bbox

        W, H = self._w, self._h
        x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(W, box[2]), min(H, box[3])
        if x1 <= x0 or y1 <= y0:
            return None
        rows, cols = slice(H - y1, H - y0), slice(x0, x1)
        buf = self._scratch
        saved = buf[rows, cols].copy()
        buf[rows, cols] = 0
        was = a.get_visible()
        a.set_visible(True)
        a.set_clip_box(Bbox.from_extents(x0, y0, x1, y1))
        a.set_clip_on(True)
        try:
            a.draw(self._renderer)
        finally:
            a.set_clip_on(False)
            a.set_visible(was)
        rgba = buf[rows, cols].copy()
        buf[rows, cols] = saved
        alpha = rgba[:, :, 3]
        ys, xs = np.nonzero(alpha)
        if not len(ys):
            return None
        r0, r1, c0, c1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        rgba = rgba[r0:r1, c0:c1]
        a16 = rgba[:, :, 3:4].astype(np.uint16)
        return Sprite(x0 + c0, y1 - r1, x0 + c1, y1 - r0,
                       rgba[:, :, :3].astype(np.uint16) * a16 + 127, 255 - a16)

    def _blend(self, s: Sprite, x0: int, y0: int, x1: int, y1: int, dx: int = 0,
               dy: int = 0) -> None:
        """Blend sprite ``s`` (moved by dx, dy) into the frame, inside the given box."""
        import numpy as np

        sx0, sy0, sx1, sy1 = s.x0 + dx, s.y0 + dy, s.x1 + dx, s.y1 + dy
        ix0, iy0, ix1, iy1 = max(x0, sx0), max(y0, sy0), min(x1, sx1), min(y1, sy1)
        if ix1 <= ix0 or iy1 <= iy0:
            return
        H = self._h
        dst = self._img[H - iy1:H - iy0, ix0:ix1]
        rs, cs = slice(sy1 - iy1, sy1 - iy0), slice(ix0 - sx0, ix1 - sx0)
        out = dst * s.inv[rs, cs]
        out += s.premult[rs, cs]
        np.floor_divide(out, 255, out=out)
        dst[...] = out

    # -- public
    @property
    def size(self) -> tuple[int, int]:
        """Pixel size ``(width, height)`` of every frame; both even."""
        return self._w, self._h

    def show(self, frame: Frame) -> None:
        """Update the drawing to ``frame``, redrawing only what changed since the last one."""
        new = frame_state(self.graph, self._roles, frame)
        self.apply(changes(self.graph, self._state, new), new.direction)

    def apply(self, todo: list[Change], direction: str) -> None:
        """Give each element of ``todo`` its new look (see :mod:`graphanim.scene.changes`) and
        redraw the pixels they cover; ``direction`` is the pass of the frame."""
        dirty: list[tuple[int, int, int, int]] = []
        with rc_context():
            for ch in todo:
                if ch.kind == "node":
                    i = self._index[ch.id]
                    dirty.extend(self._apply_node(i, ch.state, self._state.nodes[i]))
                elif ch.kind == "edge":
                    st = ch.state
                    dirty.extend(self._apply_edge(int(ch.id[1:]), (st.active, st.grad),
                                                  direction))
                elif not self._caption_on:
                    continue
                elif ch.kind == "caption":
                    self._captions.set_caption(*ch.state)
                    dirty.append(self._caption_box)
                else:
                    self._captions.set_phase(ch.state,
                                             self.theme.get(direction, self.theme["text"]))
                    dirty.append(self._phase_box)
            self._state = apply_changes(self.graph, self._state, todo, direction,
                                        self._index)
            if dirty:
                self._redraw(dirty)

    def rgb(self) -> np.ndarray:
        """The current frame as a ``(height, width, 3)`` uint8 array (a copy)."""
        return self._img.copy()

    def close(self) -> None:
        """Free the sprites and pixel buffers; :meth:`show` and :meth:`rgb` fail afterwards."""
        import numpy as np

        self._sprites.clear()
        self._img = self._bg = np.zeros((0, 0, 3), dtype=np.uint8)
        self.fig.clear()

    # -- state -> looks
    def _set_look(self, a: Any, look: Any) -> list[tuple[int, int, int, int]]:
        if self._look[id(a)] == look:
            return []
        self._look[id(a)] = look
        return [self._extent[id(a)]]

    def _apply_node(self, i: int, new: NodeState, old: NodeState | None
                    ) -> list[tuple[int, int, int, int]]:
        na = self._painter.nodes[i]
        style, vis_value, vis_grad, sum_text, is_saved = (
            new.style, new.value, new.grad, new.sum, new.saved)
        boxes = self._set_look(na.patch, style)
        if style != (old.style if old else None):
            # the texts sit on the box: redrawn with it (their look is unchanged)
            boxes += [self._extent[id(t)] for t in na.texts.values()]
        mark = self._saved.get(i)
        if mark is not None:
            boxes += self._set_look(mark, "on" if is_saved else None)
        for role, t in na.texts.items():
            if role.startswith("value"):
                vis = vis_value
            elif role.startswith("grad"):
                vis = vis_grad
            else:
                vis = True
            boxes += self._set_look(t, "on" if vis else None)
        if sum_text != (old.sum if old is not None else None):
            boxes += self._set_sum(i, sum_text)
        return boxes

    def _set_sum(self, i: int, text: str | None) -> list[tuple[int, int, int, int]]:
        na = self._painter.nodes[i]
        if not self._labels:
            return []
        boxes = []
        if na.sum_text is None:
            if not text:
                return []
            p = self._painter
            lk = self._lay.looks[i]
            cx, cy = p.point(i)
            xy = p.to_data([(cx, cy - lk.h / 2 * self._fit.f - 2.0 * self._fit.f)])[0]
            t = p.text(self.ax, xy, "", FONT["sum"], color=self.theme["grad"],
                       gid=f"graphanim-{lk.node.id}-sum", zorder=3.5, va="top")
            t.set_animated(True)
            na.sum_text = t
        else:
            t = na.sum_text
            boxes.append(self._extent[id(t)])
            self._unplace(t)
        t.set_text(text or "")
        if id(t) not in self._order:
            self._order[id(t)] = len(self._items)
            self._items.append(t)
        self._place(t, self._pixel_box(t))
        self._look[id(t)] = text or None
        boxes.append(self._extent[id(t)])
        return boxes

    def _apply_edge(self, ei: int, new: tuple[bool, bool], direction: str
                    ) -> list[tuple[int, int, int, int]]:
        boxes: list[tuple[int, int, int, int]] = []
        active, grad_vis = new
        pair = self._edge_overlay[ei]
        if pair is not None:
            for a in pair:
                boxes += self._set_look(a, direction if active else None)
        mask = self._edge_mask.get(ei)
        if mask is not None:
            boxes += self._set_look(mask, "on" if active and direction == "backward" else None)
        for lab in (self._painter.edge_labels.get(ei), self._painter.edge_locals.get(ei)):
            if lab is not None:
                boxes += self._set_look(lab, "on" if grad_vis else None)
        return boxes

    def _sprite(self, a: Any, look: Any) -> Sprite | None:
        """The pixels of item ``a`` in ``look``, rasterised on first use and kept."""
        key = (id(a), look)
        if key not in self._sprites:
            if id(a) in self._patch_index:
                self._style_patch(a, look)
            elif look in ("forward", "backward"):  # edge highlight in the pass colour
                a.set_color(self.theme[look])
                pts = self._overlay_geom[id(a)][look]
                if hasattr(a, "set_xy"):
                    a.set_xy(pts)
                else:
                    a.set_data(pts[:, 0], pts[:, 1])
            # texts have one look ("on"); an accumulation text's look is its text, set already
            self._sprites[key] = self._render(a, self._extent[id(a)])
        return self._sprites[key]

    def _style_patch(self, patch: Any, look: str) -> None:
        i = self._patch_index[id(patch)]
        st = base_style(self.theme, self._lay.looks[i].role)
        if look == "active":
            fill, edge, lw = self.theme["active_fill"], self.theme["active_edge"], 2.4
        elif look.startswith("done-"):
            fill, edge, lw = st.fill, self.theme[look[5:]], max(st.lw, 1.7)
        else:
            fill, edge, lw = st.fill, st.edge, st.lw
        patch.set_facecolor(fill)
        patch.set_edgecolor(edge)
        patch.set_linewidth(lw * max(self._fit.f, 0.3))

    @property
    def _patch_index(self) -> dict[int, int]:
        idx = getattr(self, "_patch_index_cache", None)
        if idx is None:
            idx = {id(na.patch): na.index for na in self._painter.nodes}
            self._patch_index_cache = idx
        return idx

    # -- pixels
    def _redraw(self, boxes: list[tuple[int, int, int, int]]) -> None:
        """Restore the background inside each changed box and blend back, clipped to it,
        every visible item reaching into it, in drawing order."""
        W, H = self._w, self._h
        img, bg, grid, extent, c = self._img, self._bg, self._grid, self._extent, self._CELL
        for x0, y0, x1, y1 in merge_boxes(boxes, W, H):
            img[H - y1:H - y0, x0:x1] = bg[H - y1:H - y0, x0:x1]
            found: dict[int, Any] = {}
            for gx in range(x0 // c, (x1 - 1) // c + 1):
                for gy in range(y0 // c, (y1 - 1) // c + 1):
                    for a in grid.get((gx, gy), ()):
                        e = extent[id(a)]
                        if e[0] < x1 and x0 < e[2] and e[1] < y1 and y0 < e[3]:
                            found[id(a)] = a
            order = self._order
            for a in sorted(found.values(), key=lambda a: order[id(a)]):
                look = self._look[id(a)]
                if look is None:
                    continue
                s = self._sprite(a, look)
                if s is not None:
                    self._blend(s, x0, y0, x1, y1)
            if self._caption_on:
                cb = self._caption_box
                if cb[0] < x1 and x0 < cb[2] and cb[1] < y1 and y0 < cb[3]:
                    for s, dx, dy in self._captions.glyphs:
                        self._blend(s, x0, y0, x1, y1, dx, dy)
                pb = self._phase_box
                if self._captions.phase_sprite is not None and (
                        pb[0] < x1 and x0 < pb[2] and pb[1] < y1 and y0 < pb[3]):
                    self._blend(self._captions.phase_sprite, x0, y0, x1, y1)


def merge_boxes(boxes: list[tuple[int, int, int, int]], width: int, height: int
                 ) -> list[tuple[int, int, int, int]]:
    """Clip boxes to the frame and merge overlapping ones (each pixel is redrawn once)."""
    out: list[list[int]] = []
    for b in boxes:
        box = [max(0, b[0]), max(0, b[1]), min(width, b[2]), min(height, b[3])]
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        merged = True
        while merged:
            merged = False
            for o in out:
                if box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3]:
                    box = [min(box[0], o[0]), min(box[1], o[1]), max(box[2], o[2]),
                           max(box[3], o[3])]
                    out.remove(o)
                    merged = True
                    break
        out.append(box)
    return [(b[0], b[1], b[2], b[3]) for b in out]
