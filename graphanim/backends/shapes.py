"""matplotlib paths of the picture's shapes: the rounded box of records, rings and frames."""

from __future__ import annotations

from typing import Any

__all__ = ["rounded_rect"]


def rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float
                  ) -> tuple[list[tuple[float, float]], list[Any]]:
    """Vertices and codes of a box with quadratic corners of radius ``r`` (clipped to fit)."""
    from matplotlib.path import Path as MPath

    r = max(0.0, min(r, (x1 - x0) / 2, (y1 - y0) / 2))
    v = [
        (x0 + r, y0), (x1 - r, y0), (x1, y0), (x1, y0 + r), (x1, y1 - r), (x1, y1), (x1 - r, y1),
        (x0 + r, y1), (x0, y1), (x0, y1 - r), (x0, y0 + r), (x0, y0), (x0 + r, y0), (x0 + r, y0),
    ]
    c = [MPath.MOVETO, MPath.LINETO, MPath.CURVE3, MPath.CURVE3, MPath.LINETO, MPath.CURVE3,
         MPath.CURVE3, MPath.LINETO, MPath.CURVE3, MPath.CURVE3, MPath.LINETO, MPath.CURVE3,
         MPath.CURVE3, MPath.CLOSEPOLY]
    return v, c
