"""The caption band of an animation frame: the caption under the graph (with its note) and the
pass name above it, composed from cached glyph sprites."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..scene.text import font_props, line_height, text_width
from ..scene.themes import FONT

__all__ = ["CaptionBand", "Glyphs", "Sprite"]

@dataclass
class Sprite:
    """Pixels of one artist in one state, ready to blend: ``(dst*inv + premult) / 255``."""

    x0: int  # pixel box, origin bottom-left like matplotlib's display coordinates
    y0: int
    x1: int
    y1: int
    premult: Any  # (h, w, 3) uint16: colour times alpha
    inv: Any  # (h, w, 1) uint16: 255 - alpha


#: (size, colour, bold, dpi) -> character -> (sprite, advance, glyph index)
_GLYPH_SPRITES: dict[tuple[float, str, bool, float], dict[str, tuple[Any, float, int]]] = {}
_GLYPH_KERNING: dict[tuple[float, str, bool, float], dict[tuple[int, int], float]] = {}


class Glyphs:
    """Glyph sprites of one font size and colour, to compose captions without re-rasterising
    the whole text every frame (FreeType lays out a 40-character line in about a millisecond)."""

    def __init__(self, scene: CaptionBand, size: float, color: str, bold: bool) -> None:
        from matplotlib.font_manager import findfont, get_font

        self.scene, self.size, self.color, self.bold = scene, size, color, bold
        self.prop = font_props(size, bold)
        self.font = get_font([findfont(self.prop)])
        self.px = scene._dpi / 72.0
        # glyph sprites depend only on font, size, colour and dpi: shared by every Scene
        key = (size, color, bold, scene._dpi)
        if key not in _GLYPH_SPRITES and len(_GLYPH_SPRITES) > 64:
            _GLYPH_SPRITES.clear()
            _GLYPH_KERNING.clear()
        self.sprites = _GLYPH_SPRITES.setdefault(key, {})
        self.kerning: dict[tuple[int, int], float] = _GLYPH_KERNING.setdefault(key, {})
        self.line_px = line_height(size) * self.px

    def _glyph(self, ch: str) -> tuple[Sprite | None, float, int]:
        got = self.sprites.get(ch)
        if got is not None:
            return got
        from matplotlib.ft2font import LoadFlags
        from matplotlib.text import Text
        from matplotlib.transforms import IdentityTransform

        self.font.set_size(self.size, self.scene._dpi)
        idx = self.font.get_char_index(ord(ch))
        if idx:
            adv = self.font.load_char(ord(ch), flags=LoadFlags.NO_HINTING).linearHoriAdvance
            advance = adv / 65536.0
        else:  # not in DejaVu Sans: matplotlib's fallback font draws it
            advance = text_width(ch, self.size, self.bold) * self.px + 1.0
        sprite = None
        if not ch.isspace():
            ox, oy = 4 * self.line_px, 4 * self.line_px  # an origin well inside the canvas
            t = Text(ox, oy, ch.replace("$", r"\$"), fontproperties=self.prop, color=self.color,
                     ha="left", va="baseline", usetex=False, parse_math=True,
                     transform=IdentityTransform())
            t.set_figure(self.scene.fig)
            box = (int(ox - self.line_px), int(oy - self.line_px),
                   int(ox + 3 * self.line_px), int(oy + 2 * self.line_px))
            sprite = self.scene._render(t, box)
            if sprite is not None:  # store relative to the origin
                sprite = Sprite(sprite.x0 - int(ox), sprite.y0 - int(oy), sprite.x1 - int(ox),
                                 sprite.y1 - int(oy), sprite.premult, sprite.inv)
        got = (sprite, advance, idx)
        self.sprites[ch] = got
        return got

    def layout(self, line: str) -> tuple[list[tuple[Sprite, int]], float]:
        """Sprites of ``line`` with their pen x (pixels from the line start) and the width."""
        from matplotlib.ft2font import Kerning

        out: list[tuple[Sprite, int]] = []
        pen = 0.0
        prev = 0
        kern = self.kerning
        for ch in line:
            sprite, adv, idx = self._glyph(ch)
            if prev and idx:
                k = kern.get((prev, idx))
                if k is None:
                    self.font.set_size(self.size, self.scene._dpi)
                    k = kern[(prev, idx)] = self.font.get_kerning(
                        prev, idx, Kerning.DEFAULT) / 64.0  # type: ignore[arg-type]
                pen += k
            if sprite is not None:
                out.append((sprite, round(pen)))
            pen += adv
            prev = idx
        return out, pen



class CaptionBand:
    """The caption (bottom band) and pass name (top band) of a frame, as sprites to blend.

    ``render(artist, box)`` rasterises a matplotlib artist inside a pixel box (the Scene's
    compositor does it); ``glyphs`` holds the caption's glyph sprites with their pixel offsets and
    ``phase_sprite`` the pass name, for the compositor to blend.
    """

    def __init__(self, fig: Any, theme: dict[str, str], width: int, dpi: float,
                 caption_box: tuple[int, int, int, int], phase_box: tuple[int, int, int, int],
                 render: Callable[[Any, tuple[int, int, int, int]], Sprite | None]) -> None:
        self.fig, self.theme, self._w, self._dpi = fig, theme, width, dpi
        self._caption_box, self._phase_box = caption_box, phase_box
        self._render = render
        self._glyphs: dict[tuple[float, str, bool], Glyphs] = {}
        self.glyphs: list[tuple[Sprite, int, int]] = []
        self.phase_sprite: Sprite | None = None

    def set_caption(self, text: str, note: str = "") -> None:
        """Caption glyphs, centred line by line, shrunk to fit the band when long; the ``note``
        (saved tensors) as a last line in the colour of the saved-tensor highlight."""
        import matplotlib.cbook as cbook

        self.glyphs = []
        if not text and not note:
            return
        size = FONT["caption"]
        avail_w = self._w - 16.0 * self._dpi / 72.0
        avail_h = self._caption_box[3] - 6.0 * self._dpi / 72.0
        lines = [(line, self.theme["text"]) for line in text.split("\n")] if text else []
        if any(cbook.is_math_text(line) for line, _ in lines) or cbook.is_math_text(note):
            self.glyphs = self._math_caption(text, note)
            return
        lines = [(line.replace(r"\$", "$"), color) for line, color in lines]
        if note:
            lines.append((note.replace(r"\$", "$"), self.theme["saved_edge"]))
        ratio = FONT["note"] / FONT["caption"]  # the note is set a little smaller
        for _ in range(4):
            note_size = round(size * ratio * 2) / 2
            sets = [self._glyph_set(note_size if note and k == len(lines) - 1 else size, color,
                                    False) for k, (_, color) in enumerate(lines)]
            laid = [g_.layout(line) for g_, (line, _) in zip(sets, lines)]
            width = max((w for _, w in laid), default=0.0)
            pitches = [1.2 * g_.line_px for g_ in sets]
            height = sum(pitches) - pitches[-1] + sets[-1].line_px if sets else 0.0
            scale = min(1.0, avail_w / width if width else 1.0, avail_h / height if height else 1.0)
            if scale >= 0.999 or size <= 4.0:
                break
            size = max(4.0, math.floor(size * scale * 2) / 2)
        cy = self._caption_box[3] / 2.0
        top = cy + height / 2.0
        for (glyphs, width), g_, pitch in zip(laid, sets, pitches):
            base = round(top - g_.line_px * 0.8)
            top -= pitch
            x = round(self._w / 2.0 - width / 2.0)
            self.glyphs.extend((s, x + dx, base) for s, dx in glyphs)

    def _math_caption(self, text: str, note: str = "") -> list[tuple[Sprite, int, int]]:
        """A caption with mathtext: rasterised whole by matplotlib (slower, exact); the note
        under it in its own colour."""
        from matplotlib.text import Text
        from matplotlib.transforms import IdentityTransform

        pitch = 1.2 * line_height(FONT["caption"]) * self._dpi / 72.0
        cy = self._caption_box[3] / 2.0
        n_lines = (text.count("\n") + 1 if text else 0) + (1 if note else 0)
        out = []
        parts = [(text, self.theme["text"], text.count("\n") + 1 if text else 0, "caption"),
                 (note, self.theme["saved_edge"], 1, "note")]
        top = cy + (n_lines - 1) * pitch / 2.0
        for part, color, count, font in parts:
            if not part:
                continue
            y = top - (count - 1) * pitch / 2.0
            top -= count * pitch
            t = Text(self._w / 2.0, y, part, fontproperties=font_props(FONT[font]),
                     color=color, ha="center", va="center", multialignment="center",
                     usetex=False, parse_math=True, transform=IdentityTransform())
            t.set_figure(self.fig)
            sprite = self._render(t, self._caption_box)
            if sprite is not None:
                out.append((sprite, 0, 0))
        return out

    def _glyph_set(self, size: float, color: str, bold: bool) -> Glyphs:
        key = (size, color, bold)
        g = self._glyphs.get(key)
        if g is None:
            g = self._glyphs[key] = Glyphs(self, size, color, bold)
        return g

    def set_phase(self, text: str, color: str) -> None:
        self.phase_sprite = None
        if not text:
            return
        from matplotlib.text import Text
        from matplotlib.transforms import IdentityTransform

        y0, y1 = self._phase_box[1], self._phase_box[3]
        t = Text(8.0 * self._dpi / 72.0, (y0 + y1) / 2.0, text,
                 fontproperties=font_props(FONT["phase"], True), color=color, ha="left",
                 va="center", usetex=False, parse_math=True, transform=IdentityTransform())
        t.set_figure(self.fig)
        self.phase_sprite = self._render(t, self._phase_box)

