"""MP4 and WebM through an ffmpeg process fed with yuv420p frames."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

from .base import FrameWriter, changed_boxes, register

__all__ = [
    "FFmpegError",
    "FFmpegNotFoundError",
    "MP4Writer",
    "WebMWriter",
    "find_ffmpeg",
]



class FFmpegNotFoundError(RuntimeError):
    """No ffmpeg program was found for writing video."""


class FFmpegError(RuntimeError):
    """The ffmpeg program failed while encoding a video (its own error message is included)."""


def find_ffmpeg() -> str | None:
    """Path of the ffmpeg program: imageio-ffmpeg's bundled one, else one on ``PATH``; or None."""
    try:
        import imageio_ffmpeg
    except ImportError:
        pass
    else:
        try:
            return str(imageio_ffmpeg.get_ffmpeg_exe())
        except (RuntimeError, OSError):
            pass
    return shutil.which("ffmpeg")


def _require_ffmpeg(suffix: str) -> str:
    # Looked up through the module so that tests can replace ``find_ffmpeg``.
    exe = sys.modules[__name__].find_ffmpeg()
    if not exe:
        raise FFmpegNotFoundError(
            f"writing {suffix} video needs ffmpeg, which was not found: install it with "
            "'pip install imageio-ffmpeg' (or put ffmpeg on PATH), or save as .gif instead"
        )
    return exe


def _rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 limited-range Y, U, V planes (U and V at half size) of an even-sized RGB block.

    Integer arithmetic (the usual 8-bit fixed-point coefficients), so it is exact and
    deterministic; chroma comes from the 2×2 mean of each block.
    """
    import numpy as np

    c = rgb.astype(np.int32)
    r, g, b = c[..., 0], c[..., 1], c[..., 2]
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    # Sum of each 2×2 block (four times its mean) by strided adds: much faster than a
    # reshape-and-sum over two axes.
    m = c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2]
    r2, g2, b2 = m[..., 0], m[..., 1], m[..., 2]
    u = ((-38 * r2 - 74 * g2 + 112 * b2 + 512) >> 10) + 128
    v = ((112 * r2 - 94 * g2 - 18 * b2 + 512) >> 10) + 128
    return y.astype(np.uint8), u.astype(np.uint8), v.astype(np.uint8)


class _FFmpegWriter(FrameWriter):
    """Pipes frames into an ffmpeg process that encodes them.

    Frames are converted to ``yuv420p`` here, and only where they changed since the previous
    frame (animation frames differ locally), which halves the bytes sent and spares ffmpeg a
    full colour conversion per frame. The stream is tagged BT.601 limited range.
    """

    container = ""
    codec_args: tuple[str, ...] = ()

    def __init__(
        self, path: str | os.PathLike[str], *, fps: float = 2, overwrite: bool | None = None
    ) -> None:
        super().__init__(path, fps=fps, overwrite=overwrite)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._pad = (0, 0)
        self._previous: np.ndarray | None = None
        self._planes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @classmethod
    def check(cls) -> None:
        _require_ffmpeg(cls.suffix)

    def command(self, exe: str, width: int, height: int) -> list[str]:
        """The ffmpeg command line reading ``width``×``height`` yuv420p frames from stdin."""
        assert self._tmp is not None
        tags = ("-colorspace", "smpte170m", "-color_primaries", "smpte170m",
                "-color_trc", "smpte170m", "-color_range", "tv")
        return [
            exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "yuv420p", *tags, "-s", f"{width}x{height}",
            "-framerate", f"{self.fps:g}", "-i", "pipe:0",
            "-an", *self.codec_args, "-pix_fmt", "yuv420p", *tags,
            "-fflags", "+bitexact", "-flags:v", "+bitexact",
            "-f", self.container, str(self._tmp),
        ]  # fmt: skip

    def _start(self, frame: np.ndarray) -> None:
        exe = _require_ffmpeg(self.suffix)
        h, w = frame.shape[:2]
        # yuv420p needs even sizes: pad the last row/column by repeating it.
        self._pad = (h % 2, w % 2)
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            self.command(exe, w + self._pad[1], h + self._pad[0]),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            pipesize=1 << 20,  # whole-frame writes: fewer switches between us and ffmpeg
            # Its own session: Ctrl-C reaches Python (which then stops ffmpeg and removes the
            # partial file) instead of killing ffmpeg under us mid-write.
            start_new_session=True,
        )

    def _write(self, frame: np.ndarray) -> None:
        import numpy as np

        assert self._proc is not None and self._proc.stdin is not None
        if any(self._pad):
            frame = np.pad(frame, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        if self._previous is None or self._planes is None:
            self._planes = _rgb_to_yuv420(frame)
            self._previous = frame.copy()
        else:
            for box in changed_boxes(self._previous, frame, gap=16):
                # Whole 2×2 chroma blocks: round the box out to even coordinates.
                x0, y0 = box[0] & ~1, box[1] & ~1
                x1, y1 = box[2] + (box[2] & 1), box[3] + (box[3] & 1)
                region = frame[y0:y1, x0:x1]
                y, u, v = _rgb_to_yuv420(region)
                self._planes[0][y0:y1, x0:x1] = y
                self._planes[1][y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = u
                self._planes[2][y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = v
                self._previous[y0:y1, x0:x1] = region
        try:
            for plane in self._planes:
                self._proc.stdin.write(plane.data)
        except (BrokenPipeError, OSError) as err:
            raise FFmpegError(
                f"ffmpeg stopped while writing {self.path}: {self._errors()}"
            ) from err

    def _errors(self) -> str:
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
        if self._log is None:
            return ""
        self._log.seek(0)
        text = self._log.read().decode(errors="replace").strip()
        return text[-2000:] or f"exit status {self._proc.returncode if self._proc else '?'}"

    def _end(self) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        code = self._proc.wait()
        if code != 0:
            raise FFmpegError(f"ffmpeg failed writing {self.path} (exit {code}): {self._errors()}")
        self._close_log()
        self._proc = None

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _cleanup(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(OSError):
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None
        self._close_log()


@register(".mp4")
class MP4Writer(_FFmpegWriter):
    """H.264 MP4 through ffmpeg (``yuv420p``, even pixel sizes), playable everywhere.

    x264 runs with ``superfast`` / ``zerolatency``: it encodes each frame as it arrives, in
    parallel with the drawing of the next, which is what bounds end-to-end speed here; flat
    diagrams stay small at CRF 20 anyway.
    """

    container = "mp4"
    codec_args = (
        "-c:v", "libx264", "-preset", "superfast", "-tune", "zerolatency", "-crf", "20",
        "-movflags", "+faststart",
    )  # fmt: skip


@register(".webm")
class WebMWriter(_FFmpegWriter):
    """VP9 WebM through ffmpeg (``yuv420p``, even pixel sizes)."""

    container = "webm"
    codec_args = (
        "-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "32", "-deadline", "realtime",
        "-cpu-used", "8", "-row-mt", "1",
    )  # fmt: skip
