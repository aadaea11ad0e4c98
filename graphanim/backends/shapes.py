"""Shapes and styles of nodes: the rounded box path, and each role's fill, border and line
width from the theme."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..scene.cards import NodeLook
from ..scene.themes import NODE_LW

__all__ = ["Style", "base_style", "look_style", "rounded_rect"]


def rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float
                  ) -> tuple[list[tuple[float, float]], list[Any]]:
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


@dataclass
class Style:
    fill: str
    edge: str
    lw: float


def base_style(theme: dict[str, str], role: str) -> Style:
    key = role if role in ("input", "parameter", "output", "constant", "op") else "value"
    lw = NODE_LW * (1.7 if role in ("input", "parameter", "output") else 1.0)
    return Style(theme[f"{key}_fill"], theme[f"{key}_edge"], lw)


def look_style(theme: dict[str, str], look: NodeLook) -> Style:
    """The base style of a node (a gradient-check mismatch adds a ring: see ``draw_rings``)."""
    return base_style(theme, look.role)
