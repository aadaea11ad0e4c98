"""Text of names and numbers: valid, safe for matplotlib and DOT, compact."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["dot_escape", "format_number", "format_tensor", "plain_text", "valid_text"]

# control characters, and the invisible direction marks and overrides (they would reorder text
# in DOT output, reprs and terminals)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\u061c]")


def valid_text(text: str) -> str:
    """``text`` with every lone surrogate written out as its escape (``x\\udc80``).

    ``os.fsdecode`` gives such code points for file names that are not valid UTF-8; no font or
    file format can hold them, so every name entering a graph passes through here.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def plain_text(text: str) -> str:
    """Make ``text`` safe to show as plain (non-math) text in matplotlib.

    Control characters are dropped (a newline or tab becomes a space) and every ``$`` is escaped so
    that it shows as a dollar sign instead of starting mathtext.
    """
    text = str(text)
    if text.isidentifier() or text.replace(".", "").isalnum():
        return text  # the common case: a variable, parameter or op name
    text = valid_text(text).replace("\n", " ").replace("\t", " ").replace("\r", " ")
    text = _CONTROL.sub("", text)
    # matplotlib reads text as math only between unescaped dollar pairs, and shows ``\$`` as ``$``
    return text.replace("$", r"\$")


def dot_escape(text: str) -> str:
    """``text`` for a DOT string: control characters dropped, DOT's special characters escaped."""
    text = _CONTROL.sub("", valid_text(str(text)))
    for ch in '\\"{}|<>':
        text = text.replace(ch, "\\" + ch)
    return text.replace("\n", " ")


def format_number(x: float, digits: int = 4) -> str:
    """A number with ``digits`` significant digits: ``6``, ``0.25``, ``-5.467``, ``nan``."""
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 10**digits:
        return str(int(x))
    return f"{x:.{digits}g}"


def format_tensor(t: Any, digits: int = 4) -> str:
    """Compact text for a value: a scalar number, a small matrix, or shape and min/mean/max."""
    if t is None:
        return ""
    if isinstance(t, (int, float, bool)):
        return format_number(float(t), digits)
    shape = tuple(getattr(t, "shape", ()))
    numel = 1
    for s in shape:
        numel *= s
    try:
        flat = [float(v) for v in t.detach().reshape(-1).tolist()] if numel <= 16 else None
    except (TypeError, ValueError, RuntimeError):
        return f"{type(t).__name__}{list(shape)}"
    if numel == 1 and flat is not None:
        return format_number(flat[0], digits)
    if flat is not None and len(shape) <= 2:
        if len(shape) == 1:
            return "[" + ", ".join(format_number(v, digits) for v in flat) + "]"
        rows = [flat[i * shape[1] : (i + 1) * shape[1]] for i in range(shape[0])]
        return "[" + "; ".join(", ".join(format_number(v, digits) for v in r) for r in rows) + "]"
    if numel == 0:
        return f"{'×'.join(map(str, shape))} (empty)"
    try:
        f = t.detach().double()
        stats = (f.min().item(), f.mean().item(), f.max().item())
    except (TypeError, RuntimeError):
        return "×".join(map(str, shape))
    lo, mean, hi = (format_number(v, 3) for v in stats)
    return f"{'×'.join(map(str, shape))} min {lo} mean {mean} max {hi}"
