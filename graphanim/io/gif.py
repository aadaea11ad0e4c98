"""Animated GIF, streamed block by block with one shared palette."""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

from .base import FrameWriter, changed_boxes, register

__all__ = [
    "GifWriter",
    "gif_palette",
]


#: Palette index kept free for "unchanged since the previous frame".
_TRANSPARENT = 255


def _fallback_colours() -> np.ndarray:
    """A coarse colour cube and a grey ramp: stand-ins for colours no sample frame showed."""
    import numpy as np

    levels = np.array([0, 128, 255], dtype=np.uint8)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    greys = np.linspace(0, 255, 14).round().astype(np.uint8)[1:-1]
    return np.concatenate([cube, np.repeat(greys[:, None], 3, axis=1)])


def gif_palette(samples: Sequence[np.ndarray], colors: int = 255) -> np.ndarray:
    """One shared palette for a whole GIF, from a few sample frames: ``(n, 3)`` ``uint8``.

    The samples (e.g. a title, a step and the final frame) are stacked; their most frequent
    colours are kept exactly and Pillow's median cut covers the rest, deterministically. A few
    entries are kept for a coarse colour cube and a grey ramp, so a colour that no sample showed
    still finds a near match. At most ``colors`` (≤ 255)
    entries, so one palette index stays free for transparency.
    """
    import numpy as np
    from PIL import Image

    if not samples:
        raise ValueError("gif_palette needs at least one sample frame")
    if not 64 <= colors <= 255:
        raise ValueError(f"colors must be between 64 and 255, got {colors}")
    fallback = _fallback_colours()
    budget = colors - len(fallback)
    width = max(s.shape[1] for s in samples)
    # Every other pixel keeps every colour region and halves the work.
    parts = [np.asarray(s)[::2, ::2, :3] for s in samples]
    half = (width + 1) // 2
    parts = [np.pad(p, ((0, 0), (0, half - p.shape[1]), (0, 0)), mode="edge") for p in parts]
    stacked = Image.fromarray(np.ascontiguousarray(np.concatenate(parts, axis=0)))
    counts: list[tuple[int, Any]] = list(
        stacked.getcolors(maxcolors=stacked.width * stacked.height) or []
    )
    # The most frequent colours (background, fills, text) are kept exactly: a median-cut box
    # average would turn a white background off-white. Median cut covers the rest.
    counts.sort(key=lambda c: (-c[0], c[1]))
    exact = [c for _, c in counts[: budget if len(counts) <= budget else budget // 2]]
    seen = np.array(exact, dtype=np.uint8).reshape(-1, 3)
    if len(counts) > budget:
        quantized = stacked.quantize(colors=budget - len(exact), method=Image.Quantize.MEDIANCUT)
        used_counts: list[tuple[int, Any]] = quantized.getcolors(maxcolors=256) or []
        used = sorted(int(i) for _, i in used_counts)
        flat = np.array(quantized.getpalette() or [], dtype=np.uint8).reshape(-1, 3)
        seen = np.concatenate([seen, flat[used]])
    return np.concatenate([seen, fallback])[:colors]


class _PaletteMapper:
    """Maps RGB pixels to the index of the nearest palette colour, exactly.

    A lookup table over all 2**24 colours (16 MB, filled lazily: each new colour's nearest entry
    is computed once) keeps a palette colour mapping to itself, which Pillow's reduced-precision
    cache does not guarantee (a white background could turn 252-grey).
    """

    _UNKNOWN = 255  # never a palette index: it is the transparent one

    def __init__(self, palette: np.ndarray) -> None:
        import numpy as np

        self.palette = np.asarray(palette, dtype=np.int32).reshape(-1, 3)
        self.lut = np.full(1 << 24, self._UNKNOWN, dtype=np.uint8)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        import numpy as np

        keys = rgb[..., 0].astype(np.int32) << 16
        keys |= rgb[..., 1].astype(np.int32) << 8
        keys |= rgb[..., 2]
        idx = self.lut[keys]
        missing = idx == self._UNKNOWN
        if missing.any():
            new = np.unique(keys[missing])
            colours = np.stack([new >> 16, (new >> 8) & 255, new & 255], axis=1)
            for start in range(0, len(new), 4096):  # bounded memory for photo-like frames
                part = colours[start : start + 4096]
                d = ((part[:, None, :] - self.palette[None, :, :]) ** 2).sum(axis=2)
                self.lut[new[start : start + 4096]] = d.argmin(axis=1).astype(np.uint8)
            idx = self.lut[keys]
        return idx


@register(".gif")
class GifWriter(FrameWriter):
    """Streaming animated GIF: one shared palette, even timing, loops forever.

    The file is written block by block (GIF89a header, global palette, a looping extension, then
    one image per frame). Each frame after the first stores only the rectangle that changed since
    the previous frame, with unchanged pixels transparent, so frames cost little to encode and the
    file stays small. The pixels are LZW-encoded by Pillow's GIF encoder (``Image.tobytes("gif")``).

    Parameters
    ----------
    path, fps
        See :class:`FrameWriter`. The frame delay is ``100 / fps`` hundredths of a second
        (at least 2, as browsers slow down shorter delays).
    palette : array of shape (n, 3), optional
        The shared palette (at most 255 colours, see :func:`gif_palette`); by default it is made
        from the first frame.
    loop : int, default 0
        Times to play; ``0`` loops forever.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float = 2,
        palette: np.ndarray | None = None,
        loop: int = 0,
        overwrite: bool | None = None,
    ) -> None:
        super().__init__(path, fps=fps, overwrite=overwrite)
        self.palette = None if palette is None else self._valid_palette(palette)
        self.loop = int(loop)
        self.delay = max(2, round(100 / self.fps))
        self._fp: IO[bytes] | None = None
        self._previous: np.ndarray | None = None
        self._indices: np.ndarray | None = None
        self._mapper: _PaletteMapper | None = None

    @staticmethod
    def _valid_palette(palette: Any) -> np.ndarray:
        import numpy as np

        table = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
        if not 1 <= len(table) <= 255:
            raise ValueError(f"a GIF palette holds 1 to 255 colours, got {len(table)}")
        return table

    def _start(self, frame: np.ndarray) -> None:
        import numpy as np

        h, w = frame.shape[:2]
        if max(w, h) > 0xFFFF:
            raise ValueError(
                f"a GIF is at most 65535 pixels a side, the frames are {w}×{h}; use a smaller "
                "figsize or dpi, or save as .html or .mp4"
            )
        if self.palette is None:
            self.palette = gif_palette([frame])
        table = np.zeros((256, 3), dtype=np.uint8)
        table[: len(self.palette)] = self.palette
        self._mapper = _PaletteMapper(self.palette)
        assert self._tmp is not None
        self._fp = open(self._tmp, "wb")  # closed in _end/_cleanup
        w, h = self.size or (0, 0)
        self._fp.write(b"GIF89a" + struct.pack("<HHBBB", w, h, 0xF7, 0, 0) + table.tobytes())
        # NETSCAPE2.0 application extension: the loop count.
        self._fp.write(b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", self.loop) + b"\x00")

    def _write(self, frame: np.ndarray) -> None:
        import numpy as np
        from PIL import Image

        assert self._fp is not None and self._mapper is not None
        h, w = frame.shape[:2]
        if self._previous is None or self._indices is None:
            x0, y0, x1, y1 = 0, 0, w, h
            region = self._mapper(frame)
            self._indices = region.copy()
            transparent = False
        else:
            boxes = changed_boxes(self._previous, frame, gap=16)
            if not boxes:
                x0, y0, x1, y1 = 0, 0, 1, 1
                region = np.full((1, 1), _TRANSPARENT, dtype=np.uint8)
            else:
                # One image per frame covers every change; inside it, only the changed bands
                # are mapped to the palette. Unchanged pixels (same palette index as shown)
                # are transparent: they compress to almost nothing.
                x0, y0 = min(b[0] for b in boxes), boxes[0][1]
                x1, y1 = max(b[2] for b in boxes), boxes[-1][3]
                region = np.full((y1 - y0, x1 - x0), _TRANSPARENT, dtype=np.uint8)
                for bx0, by0, bx1, by1 in boxes:
                    new = self._mapper(frame[by0:by1, bx0:bx1])
                    old = self._indices[by0:by1, bx0:bx1]
                    region[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0] = np.where(
                        new == old, np.uint8(_TRANSPARENT), new
                    )
                    old[...] = new
            transparent = True
        if self._previous is None:
            self._previous = frame.copy()
        else:
            self._previous[...] = frame
        packed = (1 << 2) | (1 if transparent else 0)  # disposal 1: keep; transparency flag
        self._fp.write(
            b"!\xf9\x04" + struct.pack("<BHBB", packed, self.delay, _TRANSPARENT, 0)
        )
        # Image descriptor (no local palette), LZW minimum code size 8, then the LZW data
        # sub-blocks from Pillow's GIF encoder, then the block terminator.
        rh, rw = region.shape
        self._fp.write(b"," + struct.pack("<HHHHB", x0, y0, rw, rh, 0) + b"\x08")
        self._fp.write(Image.fromarray(np.ascontiguousarray(region)).tobytes("gif", "L"))
        self._fp.write(b"\x00")

    def _end(self) -> None:
        assert self._fp is not None
        self._fp.write(b";")
        self._fp.close()
        self._fp = None

    def _cleanup(self) -> None:
        if self._fp is not None:
            self._fp.close()
            self._fp = None
