"""Output files: paths and atomic writes, static pictures, one streamed writer per animation
format (GIF, MP4/WebM, the HTML player, a folder of PNGs) and the driver that streams frames.

========== =====================================================================
module     job
========== =====================================================================
formats    the suffixes, and the frame rates each format holds (``check_fps``)
paths      output paths checked before work, atomic writes, write-protected files
figure     a matplotlib figure to PNG/SVG/PDF
base       the writer protocol (``setup``/``grab_frame``/``finish``), the suffix table
gif        the streamed GIF writer and its shared palette
video      MP4/WebM through ffmpeg
html       the self-contained HTML frame player
pngs       a folder of PNG frames
stream     the writer for a path, and ``write_frames``
========== =====================================================================

Every writer registers its suffix when its module is imported; importing this package imports
them all.
"""

from __future__ import annotations

from .base import FrameWriter, register, writers
from .figure import save_figure
from .formats import ANIMATION_FORMATS, FPS_LIMITS, STATIC_FORMATS, check_fps
from .gif import GifWriter, gif_palette
from .html import HtmlWriter, html_player
from .paths import (
    ReadOnlyTargetError,
    allow_overwrite,
    atomic_path,
    check_output_path,
    check_replaceable,
    check_writable,
    is_folder_target,
    overwriting,
)
from .pngs import PngFolderWriter
from .stream import write_frames, writer_for
from .video import FFmpegError, FFmpegNotFoundError, MP4Writer, WebMWriter, find_ffmpeg

__all__ = [
    "ANIMATION_FORMATS",
    "FPS_LIMITS",
    "STATIC_FORMATS",
    "FFmpegError",
    "FFmpegNotFoundError",
    "FrameWriter",
    "GifWriter",
    "HtmlWriter",
    "MP4Writer",
    "PngFolderWriter",
    "ReadOnlyTargetError",
    "WebMWriter",
    "allow_overwrite",
    "atomic_path",
    "check_fps",
    "check_output_path",
    "check_replaceable",
    "check_writable",
    "find_ffmpeg",
    "gif_palette",
    "html_player",
    "is_folder_target",
    "overwriting",
    "register",
    "save_figure",
    "write_frames",
    "writer_for",
    "writers",
]
