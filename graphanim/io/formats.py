"""The output formats by suffix, and the frame rates each can hold (:func:`check_fps`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "ANIMATION_FORMATS",
    "FPS_LIMITS",
    "STATIC_FORMATS",
    "check_fps",
    "suffix_error",
]


#: Suffixes of static pictures, written by matplotlib.
STATIC_FORMATS = (".png", ".svg", ".pdf")
#: Suffixes of animations.
ANIMATION_FORMATS = (".gif", ".mp4", ".webm", ".html")

#: Frame rates each animation format can hold: suffix -> (lowest, highest, why).
FPS_LIMITS: dict[str, tuple[float, float, str]] = {
    ".gif": (100 / 65535, 50.0,
             "GIF frame delays are whole hundredths of a second, from 2 to 65535"),
    ".mp4": (0.001, 1000.0, "video frames last from 1 ms to 1000 s"),
    ".webm": (0.001, 1000.0, "video frames last from 1 ms to 1000 s"),
    ".html": (1000 / (2**31 - 1), 1000.0,
              "the HTML player's frame delays are whole milliseconds, up to 2**31 - 1"),
}


def check_fps(fps: Any, suffix: str | None = None) -> float:
    """Check a frame rate once, where options are read, and return it as a float.

    Parameters
    ----------
    fps : float
        Frames per second: a finite number above 0.
    suffix : str, optional
        The output format (``".gif"``, ``".mp4"``, ...): the rate must fit what it can hold
        (:data:`FPS_LIMITS`). Without one (the format is not known yet, or a folder of PNGs),
        the rate must fit at least one format.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        For a bool, a non-number, ``nan``, ``inf``, a rate <= 0, or one the format cannot hold;
        the message names the limits.
    """
    if isinstance(fps, bool) or not isinstance(fps, (int, float)):
        raise ValueError(f"fps must be a number of frames per second, got {fps!r}")
    value = float(fps)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"fps must be a finite number above 0, got {fps!r}")
    limits = FPS_LIMITS.get((suffix or "").lower())
    if limits is None:
        lo = min(limit[0] for limit in FPS_LIMITS.values())
        hi = max(limit[1] for limit in FPS_LIMITS.values())
        why, where = "no output format plays faster or slower", ""
    else:
        lo, hi, why = limits
        where = f" for {suffix}"
    if not lo <= value <= hi:
        raise ValueError(f"fps{where} must be from {lo:.3g} to {hi:g} ({why}), got {fps!r}")
    return value

def suffix_error(p: Path, formats: Sequence[str], what: str, extra: str = "") -> ValueError:
    """The error for a path whose suffix is not one of ``formats``."""
    suffix = p.suffix.lower()
    hint = ""
    if not suffix and p.name.lower() in formats:
        # Path (like the shell) reads ".gif" as a hidden file's name, with no suffix
        hint = f"; {p.name!r} is a suffix alone: name the file, e.g. 'graph{p.name}'"
    return ValueError(
        f"unsupported {what} {suffix or '(no suffix)'!r} for {str(p)!r} "
        f"(expected one of {', '.join(formats)}{extra}){hint}"
    )
