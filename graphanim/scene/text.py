"""Text metrics: the width and height of a label as it is drawn (DejaVu Sans, mathtext), read
from the font's own metrics; no figure or renderer is needed."""

from __future__ import annotations

from typing import Any

__all__ = ["GLYPH_SIZE", "block_height", "font_props", "glyph_font", "line_height", "text_width"]


# -- text measurement --------------------------------------------------------------------------


class _Measure:
    """Widths of texts as matplotlib draws them (DejaVu Sans; mathtext), cached.

    Plain text is measured from the font's glyph advances and kerning, read once per character
    (laying out each string with FreeType costs ~0.1 ms, too much for graphs with thousands of
    labels); mathtext and characters DejaVu Sans lacks are measured by matplotlib itself.
    """

    _SIZE = 100.0  # advances are read at this size and scaled

    def __init__(self) -> None:
        self._props: dict[tuple[float, bool], Any] = {}
        self._cache: dict[tuple[str, float, bool], float] = {}
        self._fonts: dict[bool, Any] = {}
        self._adv: dict[tuple[str, bool], tuple[int, float]] = {}
        self._kern: dict[tuple[int, int, bool], float] = {}

    def prop(self, size: float, bold: bool = False) -> Any:
        key = (size, bold)
        fp = self._props.get(key)
        if fp is None:
            from matplotlib.font_manager import FontProperties

            fp = FontProperties(
                family="DejaVu Sans",
                weight="bold" if bold else "normal",
                size=size,
                math_fontfamily="dejavusans",
            )
            self._props[key] = fp
        return fp

    def width(self, text: str, size: float, bold: bool = False) -> float:
        """Width in points of the widest line of ``text``."""
        return max((self._line(line, size, bold) for line in text.split("\n")), default=0.0)

    def _font(self, bold: bool) -> Any:
        font = self._fonts.get(bold)
        if font is None:
            from matplotlib.font_manager import findfont, get_font

            font = get_font([findfont(self.prop(self._SIZE, bold))])
            self._fonts[bold] = font
        font.set_size(self._SIZE, 72)
        return font

    def _advance_width(self, text: str, bold: bool) -> float | None:
        """Sum of advances and kerning at ``_SIZE`` pt; ``None`` if a glyph is missing."""
        from matplotlib.ft2font import Kerning, LoadFlags

        total = 0.0
        prev = 0
        font = None
        for ch in text:
            got = self._adv.get((ch, bold))
            if got is None:
                font = font or self._font(bold)
                idx = font.get_char_index(ord(ch))
                adv = (font.load_char(ord(ch), flags=LoadFlags.NO_HINTING).linearHoriAdvance
                       / 65536.0 if idx else 0.0)
                got = self._adv[(ch, bold)] = (idx, adv)
            idx, adv = got
            if not idx:
                return None
            if prev:
                k = self._kern.get((prev, idx, bold))
                if k is None:
                    font = font or self._font(bold)
                    k = self._kern[(prev, idx, bold)] = (
                        font.get_kerning(prev, idx, Kerning.DEFAULT) / 64.0)  # type: ignore[arg-type]
                total += k
            total += adv
            prev = idx
        return total

    def _line(self, line: str, size: float, bold: bool) -> float:
        key = (line, size, bold)
        w = self._cache.get(key)
        if w is None:
            from matplotlib import cbook

            ismath = cbook.is_math_text(line)
            shown = line if ismath else line.replace(r"\$", "$")
            adv = None if ismath else self._advance_width(shown, bold)
            if not shown:
                w = 0.0
            elif adv is not None:
                w = adv * size / self._SIZE
            else:
                from matplotlib.textpath import text_to_path

                w = float(text_to_path.get_text_width_height_descent(
                    shown, self.prop(size, bold), ismath)[0])
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[key] = w
        return w


_MEASURE = _Measure()

#: The size (pt) glyph outlines and advances are read at; scale by ``size / GLYPH_SIZE``.
GLYPH_SIZE = _Measure._SIZE


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width in points of the widest line of ``text`` drawn at ``size`` pt (mathtext allowed).

    Parameters
    ----------
    text : str
        The label; ``\\n`` separates lines.
    size : float
        Font size in points.
    bold : bool, default False
        Bold DejaVu Sans.

    Returns
    -------
    float
        The width in points, as matplotlib would draw it.
    """
    return _MEASURE.width(text, size, bold)


def font_props(size: float, bold: bool = False) -> Any:
    """The ``FontProperties`` of graphanim's labels at ``size`` pt (cached)."""
    return _MEASURE.prop(size, bold)


def glyph_font(bold: bool) -> Any:
    """The FreeType font of the labels, set to :data:`GLYPH_SIZE` pt at 72 dpi."""
    return _MEASURE._font(bold)


def line_height(size: float) -> float:
    """Height of one line of DejaVu Sans text as matplotlib spaces it (pt)."""
    return 1.17 * size


def block_height(text: str, size: float) -> float:
    """Height of a (multi-line) text block at ``size`` pt."""
    lines = text.count("\n") + 1
    # matplotlib puts multi-line text at 1.2 line spacing
    return line_height(size) * (1 + 1.2 * (lines - 1))
