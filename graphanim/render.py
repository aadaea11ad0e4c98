"""Drawing graphs: the public entry points (plot, save, reprs), each handing the picture to its
backend (matplotlib for PNG, PDF and figures; :mod:`graphanim.backends.svg` for SVG), the
animation Scene and the themes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .backends.matplotlib import check_plot_kwargs, draw_figure, plot, png_bytes
from .backends.raster import Scene
from .graph import Graph
from .scene.geometry import LegibilityWarning
from .scene.themes import THEMES, rc_context

__all__ = [
    "THEMES",
    "LegibilityWarning",
    "Scene",
    "plot",
    "save",
    "to_png_bytes",
    "to_svg_text",
]


def save(graph: Graph, path: str | os.PathLike[str], *, dpi: float | None = None,
         **plot_kwargs: Any) -> Path:
    """Write the picture of ``graph`` to ``path``: PNG, SVG or PDF by suffix, atomically.

    ``plot_kwargs`` are those of :func:`plot` (``with_all``, ``theme``, ...). The same graph gives
    the same bytes. SVG is written directly from the picture's data (real ``<text>``, a ``<g>``
    with a tooltip per node and edge); PNG and PDF by matplotlib.

    Raises
    ------
    ValueError
        For a suffix other than ``.png``, ``.svg``, ``.pdf`` (checked before drawing).
    """
    from .writers import STATIC_FORMATS, atomic_path, check_output_path, save_figure

    p = check_output_path(path, STATIC_FORMATS)
    kind = {".png": "raster", ".svg": "svg", ".pdf": "pdf"}[p.suffix.lower()]
    if dpi is not None:
        plot_kwargs["dpi"] = dpi
    if kind == "svg":
        from .backends import svg
        from .scene.build import build_picture

        pic = build_picture(graph, **check_plot_kwargs(plot_kwargs))
        with atomic_path(p) as tmp:
            svg.write_svg(pic, tmp)
        return p
    fig = draw_figure(graph, plot_kwargs, kind)
    with rc_context():
        return save_figure(fig, p, dpi=dpi)


def to_png_bytes(graph: Graph, **kw: Any) -> bytes:
    """The picture as PNG bytes (for ``_repr_png_``); ``kw`` as for :func:`save`."""
    return png_bytes(graph, **kw)


def to_svg_text(graph: Graph, **kw: Any) -> str:
    """The picture as SVG text (for ``_repr_svg_``); ``kw`` as for :func:`save`."""
    from .backends.svg import to_svg
    from .scene.build import build_picture

    return to_svg(build_picture(graph, **check_plot_kwargs(kw)))
