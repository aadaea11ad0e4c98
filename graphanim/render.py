"""Drawing graphs: the public entry points of the picture backends (plot, save, reprs), the
animation Scene and the themes, gathered from :mod:`graphanim.scene` and
:mod:`graphanim.backends`."""

from __future__ import annotations

from .backends.matplotlib import plot, save, to_png_bytes, to_svg_text
from .backends.raster import Scene
from .scene.geometry import LegibilityWarning
from .scene.themes import THEMES

__all__ = [
    "THEMES",
    "LegibilityWarning",
    "Scene",
    "plot",
    "save",
    "to_png_bytes",
    "to_svg_text",
]
