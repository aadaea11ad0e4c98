"""matplotlib artists of a measured picture: node outlines, edges and arrow heads, module boxes,
labels (Text artists or, for big graphs, a glyph layer) and heatmap thumbnails."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..scene.geometry import Fit, MeasuredLayout
from ..scene.place import Placement, TextReq
from ..scene.text import font_props
from ..scene.themes import EDGE_LW, FONT, GLYPH_TEXTS, base_style, look_style
from .labels import GlyphLayer
from .shapes import rounded_rect

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes

__all__ = ["NodeArt", "Painter", "paint", "prepare_axes"]


@dataclass
class NodeArt:
    """The artists of one node (in a Scene they are updated together)."""

    index: int
    path: Any  # matplotlib Path in data coordinates
    patch: Any = None
    texts: dict[str, Any] = field(default_factory=dict)
    sum_text: Any = None


class Painter(Placement):
    """Turns a measured layout and a fit into matplotlib artists on ``ax``.

    Geometry is computed in points (the fit's maps of the layout positions) and converted to data
    coordinates (the layout's units) in batches.
    """

    def __init__(self, lay: MeasuredLayout, fit: Fit, theme: dict[str, str], *, labels: bool,
                 show_values: bool) -> None:
        super().__init__(lay, fit, theme, labels=labels)
        self.thumbnails = True  # heatmaps of tensors (off only for labels=False)
        self.show_values = show_values
        self.nodes: list[NodeArt] = []
        self.edge_labels: dict[int, Any] = {}
        self.edge_locals: dict[int, Any] = {}  # the "×2 →" factors before edge gradients
        self._adder: Any = None

    def to_data(self, pts: Any) -> Any:
        """(k, 2) points in pt -> data coordinates."""
        import numpy as np

        pts = np.asarray(pts, dtype=float).reshape(-1, 2)
        return np.column_stack([self.fit.mx.inv(pts[:, 0]), self.fit.my.inv(pts[:, 1])])

    def node_paths(self) -> None:
        import numpy as np
        from matplotlib.path import Path as MPath

        f = self.fit.f
        circle = MPath.unit_circle()
        circle_v: Any = np.asarray(circle.vertices)
        all_v: list[Any] = []
        all_c: list[Any] = []
        for i, lk in enumerate(self.lay.looks):
            cx, cy = self.point(i)
            hw, hh = lk.w / 2 * f, lk.h / 2 * f
            if lk.ellipse:
                all_v.append(circle_v * [hw, hh] + [cx, cy])
                all_c.append(circle.codes)
            else:
                v, c = rounded_rect(cx - hw, cy - hh, cx + hw, cy + hh, 4.5 * f)
                for sx0, sy0, sx1, sy1 in lk.separators:
                    v += [(cx + sx0 * f, cy + sy0 * f), (cx + sx1 * f, cy + sy1 * f)]
                    c += [MPath.MOVETO, MPath.LINETO]
                all_v.append(np.asarray(v, dtype=float))
                all_c.append(c)
        if not all_v:
            return
        cuts = np.cumsum([len(v) for v in all_v])[:-1]
        data = np.split(self.to_data(np.concatenate(all_v)), cuts)
        for i, (verts, codes) in enumerate(zip(data, all_c)):
            self.nodes.append(NodeArt(i, MPath(verts, codes)))



    def draw_edges(self, ax: Axes) -> None:
        """All edges as one path and all arrow heads as another (one SVG element each)."""
        import numpy as np
        from matplotlib.patches import PathPatch
        from matplotlib.path import Path as MPath

        pts: list[tuple[float, float]] = []
        for g in self.edge_geom:
            if g is not None:
                start, end, tip = g
                pts += [start, end, *self.arrow_head(tip, start)]
        if not pts:
            return
        data = self.to_data(pts).reshape(-1, 5, 2)
        k = len(data)
        color = self.theme["edge"]
        codes = np.tile([MPath.MOVETO, MPath.LINETO], k)
        lines = PathPatch(MPath(data[:, :2].reshape(-1, 2), codes), facecolor="none",
                          edgecolor=color, linewidth=EDGE_LW * max(self.fit.f, 0.3),
                          capstyle="butt", zorder=1.0, clip_on=False)
        lines.set_gid("graphanim-edges")
        ax.add_artist(lines)  # add_patch would walk every segment to update data limits
        tri = np.concatenate([data[:, 2:], data[:, 2:3]], axis=1).reshape(-1, 2)
        codes = np.tile([MPath.MOVETO, MPath.LINETO, MPath.LINETO, MPath.CLOSEPOLY], k)
        heads = PathPatch(MPath(tri, codes), facecolor=color, edgecolor="none", zorder=1.01,
                          clip_on=False)
        heads.set_gid("graphanim-arrows")
        ax.add_artist(heads)

    def draw_nodes(self, ax: Axes, compound: bool) -> None:
        """Node outlines: one collection with a path per node (in graph order); for big graphs
        one compound path per role (one SVG element per role instead of per node)."""
        from matplotlib.collections import PathCollection
        from matplotlib.patches import PathPatch
        from matplotlib.path import Path as MPath

        styles = [look_style(self.theme, lk) for lk in self.lay.looks]
        f = max(self.fit.f, 0.3)
        if not compound:
            coll = PathCollection(
                [na.path for na in self.nodes],
                facecolors=[s.fill for s in styles],
                edgecolors=[s.edge for s in styles],
                linewidths=[s.lw * f for s in styles],
                zorder=2.0,
            )
            coll.set_transform(ax.transData)
            coll.set_gid("graphanim-nodes")
            ax.add_collection(coll, autolim=False)
            return
        by_role: dict[str, list[Any]] = {}
        for na, lk in zip(self.nodes, self.lay.looks):
            by_role.setdefault(lk.role, []).append(na.path)
        for role, paths in by_role.items():
            st = base_style(self.theme, role)
            patch = PathPatch(MPath.make_compound_path(*paths), facecolor=st.fill,
                              edgecolor=st.edge, linewidth=st.lw * f, zorder=2.0, clip_on=False)
            patch.set_gid(f"graphanim-nodes-{role}")
            ax.add_artist(patch)

    def draw_rings(self, ax: Axes) -> None:
        """A thick ring in the warning colour around each node whose gradient check failed."""
        from matplotlib.patches import PathPatch
        from matplotlib.path import Path as MPath

        f = self.fit.f
        for na, lk in zip(self.nodes, self.lay.looks):
            if not lk.bad:
                continue
            cx, cy = self.point(na.index)
            grow = 3.0
            hw, hh = (lk.w / 2 + grow) * f, (lk.h / 2 + grow) * f
            v, c = rounded_rect(cx - hw, cy - hh, cx + hw, cy + hh, 7.0 * f)
            ring = PathPatch(MPath(self.to_data(v), c), facecolor="none",
                             edgecolor=self.theme["check_bad"], linewidth=2.4 * max(f, 0.3),
                             zorder=2.05, clip_on=False)
            ring.set_gid(f"graphanim-{lk.node.id}-mismatch")
            ax.add_artist(ring)

    def node_patches(self, ax: Axes) -> None:
        """One patch per node for a Scene, which draws them itself: not added to ``ax``
        (adding hundreds of patches costs clip paths and data-limit updates for nothing)."""
        from matplotlib.patches import PathPatch

        fig: Any = ax.get_figure()
        for na, lk in zip(self.nodes, self.lay.looks):
            st = look_style(self.theme, lk)
            patch = PathPatch(na.path, facecolor=st.fill, edgecolor=st.edge,
                              linewidth=st.lw * max(self.fit.f, 0.3), zorder=2.0,
                              transform=ax.transData)
            patch.set_figure(fig)
            patch.set_gid(f"graphanim-{lk.node.id}")
            na.patch = patch


    def draw_modules(self, ax: Axes) -> None:
        """Module boxes behind everything: a light fill and border (deeper boxes a shade
        darker), the label ``path: Class`` in the top-left corner."""
        if not self.lay.boxes:
            return
        from matplotlib.colors import to_rgba
        from matplotlib.patches import PathPatch
        from matplotlib.path import Path as MPath

        f = self.fit.f
        th = self.theme
        for b, (x0, y0, x1, y1) in zip(self.lay.boxes, self.module_rects()):
            v, c = rounded_rect(x0, y0, x1, y1, 7.0 * f)
            # translucent: nested boxes add up to a darker shade
            patch = PathPatch(MPath(self.to_data(v), c), facecolor=to_rgba(th["module_fill"], 0.7),
                              edgecolor=th["module_edge"], linewidth=0.9 * max(f, 0.3),
                              zorder=0.2 + 0.01 * b.depth, clip_on=False)
            patch.set_gid(b.gid)
            ax.add_artist(patch)
            if self.labels:
                xy = self.to_data([(x0 + 5.0 * f, y1 - 3.0 * f)])[0]
                t = self.text(ax, xy, b.label, FONT["module"], color=th["module_text"],
                              gid=f"{b.gid}-label", zorder=0.9, va="top")
                t.set_horizontalalignment("left")

    def text(self, ax: Axes, xy: tuple[float, float], s: str, size: float, *, color: str,
             gid: str, bold: bool = False, zorder: float = 3.0, va: str = "baseline",
             **kw: Any) -> Any:
        """A Text at data position ``xy``, font scaled by the fit."""
        from matplotlib.text import Text

        t = Text(float(xy[0]), float(xy[1]), s,
                 fontproperties=font_props(round(size * self.fit.f, 3), bold),
                 color=color, ha="center", va=va, zorder=zorder, clip_on=False,
                 parse_math=True, usetex=False, multialignment="center", **kw)
        t.set_gid(gid)
        if self._adder is None:
            # Axes._add_text skips ax.text()'s keyword handling and clip-path setup, which
            # dominate on graphs with thousands of labels; add_artist is the public fallback
            self._adder = getattr(ax, "_add_text", ax.add_artist)
        self._adder(t)
        return t


    def images(self, ax: Axes, add: bool) -> None:
        """Heatmap thumbnails of tensor fields (``BboxImage`` artists in data coordinates);
        added to ``ax`` for a picture, kept in the node's ``texts`` for a Scene. They stay when
        the text is hidden for legibility (only ``labels=False`` leaves them out)."""
        if not self.thumbnails:
            return
        from matplotlib.image import BboxImage
        from matplotlib.transforms import Bbox, TransformedBbox

        f = self.fit.f
        fig: Any = ax.get_figure()
        for na, lk in zip(self.nodes, self.lay.looks):
            cx, cy = self.point(na.index)
            for fld in lk.fields:
                if fld.img is None:
                    continue
                x, y = cx + fld.dx * f, cy + fld.dy * f
                hw, hh = fld.tw / 2 * f, fld.th / 2 * f
                (x0, y0), (x1, y1) = self.to_data([(x - hw, y - hh), (x + hw, y + hh)])
                im = BboxImage(TransformedBbox(Bbox.from_extents(x0, y0, x1, y1), ax.transData),
                               interpolation="nearest", origin="upper", resample=False,
                               zorder=3.0)
                im.set_data(fld.img)
                im.set_gid(f"graphanim-{lk.node.id}-{fld.role}")
                if add:
                    ax.add_artist(im)
                else:
                    im.set_figure(fig)
                na.texts[fld.role] = im


    def draw_texts(self, ax: Axes, reqs: list[TextReq], glyphs: bool) -> None:
        """Text artists (one per label), or for big graphs a glyph layer (one collection per
        glyph, font and colour: ~5x faster to draw and save, same look)."""
        if not reqs:
            return
        if glyphs:
            GlyphLayer(self).draw(ax, reqs)
            return
        data = self.to_data([(r.x, r.y) for r in reqs])
        bbox = {"boxstyle": "round,pad=0.18", "facecolor": self.theme["label_bg"],
                "edgecolor": "none", "linewidth": 0.0}
        for r, xy in zip(reqs, data):
            t = self.text(ax, xy, r.text, r.size, bold=r.bold, color=r.color, va=r.va,
                          zorder=r.zorder, gid=r.gid,
                          **({"bbox": bbox} if r.box is not None else {}))
            if r.key[0] == "edge":
                self.edge_labels[int(r.key[1])] = t
            elif r.key[0] == "edge-local":
                self.edge_locals[int(r.key[1])] = t
            else:
                self.nodes[int(r.key[0])].texts[str(r.key[1])] = t


def prepare_axes(ax: Axes, fit: Fit, th: dict[str, str]) -> None:
    """Axis off, theme background, data coordinates = layout units, limits around the drawing."""
    ax.set_axis_off()
    ax.set_facecolor(th["background"])
    ax.set_aspect("auto")
    ax.set_autoscale_on(False)
    for m, set_scale in ((fit.mx, ax.set_xscale), (fit.my, ax.set_yscale)):
        if m.linear:
            set_scale("linear")
        else:
            set_scale("function", functions=(m.fwd, m.inv))
    x0, x1 = fit.mx.inv([fit.cx - fit.width / 2, fit.cx + fit.width / 2])
    y0, y1 = fit.my.inv([fit.cy - fit.height / 2, fit.cy + fit.height / 2])
    ax.set_xlim(float(x0), float(x1))
    ax.set_ylim(float(y0), float(y1))


def paint(ax: Axes, lay: MeasuredLayout, fit: Fit, theme: dict[str, str], *, labels: bool,
          thumbnails: bool, show_values: bool, animated: bool) -> Painter:
    """Draw the picture of a measured, fitted layout on ``ax`` and return the painter.

    For an animation (``animated``) the nodes, texts and thumbnails are made but not added to
    ``ax``: the Scene's compositor draws them; a static picture of a big graph (more than
    :data:`~graphanim.scene.themes.GLYPH_TEXTS` labels or nodes) gets compound node paths and a
    glyph layer instead of one artist per node and label.
    """
    painter = Painter(lay, fit, theme, labels=labels, show_values=show_values)
    painter.thumbnails = thumbnails
    prepare_axes(ax, fit, theme)
    painter.node_paths()
    painter.edge_paths()
    painter.draw_modules(ax)
    painter.draw_edges(ax)
    reqs = painter.node_text_requests() + painter.edge_label_requests()
    if animated:
        painter.node_patches(ax)
        painter.draw_texts(ax, reqs, glyphs=False)
        painter.images(ax, add=False)
        return painter
    big = len(reqs) > GLYPH_TEXTS or len(lay.ids) > GLYPH_TEXTS
    painter.draw_nodes(ax, compound=big)
    painter.draw_rings(ax)
    painter.draw_texts(ax, reqs, glyphs=big)
    painter.images(ax, add=True)
    return painter
