"""The streaming writer protocol (``setup`` / ``grab_frame`` / ``finish``) and the table of
writers by suffix; frame checks shared by the writers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

from .formats import check_fps
from .paths import atomic_path, check_replaceable

__all__ = [
    "FrameWriter",
    "changed_boxes",
    "check_rgb",
    "register",
    "writers",
]


# -- the writer table ---------------------------------------------------------------------------

W = TypeVar("W", bound="type[FrameWriter]")

#: Suffix -> writer class, filled by :func:`register`.
writers: dict[str, type[FrameWriter]] = {}


def register(suffix: str) -> Callable[[W], W]:
    """Class decorator: make the writer class handle files ending in ``suffix`` (``".gif"``).

    Registering a suffix again replaces the earlier writer, as matplotlib's writer registry does.
    """
    key = suffix.lower()
    if not key.startswith("."):
        raise ValueError(
            f"writer suffixes start with a dot, got {suffix!r} (did you mean '.{suffix}'?)"
        )

    def decorate(cls: W) -> W:
        cls.suffix = key
        writers[key] = cls
        return cls

    return decorate

class _Aborted(Exception):
    """Stands in for the cause when a writer is aborted without an exception."""


class FrameWriter:
    """Base of the streaming writers: ``setup`` / ``grab_frame(rgb)`` / ``finish``.

    A writer is a context manager: entering calls :meth:`setup`, leaving calls :meth:`finish` on
    success and :meth:`abort` on any exception (``KeyboardInterrupt`` included). Output goes to a
    temporary file beside the target that is renamed onto it only by :meth:`finish`, so a failure
    leaves no partial file and an existing file untouched. Frames are written as they come; nothing
    holds more than the current and previous frame.

    Parameters
    ----------
    path : str or path-like
        The output file.
    fps : float, default 2
        Frames per second, within what the format holds (see :func:`check_fps`).
    overwrite : bool, optional
        Replace a write-protected file at ``path`` (default: refuse with
        :class:`ReadOnlyTargetError`, unless inside :func:`allow_overwrite`).

    Examples
    --------
    >>> import numpy as np
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.gif"
    >>> with GifWriter(out, fps=4) as w:
    ...     for i in range(3):
    ...         w.grab_frame(np.full((8, 8, 3), 60 * i, dtype=np.uint8))
    >>> out.exists()
    True
    """

    suffix: str = ""

    def __init__(
        self, path: str | os.PathLike[str], *, fps: float = 2, overwrite: bool | None = None
    ) -> None:
        self.fps = check_fps(fps, self.suffix)
        self.path = Path(path)
        self.overwrite = overwrite
        check_replaceable(self.path, overwrite=overwrite)
        self.frame_count = 0
        self.size: tuple[int, int] | None = None
        self._atomic: contextlib.AbstractContextManager[Path] | None = None
        self._tmp: Path | None = None

    # -- availability ---------------------------------------------------------------------------
    @classmethod
    def check(cls) -> None:
        """Raise if this writer cannot run on this machine (called before any frame is drawn)."""

    # -- protocol -------------------------------------------------------------------------------
    def setup(self) -> None:
        """Open the temporary output beside the target."""
        if self._atomic is not None:
            raise RuntimeError(f"{type(self).__name__} is already set up")
        self.check()
        self._atomic = atomic_path(self.path, overwrite=self.overwrite)
        self._tmp = self._atomic.__enter__()

    def grab_frame(self, rgb: np.ndarray) -> None:
        """Write one frame: an ``(H, W, 3)`` ``uint8`` RGB array, the same size every time."""
        if self._tmp is None:
            raise RuntimeError(f"call setup() (or use 'with') before grab_frame on {self.path}")
        frame = check_rgb(rgb, self.size)
        if self.size is None:
            self.size = (frame.shape[1], frame.shape[0])
            self._start(frame)
        self._write(frame)
        self.frame_count += 1

    def finish(self) -> Path:
        """Complete the file and move it onto the target path; returns the target."""
        if self._atomic is None:
            raise RuntimeError(f"{type(self).__name__} was not set up")
        if self.frame_count == 0:
            err = ValueError(f"no frames were written to {str(self.path)!r}")
            self.abort(err)
            raise err
        try:
            self._end()
        except BaseException as err:
            self.abort(err)
            raise
        atomic, self._atomic = self._atomic, None
        atomic.__exit__(None, None, None)
        return self.path

    def abort(self, error: BaseException | None = None) -> None:
        """Stop writing and remove the temporary file; the target is left as it was."""
        with contextlib.suppress(Exception):
            self._cleanup()
        atomic, self._atomic = self._atomic, None
        if atomic is not None:
            err = error if error is not None else _Aborted()
            atomic.__exit__(type(err), err, err.__traceback__)

    def __enter__(self) -> FrameWriter:
        self.setup()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.finish()
        else:
            self.abort(exc)

    # -- for subclasses -------------------------------------------------------------------------
    def _start(self, frame: np.ndarray) -> None:
        """Called with the first frame, once its size is known."""

    def _write(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def _end(self) -> None:
        """Flush and close the output (the temporary file is renamed afterwards)."""

    def _cleanup(self) -> None:
        """Release open resources after a failure (before the temporary file is removed)."""


def check_rgb(rgb: Any, size: tuple[int, int] | None) -> np.ndarray:
    """``rgb`` as a contiguous ``(H, W, 3)`` ``uint8`` frame of the given ``size`` (W, H), or a
    ``ValueError`` that says what is wrong."""
    import numpy as np

    frame = np.asarray(rgb)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(
            f"frames must be (H, W, 3) uint8 RGB arrays, got shape {frame.shape} "
            f"dtype {frame.dtype}"
        )
    if size is not None and (frame.shape[1], frame.shape[0]) != size:
        raise ValueError(
            f"frame size {frame.shape[1]}×{frame.shape[0]} differs from the first frame's "
            f"{size[0]}×{size[1]}; every frame must have the same size"
        )
    return np.ascontiguousarray(frame)


def changed_boxes(
    previous: np.ndarray, frame: np.ndarray, *, gap: int | None = None
) -> list[tuple[int, int, int, int]]:
    """Boxes ``(x0, y0, x1, y1)`` covering the pixels that differ (empty if none do).

    Rows are compared 8 bytes at a time where the row length allows (a fraction of a
    millisecond for an 800×600 frame); a box may then be up to two pixels wider than the
    change, which costs nothing visible (callers compare pixels inside it again). With ``gap``,
    runs of changed rows separated by more than ``gap`` unchanged rows get boxes of their own
    (a highlighted node and the caption far below it); without, one box bounds everything.
    """
    import numpy as np

    h, w = frame.shape[:2]
    a, b = frame.reshape(h, w * 3), previous.reshape(h, w * 3)
    unit = 1
    if (w * 3) % 8 == 0 and a.flags.c_contiguous and b.flags.c_contiguous:
        a, b, unit = a.view(np.uint64), b.view(np.uint64), 8
    changed = a != b
    rows = np.flatnonzero(changed.any(axis=1))
    if len(rows) == 0:
        return []
    if gap is None:
        runs = [rows]
    else:
        runs = np.split(rows, np.flatnonzero(np.diff(rows) > gap) + 1)
    boxes = []
    for run in runs:
        cols = np.flatnonzero(changed[run[0] : run[-1] + 1].any(axis=0))
        x0 = int(cols[0]) * unit // 3
        x1 = min(w, -(-(int(cols[-1]) + 1) * unit // 3))
        boxes.append((x0, int(run[0]), x1, int(run[-1]) + 1))
    return boxes
