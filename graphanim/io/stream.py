"""Driving a writer: the writer for a path, and frames streamed into it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

from . import base, gif, html, video  # noqa: F401 - importing a writer registers its suffix
from .base import FrameWriter
from .formats import suffix_error
from .paths import check_output_path, check_replaceable, is_folder_target
from .pngs import PngFolderWriter

__all__ = [
    "write_frames",
    "writer_for",
]


def writer_for(
    path: str | os.PathLike[str], *, overwrite: bool | None = None
) -> type[FrameWriter]:
    """The writer class for ``path``, checked before any frame is drawn.

    A path ending in ``/`` or naming an existing folder gets :class:`PngFolderWriter`; other paths
    are chosen by suffix from :data:`graphanim.io.base.writers`.

    Raises
    ------
    ValueError
        For a suffix no writer handles (the message lists the supported ones).
    FileNotFoundError
        If the folder that should hold the output does not exist.
    ReadOnlyTargetError
        If ``path`` is a write-protected file and ``overwrite`` is not true.
    """
    if is_folder_target(path):
        folder = Path(os.fspath(path))
        parent = folder.parent if str(folder.parent) else Path(".")
        if not parent.is_dir():
            raise FileNotFoundError(
                f"output folder {str(parent)!r} does not exist; create it first"
            )
        return PngFolderWriter
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in base.writers:
        raise suffix_error(p, sorted(base.writers), "animation format",
                            ", or a folder path ending in '/' for PNG frames")
    check_output_path(p, tuple(base.writers))
    check_replaceable(p, overwrite=overwrite)
    return base.writers[suffix]




def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


def write_frames(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    *,
    fps: float = 2,
    total: int | None = None,
    progress: bool | None = None,
    **writer_kwargs: Any,
) -> Path:
    """Stream ``frames`` (RGB ``uint8`` arrays) into ``path``; the writer follows the suffix.

    Parameters
    ----------
    path : str or path-like
        ``.gif``, ``.mp4``, ``.webm``, ``.html``, or a folder (ends in ``/`` or exists) for PNGs.
    frames : iterable of ndarray
        Consumed one at a time; an iterator keeps memory flat however many frames there are.
    fps : float, default 2
        Frames per second.
    total : int, optional
        Number of frames, for the progress bar.
    progress : bool or None, default None
        ``None`` shows a progress bar only when stderr is a terminal and the export takes more
        than about 2 seconds; ``True`` always shows one, ``False`` never.
    **writer_kwargs
        Passed to the writer (``palette=`` for GIF, ``element_id=`` for HTML, ``overwrite=``
        to replace a write-protected file, ...).

    Returns
    -------
    Path
        The written file or folder.

    Raises
    ------
    ValueError
        For an unsupported suffix, or an ``fps`` the format cannot hold.
    ReadOnlyTargetError
        If ``path`` is a write-protected file and ``overwrite=True`` was not given.
    FFmpegNotFoundError
        For ``.mp4``/``.webm`` without ffmpeg, before the first frame is taken from ``frames``.
    """
    cls = writer_for(path, overwrite=writer_kwargs.get("overwrite"))
    cls.check()
    writer = cls(path, fps=fps, **writer_kwargs)
    enabled = _progress_enabled(progress)
    bar: Any = None
    if enabled:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="frame", desc=Path(path).name or str(path),
                   delay=0 if progress else 2, leave=False)
    try:
        with writer:
            for rgb in frames:
                writer.grab_frame(rgb)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return writer.path
