"""The glyph layer: thousands of labels drawn as a few matplotlib path collections (one per
glyph, font and colour)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..scene.place import TextReq
from ..scene.text import GLYPH_SIZE, font_props, glyph_font, line_height, text_width
from .shapes import rounded_rect

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes

    from .artists import Painter

__all__ = ["GlyphLayer"]




class GlyphLayer:
    """Labels as glyph outlines: every glyph shape is one path, drawn at all its positions by
    one ``PathCollection`` per (glyph, font, colour); SVG writes it once and ``<use>``s it."""

    _cache: ClassVar[dict[tuple[str, bool], tuple[Any, float]]] = {}

    def __init__(self, painter: Painter) -> None:
        self.p = painter

    def _glyph(self, ch: str, bold: bool) -> tuple[Any, float]:
        """Outline of ``ch`` for a 1 pt font (or of a whole mathtext string), and its advance."""
        key = (ch, bold)
        got = self._cache.get(key)
        if got is None:
            from matplotlib.ft2font import LoadFlags
            from matplotlib.path import Path as MPath

            path = None
            adv = 0.0
            if len(ch) == 1:
                font = glyph_font(bold)
                idx = font.get_char_index(ord(ch))
                if idx:
                    font.load_glyph(idx, flags=LoadFlags.NO_HINTING)
                    verts, codes = font.get_path()
                    adv = font.load_char(ord(ch), flags=LoadFlags.NO_HINTING
                                         ).linearHoriAdvance / 65536.0 / GLYPH_SIZE
                    path = MPath(verts / GLYPH_SIZE, codes) if len(verts) else None
                    got = (path, adv)
            if got is None:  # mathtext, or a character DejaVu Sans lacks: matplotlib's layout
                from matplotlib.textpath import TextPath

                tp = TextPath((0, 0), ch, size=GLYPH_SIZE, prop=font_props(10.0, bold))
                path = MPath(tp.vertices / GLYPH_SIZE, tp.codes) if len(tp.vertices) else None
                adv = text_width(ch, GLYPH_SIZE, bold) / GLYPH_SIZE
                got = (path, adv)
            if len(self._cache) > 5000:
                self._cache.clear()
            self._cache[key] = got
        return got

    def draw(self, ax: Axes, reqs: list[TextReq]) -> None:
        import numpy as np
        from matplotlib import cbook
        from matplotlib.collections import PathCollection
        from matplotlib.transforms import Affine2D

        f = self.p.fit.f
        groups: dict[tuple[str, bool, float, str, float], list[tuple[float, float]]] = {}
        boxes = []
        for r in reqs:
            size = r.size * f
            lines = r.text.split("\n")
            pitch = 1.2 * line_height(size)
            if r.va == "center":
                base = r.y + (len(lines) - 1) * pitch / 2 - 0.36 * size
            else:
                base = r.y
            for k, line in enumerate(lines):
                y = base - k * pitch
                if cbook.is_math_text(line):
                    units = [line]
                else:
                    units = list(line.replace(r"\$", "$"))
                width = text_width(line, size, r.bold)
                pen = r.x - width / 2
                for u in units:
                    path, adv = self._glyph(u, r.bold)
                    if path is not None:
                        groups.setdefault((u, r.bold, size, r.color, r.zorder), []).append(
                            (pen, y))
                    pen += adv * size
            if r.box is not None:
                boxes.append(r.box)
        if boxes:
            from matplotlib.path import Path as MPath

            paths = []
            for x0, y0, x1, y1 in boxes:
                v, c = rounded_rect(x0, y0, x1, y1, 3.0 * f)
                paths.append(MPath(self.p.to_data(v), c))
            bg = PathCollection(paths, facecolors=self.p.theme["label_bg"], edgecolors="none",
                                zorder=3.9)
            bg.set_transform(ax.transData)
            bg.set_gid("graphanim-edge-label-boxes")
            ax.add_collection(bg, autolim=False)
        fig = ax.figure
        for (u, bold, size, color, zorder), origins in groups.items():
            path, _ = self._glyph(u, bold)
            pc = PathCollection([path], offsets=self.p.to_data(np.asarray(origins)),
                                offset_transform=ax.transData, facecolors=color,
                                edgecolors="none", zorder=zorder)
            pc.set_transform(Affine2D().scale(size / 72.0) + fig.dpi_scale_trans)
            pc.set_gid("graphanim-labels")
            ax.add_collection(pc, autolim=False)
