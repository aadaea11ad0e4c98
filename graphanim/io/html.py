"""The self-contained HTML frame player (play/pause, step buttons, a slider)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

from .base import FrameWriter, check_rgb, register
from .formats import check_fps

__all__ = [
    "HtmlWriter",
    "html_player",
]



def _png_bytes(frame: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


_PLAYER_CSS = """\
.graphanim-player{display:inline-block;font-family:sans-serif;font-size:13px}
.graphanim-player img{display:block;max-width:100%;height:auto}
.graphanim-player .ga-controls{display:flex;align-items:center;gap:4px;margin-top:4px}
.graphanim-player button{min-width:2.2em;padding:2px 6px;cursor:pointer}
.graphanim-player input[type=range]{flex:1;min-width:80px}
.graphanim-player .ga-count{min-width:5.5em;text-align:right;font-variant-numeric:tabular-nums}
"""

# The player: plain ES5, no network. It finds its own elements by the player's id. Button glyphs
# (« ‹ ▶ || › ») are ones every font has; media-control symbols are often missing.
_PLAYER_JS = """\
(function () {
  var root = document.getElementById(%(id)s);
  if (!root) { return; }
  var frames = window[%(var)s]; delete window[%(var)s];
  var img = root.querySelector("img"), slider = root.querySelector("input");
  var count = root.querySelector(".ga-count"), play = root.querySelector(".ga-play");
  var i = 0, timer = null, delay = %(delay)s;
  slider.max = String(frames.length - 1);
  function show(k) {
    i = (k + frames.length) %% frames.length;
    img.src = "data:image/png;base64," + frames[i];
    slider.value = String(i);
    count.textContent = (i + 1) + " / " + frames.length;
  }
  function stop() {
    if (timer) { clearInterval(timer); timer = null; }
    play.textContent = "\\u25B6";
  }
  function start() {
    if (timer) { return; }
    play.textContent = "||";
    timer = setInterval(function () { show(i + 1); }, delay);
  }
  root.querySelector(".ga-first").onclick = function () { stop(); show(0); };
  root.querySelector(".ga-prev").onclick = function () { stop(); show(i - 1); };
  root.querySelector(".ga-next").onclick = function () { stop(); show(i + 1); };
  root.querySelector(".ga-last").onclick = function () { stop(); show(frames.length - 1); };
  play.onclick = function () { if (timer) { stop(); } else { start(); } };
  slider.oninput = function () { stop(); show(parseInt(slider.value, 10)); };
  show(0);
  if (%(autoplay)s) { start(); }
})();
"""


class _HtmlStream:
    """Writes the self-contained player to a text stream, one frame at a time."""

    def __init__(
        self,
        fp: IO[str],
        *,
        fps: float,
        element_id: str | None,
        document: bool,
        autoplay: bool,
    ) -> None:
        self.fp = fp
        self.fps = fps
        self.element_id = element_id
        self.document = document
        self.autoplay = autoplay
        self.count = 0
        self._id = ""

    def frame(self, rgb: np.ndarray) -> None:
        data = base64.b64encode(_png_bytes(rgb)).decode("ascii")
        if self.count == 0:
            self._header(rgb, data)
        self.fp.write(f'"{data}",\n')
        self.count += 1

    def _header(self, rgb: np.ndarray, first: str) -> None:
        h, w = rgb.shape[:2]
        digest = hashlib.sha1(first.encode("ascii")).hexdigest()[:12]
        self._id = self.element_id or f"graphanim-{digest}"
        if not re.fullmatch(r"[A-Za-z][\w-]*", self._id):
            raise ValueError(f"element_id {self._id!r} must be letters, digits, '-' or '_'")
        out = self.fp.write
        if self.document:
            out('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                "<title>graphanim animation</title>\n</head>\n<body>\n")
        out(f"<style>\n{_PLAYER_CSS}</style>\n")
        out(f'<div class="graphanim-player" id="{self._id}">\n')
        out(f'<img alt="animation frame" width="{w}" height="{h}" '
            f'src="data:image/png;base64,{first}">\n')
        out('<div class="ga-controls">'
            '<button class="ga-first" title="first frame">&#xAB;</button>'
            '<button class="ga-prev" title="step back">&#x2039;</button>'
            '<button class="ga-play" title="play / pause">&#x25B6;</button>'
            '<button class="ga-next" title="step forward">&#x203A;</button>'
            '<button class="ga-last" title="last frame">&#xBB;</button>'
            '<input type="range" min="0" max="0" value="0" step="1" aria-label="frame">'
            '<span class="ga-count">1 / 1</span></div>\n</div>\n')
        out(f"<script>\nwindow[{self._var()!r}] = [\n")

    def _var(self) -> str:
        return "__graphanim_" + self._id.replace("-", "_")

    def close(self) -> None:
        import json

        delay = max(1, round(1000 / self.fps))
        self.fp.write("];\n")
        self.fp.write(
            _PLAYER_JS
            % {
                "id": json.dumps(self._id),
                "var": json.dumps(self._var()),
                "delay": delay,
                "autoplay": "true" if self.autoplay else "false",
            }
        )
        self.fp.write("</script>\n")
        if self.document:
            self.fp.write("</body>\n</html>\n")


@register(".html")
class HtmlWriter(FrameWriter):
    """A self-contained HTML page with a player: play/pause, step buttons and a slider.

    Frames are embedded as base64 PNG; the page loads nothing from the network.

    Parameters
    ----------
    path, fps
        See :class:`FrameWriter`.
    element_id : str, optional
        The player's HTML id (default: derived from the first frame, so the same animation gives
        the same bytes).
    autoplay : bool, default False
        Start playing when the page opens.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float = 2,
        element_id: str | None = None,
        autoplay: bool = False,
        overwrite: bool | None = None,
    ) -> None:
        super().__init__(path, fps=fps, overwrite=overwrite)
        self.element_id = element_id
        self.autoplay = autoplay
        self._fp: IO[str] | None = None
        self._stream: _HtmlStream | None = None

    def _start(self, frame: np.ndarray) -> None:
        assert self._tmp is not None
        self._fp = open(self._tmp, "w", encoding="utf-8", newline="\n")
        self._stream = _HtmlStream(self._fp, fps=self.fps, element_id=self.element_id,
                                   document=True, autoplay=self.autoplay)

    def _write(self, frame: np.ndarray) -> None:
        assert self._stream is not None
        self._stream.frame(frame)

    def _end(self) -> None:
        assert self._stream is not None and self._fp is not None
        self._stream.close()
        self._fp.close()
        self._fp = None

    def _cleanup(self) -> None:
        if self._fp is not None:
            self._fp.close()
            self._fp = None


def html_player(
    frames: Iterable[np.ndarray],
    *,
    fps: float = 2,
    element_id: str | None = None,
    document: bool = False,
    autoplay: bool = False,
) -> str:
    """The HTML player for ``frames`` as a string (a fragment for notebooks by default)."""
    rate = check_fps(fps, ".html")
    buf = io.StringIO()
    stream = _HtmlStream(buf, fps=rate, element_id=element_id, document=document,
                         autoplay=autoplay)
    size: tuple[int, int] | None = None
    for rgb in frames:
        frame = check_rgb(rgb, size)
        size = (frame.shape[1], frame.shape[0])
        stream.frame(frame)
    if stream.count == 0:
        raise ValueError("html_player needs at least one frame")
    stream.close()
    return buf.getvalue()
