"""The output path, checked before any work: format, folder, write protection, the frame rate
the format holds, the programs it needs; fixed as an absolute path."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from ..io import (
    ANIMATION_FORMATS,
    STATIC_FORMATS,
    check_fps,
    check_output_path,
    check_replaceable,
    check_writable,
)
from .args import (
    DEFAULT_ANIMATION_OUTPUT,
    DEFAULT_OUTPUT,
)
from .messages import (
    UsageError,
)

__all__ = [
    "check_dot",
    "check_output",
    "ffmpeg_available",
]


_FFMPEG_FORMATS = (".mp4", ".webm")

# Characters that reorder or hide text: refused in output paths (the path is printed back).
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

# "NAME=VALUE": a name (anything up to the first '=') followed by exactly one '='

def check_output(
    output: str | None, direction: str | None, fps: float | None, force: bool
) -> tuple[Path, str, str]:
    """Check the output path and settle the direction, before any other work.

    Returns the absolute path to write (fixed now: the user's code may change directory), the
    path as given (printed back) and the direction.
    """
    if output is None:
        animated = direction not in (None, "none")
        output = DEFAULT_ANIMATION_OUTPUT if animated else DEFAULT_OUTPUT
    if not output.strip():
        raise UsageError("-o: empty path; name the output file, e.g. -o graph.png")
    if output == "-":
        raise UsageError("-o -: writing to stdout is not supported; name a file, e.g. -o graph.png")
    _check_path_characters(output)
    try:
        path = check_output_path(output, STATIC_FORMATS + ANIMATION_FORMATS)
    except (ValueError, OSError) as err:
        raise UsageError(f"-o: {err}") from None
    if path.exists() and not path.is_file():
        raise UsageError(f"-o: {str(path)!r} exists and is not a regular file; name a file")
    try:
        check_replaceable(path, overwrite=force, hint="pass --force")
        check_writable(path)  # creates and removes a temporary file: what writing will do first
    except OSError as err:
        raise UsageError(f"-o: {err.strerror or err}") from None
    absolute = Path(os.getcwd(), path)  # not resolved: a symbolic link stays the link
    direction = _check_kind(path, direction, fps)
    return absolute, str(path), direction


def _check_kind(path: Path, direction: str | None, fps: float | None) -> str:
    """The direction for the output format of ``path``; ``--fps`` within what it holds."""
    suffix = path.suffix.lower()
    if suffix in STATIC_FORMATS:
        if direction not in (None, "none"):
            raise UsageError(
                f"--direction {direction} makes an animation, but {suffix} is a static picture; "
                f"use an animation suffix ({', '.join(ANIMATION_FORMATS)}) or --direction none"
            )
        if fps is not None:
            raise UsageError(
                f"--fps applies to animations, but {suffix} is a static picture; "
                f"use an animation suffix ({', '.join(ANIMATION_FORMATS)}) or drop --fps"
            )
        return "none"
    if direction == "none":
        raise UsageError(
            f"--direction none draws a static picture, but {suffix} is an animation; "
            f"use {', '.join(STATIC_FORMATS)} or --direction forward/backward/both"
        )
    if fps is not None:
        try:
            check_fps(fps, suffix)
        except ValueError as err:
            raise UsageError(f"--fps: {err}") from None
    if suffix in _FFMPEG_FORMATS and not ffmpeg_available():
        raise UsageError(
            f"writing {suffix} needs ffmpeg, which was not found (pip install imageio-ffmpeg, or "
            f"install ffmpeg); or write a GIF instead: -o {path.with_suffix('.gif').name}"
        )
    return direction or "backward"


def _check_path_characters(output: str) -> None:
    """Refuse control characters and text-reordering marks in an output path.

    The path is printed back on stdout for scripts to read, one line per file; a newline or a
    right-to-left override in it would make that line lie about the file.
    """
    for ch in output:
        if ch in _BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            name = unicodedata.name(ch, "a control character")
            raise UsageError(
                f"-o: the path {output!a} contains U+{ord(ch):04X} ({name.lower()}); "
                "name the file without control characters"
            )


def ffmpeg_available() -> bool:
    """True when an ffmpeg program can be found (imageio-ffmpeg's, or one on the PATH)."""
    from ..io import video

    return video.find_ffmpeg() is not None


def check_dot() -> None:
    """Refuse ``--layout dot`` before any work when Graphviz's ``dot`` is not installed."""
    import shutil

    if shutil.which("dot") is None:
        raise UsageError(
            "--layout dot needs the Graphviz 'dot' program, which was not found; install "
            "Graphviz or use --layout layered"
        )
