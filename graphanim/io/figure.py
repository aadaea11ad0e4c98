"""Static pictures: a matplotlib figure written to PNG/SVG/PDF, atomically and deterministically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

from .formats import STATIC_FORMATS
from .paths import atomic_path, check_output_path

__all__ = [
    "save_figure",
]


def save_figure(
    fig: Figure,
    path: str | os.PathLike[str],
    *,
    dpi: float | None = None,
    overwrite: bool | None = None,
    **kwargs: Any,
) -> Path:
    """Write ``fig`` to ``path`` (PNG, SVG or PDF by suffix), atomically and deterministically.

    Metadata that would change between runs (creation dates, software versions) is left out so the
    same figure gives the same bytes. A write-protected file at ``path`` is replaced only with
    ``overwrite=True`` (:class:`ReadOnlyTargetError` otherwise).
    """
    p = check_output_path(path, STATIC_FORMATS)
    fmt = p.suffix.lower().lstrip(".")
    metadata: dict[str, Any]
    if fmt == "svg":
        metadata = {"Date": None, "Creator": None}
    elif fmt == "pdf":
        metadata = {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None}
    else:
        metadata = {"Software": None}
    with atomic_path(p, overwrite=overwrite) as tmp:
        if fmt == "svg":
            import matplotlib

            with matplotlib.rc_context({"svg.hashsalt": "graphanim"}):
                fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata, **kwargs)
        else:
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata, **kwargs)
    return p
