"""Output files: pictures (PNG/SVG/PDF) and animations (GIF/MP4/WebM/HTML), streamed and atomic."""

from __future__ import annotations

import base64
import contextlib
import contextvars
import hashlib
import io
import math
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from matplotlib.figure import Figure

__all__ = [
    "ANIMATION_FORMATS",
    "FPS_LIMITS",
    "STATIC_FORMATS",
    "FFmpegError",
    "FFmpegNotFoundError",
    "FrameWriter",
    "GifWriter",
    "HtmlWriter",
    "MP4Writer",
    "PngFolderWriter",
    "ReadOnlyTargetError",
    "WebMWriter",
    "allow_overwrite",
    "atomic_path",
    "check_fps",
    "check_output_path",
    "check_replaceable",
    "check_writable",
    "find_ffmpeg",
    "gif_palette",
    "html_player",
    "is_folder_target",
    "register",
    "save_figure",
    "write_frames",
    "writer_for",
    "writers",
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


def _suffix_error(p: Path, formats: Sequence[str], what: str, extra: str = "") -> ValueError:
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


def check_output_path(path: str | os.PathLike[str], formats: tuple[str, ...]) -> Path:
    """Validate an output path before any work: known suffix, existing folder, not a folder.

    Nothing is written. A symbolic link is a valid output path: writing replaces the link itself
    (see :func:`atomic_path`), never the file it points to.

    Raises
    ------
    ValueError
        If the suffix is not one of ``formats``, or the path holds a null character.
    FileNotFoundError
        If the folder that should hold the file does not exist.
    IsADirectoryError
        If the path is a folder, or ends in ``/`` as a folder's name does.
    """
    text = os.fspath(path)
    p = Path(text)
    if "\x00" in text:
        raise ValueError(f"output path {text!r} contains a null character; no file can have it")
    if text.endswith(("/", os.sep)):
        raise IsADirectoryError(
            f"output path {text!r} ends in '/', which names a folder; name a file, "
            f"e.g. {str(p / ('graph' + formats[0]))!r}"
        )
    if p.suffix.lower() not in formats:
        raise _suffix_error(p, formats, "output format")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder {str(folder)!r} does not exist; create it first")
    if p.is_dir():
        raise IsADirectoryError(f"output path {str(p)!r} is a folder; name a file")
    return p


def _file_mode(target: Path) -> int:
    """Permission bits for a new file at ``target``: the existing file's, else 0666 & ~umask.

    A symbolic link is replaced by the new file, so the mode of the file it points to is not
    copied (a link to an executable script must not make a picture executable).
    """
    try:
        st = target.lstat()
    except OSError:
        pass
    else:
        if stat.S_ISREG(st.st_mode):
            return st.st_mode & 0o7777
    return 0o666 & ~_umask()


class ReadOnlyTargetError(PermissionError):
    """The output path names an existing write-protected file, and overwriting was not asked."""


_OVERWRITE: contextvars.ContextVar[bool] = contextvars.ContextVar("overwrite", default=False)


@contextlib.contextmanager
def allow_overwrite(overwrite: bool = True) -> Iterator[None]:
    """Within the block, writes replace write-protected files (``overwrite=True`` everywhere).

    For callers that cannot pass ``overwrite=`` down to the writer themselves (the command
    line's ``--force``).
    """
    token = _OVERWRITE.set(bool(overwrite))
    try:
        yield
    finally:
        _OVERWRITE.reset(token)


def _write_protected(st: os.stat_result) -> bool:
    """True when the permission bits say the current user may not write the file.

    The bits are read, not ``os.access``: root may write any file, yet a file without write
    permission says "do not replace me" to root too.
    """
    if not hasattr(os, "geteuid"):  # pragma: no cover - Windows: the read-only attribute
        return not st.st_mode & stat.S_IWRITE
    euid = os.geteuid()
    if euid == 0:
        return not st.st_mode & 0o222
    if st.st_uid == euid:
        return not st.st_mode & stat.S_IWUSR
    if st.st_gid in os.getgroups() or st.st_gid == os.getegid():
        return not st.st_mode & stat.S_IWGRP
    return not st.st_mode & stat.S_IWOTH


def check_replaceable(
    path: str | os.PathLike[str], *, overwrite: bool | None = None, hint: str = ""
) -> None:
    """Refuse to replace an existing write-protected file (mode 0444 and the like).

    Parameters
    ----------
    path : str or path-like
        The output path. A symbolic link is replaced, not written through, so only a regular
        file is checked.
    overwrite : bool, optional
        True replaces the file anyway; None (default) follows :func:`allow_overwrite`.
    hint : str, optional
        How to overwrite, for the message (default: "pass overwrite=True").

    Raises
    ------
    ReadOnlyTargetError
        If ``path`` is a write-protected file and overwriting was not asked; nothing is changed.
    """
    if overwrite is None:
        overwrite = _OVERWRITE.get()
    if overwrite:
        return
    try:
        st = os.lstat(path)
    except OSError:
        return
    if stat.S_ISREG(st.st_mode) and _write_protected(st):
        how = hint or "pass overwrite=True"
        raise ReadOnlyTargetError(
            f"{os.fspath(path)!r} is read-only (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"{how} to replace it, or name another file"
        )


def _umask() -> int:
    mask = os.umask(0o022)  # read the umask (setting it is the only way), then restore it
    os.umask(mask)
    return mask


def _temp_prefix(name: str) -> str:
    """``.NAME.`` for a temporary file beside ``NAME``, short enough for any file system.

    A file name may have 255 bytes; the temporary name adds a random part, ``.part`` and the
    suffix, so the name inside it is cut (at a character boundary) to leave room for them.
    """
    return "." + os.fsencode(name)[:96].decode("utf-8", "ignore") + "."


def _mkstemp(target: Path) -> Path:
    """Create an empty temporary file beside ``target``; an error names the folder."""
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=_temp_prefix(target.name), suffix=f".part{target.suffix[:16]}", dir=folder
        )
    except OSError as err:
        if err.errno is None:  # pragma: no cover - mkstemp's errors come from the system
            raise
        raise type(err)(
            err.errno, f"cannot create a file in folder {str(folder)!r} ({err.strerror})"
        ) from err
    os.close(fd)
    return Path(tmp)


def check_writable(path: str | os.PathLike[str]) -> None:
    """Check that a file can be written at ``path`` by creating and removing a temporary one.

    This is what :func:`atomic_path` does first, so it catches what a permission check cannot
    (root's permissions, read-only or virtual file systems such as ``/proc``, names too long for
    the file system) before any work is done.

    Raises
    ------
    OSError
        Of the class the system reported, naming the folder, e.g. ``[Errno 13] cannot create a
        file in folder 'out' (Permission denied)``.
    """
    tmp = _mkstemp(Path(path))
    with contextlib.suppress(OSError):
        tmp.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    On any exception (``KeyboardInterrupt`` included) the temporary file is removed and an existing
    file at ``path`` is left untouched. When ``path`` is a symbolic link, the link is replaced by
    the new file: the file it points to is never written. A write-protected file at ``path`` is
    replaced only with ``overwrite=True`` (see :func:`check_replaceable`).

    Raises
    ------
    ReadOnlyTargetError
        If ``path`` is a write-protected file and ``overwrite`` is not true.
    OSError
        If no file can be created in the folder (the message names the folder).
    """
    target = Path(path)
    check_replaceable(target, overwrite=overwrite)
    tmp_path = _mkstemp(target)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); give it the mode a plain open() would, or the
        # mode of the file it replaces.
        with contextlib.suppress(OSError):
            os.chmod(tmp_path, _file_mode(target))
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


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


def is_folder_target(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` names a folder of PNG frames: it ends in ``/`` or is a folder."""
    text = os.fspath(path)
    return text.endswith(("/", os.sep)) or Path(text).is_dir()


def writer_for(
    path: str | os.PathLike[str], *, overwrite: bool | None = None
) -> type[FrameWriter]:
    """The writer class for ``path``, checked before any frame is drawn.

    A path ending in ``/`` or naming an existing folder gets :class:`PngFolderWriter`; other paths
    are chosen by suffix from :data:`writers`.

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
    if suffix not in writers:
        raise _suffix_error(p, sorted(writers), "animation format",
                            ", or a folder path ending in '/' for PNG frames")
    check_output_path(p, tuple(writers))
    check_replaceable(p, overwrite=overwrite)
    return writers[suffix]


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
        frame = _check_rgb(rgb, self.size)
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


def _check_rgb(rgb: Any, size: tuple[int, int] | None) -> np.ndarray:
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


def _changed_boxes(
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


# -- GIF ----------------------------------------------------------------------------------------

#: Palette index kept free for "unchanged since the previous frame".
_TRANSPARENT = 255


def _fallback_colours() -> np.ndarray:
    """A coarse colour cube and a grey ramp: stand-ins for colours no sample frame showed."""
    import numpy as np

    levels = np.array([0, 128, 255], dtype=np.uint8)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    greys = np.linspace(0, 255, 14).round().astype(np.uint8)[1:-1]
    return np.concatenate([cube, np.repeat(greys[:, None], 3, axis=1)])


def gif_palette(samples: Sequence[np.ndarray], colors: int = 255) -> np.ndarray:
    """One shared palette for a whole GIF, from a few sample frames: ``(n, 3)`` ``uint8``.

    The samples (e.g. a title, a step and the final frame) are stacked; their most frequent
    colours are kept exactly and Pillow's median cut covers the rest, deterministically. A few
    entries are kept for a coarse colour cube and a grey ramp, so a colour that no sample showed
    still finds a near match. At most ``colors`` (≤ 255)
    entries, so one palette index stays free for transparency.
    """
    import numpy as np
    from PIL import Image

    if not samples:
        raise ValueError("gif_palette needs at least one sample frame")
    if not 64 <= colors <= 255:
        raise ValueError(f"colors must be between 64 and 255, got {colors}")
    fallback = _fallback_colours()
    budget = colors - len(fallback)
    width = max(s.shape[1] for s in samples)
    # Every other pixel keeps every colour region and halves the work.
    parts = [np.asarray(s)[::2, ::2, :3] for s in samples]
    half = (width + 1) // 2
    parts = [np.pad(p, ((0, 0), (0, half - p.shape[1]), (0, 0)), mode="edge") for p in parts]
    stacked = Image.fromarray(np.ascontiguousarray(np.concatenate(parts, axis=0)))
    counts: list[tuple[int, Any]] = list(
        stacked.getcolors(maxcolors=stacked.width * stacked.height) or []
    )
    # The most frequent colours (background, fills, text) are kept exactly: a median-cut box
    # average would turn a white background off-white. Median cut covers the rest.
    counts.sort(key=lambda c: (-c[0], c[1]))
    exact = [c for _, c in counts[: budget if len(counts) <= budget else budget // 2]]
    seen = np.array(exact, dtype=np.uint8).reshape(-1, 3)
    if len(counts) > budget:
        quantized = stacked.quantize(colors=budget - len(exact), method=Image.Quantize.MEDIANCUT)
        used_counts: list[tuple[int, Any]] = quantized.getcolors(maxcolors=256) or []
        used = sorted(int(i) for _, i in used_counts)
        flat = np.array(quantized.getpalette() or [], dtype=np.uint8).reshape(-1, 3)
        seen = np.concatenate([seen, flat[used]])
    return np.concatenate([seen, fallback])[:colors]


class _PaletteMapper:
    """Maps RGB pixels to the index of the nearest palette colour, exactly.

    A lookup table over all 2**24 colours (16 MB, filled lazily: each new colour's nearest entry
    is computed once) keeps a palette colour mapping to itself, which Pillow's reduced-precision
    cache does not guarantee (a white background could turn 252-grey).
    """

    _UNKNOWN = 255  # never a palette index: it is the transparent one

    def __init__(self, palette: np.ndarray) -> None:
        import numpy as np

        self.palette = np.asarray(palette, dtype=np.int32).reshape(-1, 3)
        self.lut = np.full(1 << 24, self._UNKNOWN, dtype=np.uint8)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        import numpy as np

        keys = rgb[..., 0].astype(np.int32) << 16
        keys |= rgb[..., 1].astype(np.int32) << 8
        keys |= rgb[..., 2]
        idx = self.lut[keys]
        missing = idx == self._UNKNOWN
        if missing.any():
            new = np.unique(keys[missing])
            colours = np.stack([new >> 16, (new >> 8) & 255, new & 255], axis=1)
            for start in range(0, len(new), 4096):  # bounded memory for photo-like frames
                part = colours[start : start + 4096]
                d = ((part[:, None, :] - self.palette[None, :, :]) ** 2).sum(axis=2)
                self.lut[new[start : start + 4096]] = d.argmin(axis=1).astype(np.uint8)
            idx = self.lut[keys]
        return idx


@register(".gif")
class GifWriter(FrameWriter):
    """Streaming animated GIF: one shared palette, even timing, loops forever.

    The file is written block by block (GIF89a header, global palette, a looping extension, then
    one image per frame). Each frame after the first stores only the rectangle that changed since
    the previous frame, with unchanged pixels transparent, so frames cost little to encode and the
    file stays small. The pixels are LZW-encoded by Pillow's GIF encoder (``Image.tobytes("gif")``).

    Parameters
    ----------
    path, fps
        See :class:`FrameWriter`. The frame delay is ``100 / fps`` hundredths of a second
        (at least 2, as browsers slow down shorter delays).
    palette : array of shape (n, 3), optional
        The shared palette (at most 255 colours, see :func:`gif_palette`); by default it is made
        from the first frame.
    loop : int, default 0
        Times to play; ``0`` loops forever.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float = 2,
        palette: np.ndarray | None = None,
        loop: int = 0,
        overwrite: bool | None = None,
    ) -> None:
        super().__init__(path, fps=fps, overwrite=overwrite)
        self.palette = None if palette is None else self._valid_palette(palette)
        self.loop = int(loop)
        self.delay = max(2, round(100 / self.fps))
        self._fp: IO[bytes] | None = None
        self._previous: np.ndarray | None = None
        self._indices: np.ndarray | None = None
        self._mapper: _PaletteMapper | None = None

    @staticmethod
    def _valid_palette(palette: Any) -> np.ndarray:
        import numpy as np

        table = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
        if not 1 <= len(table) <= 255:
            raise ValueError(f"a GIF palette holds 1 to 255 colours, got {len(table)}")
        return table

    def _start(self, frame: np.ndarray) -> None:
        import numpy as np

        h, w = frame.shape[:2]
        if max(w, h) > 0xFFFF:
            raise ValueError(
                f"a GIF is at most 65535 pixels a side, the frames are {w}×{h}; use a smaller "
                "figsize or dpi, or save as .html or .mp4"
            )
        if self.palette is None:
            self.palette = gif_palette([frame])
        table = np.zeros((256, 3), dtype=np.uint8)
        table[: len(self.palette)] = self.palette
        self._mapper = _PaletteMapper(self.palette)
        assert self._tmp is not None
        self._fp = open(self._tmp, "wb")  # closed in _end/_cleanup
        w, h = self.size or (0, 0)
        self._fp.write(b"GIF89a" + struct.pack("<HHBBB", w, h, 0xF7, 0, 0) + table.tobytes())
        # NETSCAPE2.0 application extension: the loop count.
        self._fp.write(b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", self.loop) + b"\x00")

    def _write(self, frame: np.ndarray) -> None:
        import numpy as np
        from PIL import Image

        assert self._fp is not None and self._mapper is not None
        h, w = frame.shape[:2]
        if self._previous is None or self._indices is None:
            x0, y0, x1, y1 = 0, 0, w, h
            region = self._mapper(frame)
            self._indices = region.copy()
            transparent = False
        else:
            boxes = _changed_boxes(self._previous, frame, gap=16)
            if not boxes:
                x0, y0, x1, y1 = 0, 0, 1, 1
                region = np.full((1, 1), _TRANSPARENT, dtype=np.uint8)
            else:
                # One image per frame covers every change; inside it, only the changed bands
                # are mapped to the palette. Unchanged pixels (same palette index as shown)
                # are transparent: they compress to almost nothing.
                x0, y0 = min(b[0] for b in boxes), boxes[0][1]
                x1, y1 = max(b[2] for b in boxes), boxes[-1][3]
                region = np.full((y1 - y0, x1 - x0), _TRANSPARENT, dtype=np.uint8)
                for bx0, by0, bx1, by1 in boxes:
                    new = self._mapper(frame[by0:by1, bx0:bx1])
                    old = self._indices[by0:by1, bx0:bx1]
                    region[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0] = np.where(
                        new == old, np.uint8(_TRANSPARENT), new
                    )
                    old[...] = new
            transparent = True
        if self._previous is None:
            self._previous = frame.copy()
        else:
            self._previous[...] = frame
        packed = (1 << 2) | (1 if transparent else 0)  # disposal 1: keep; transparency flag
        self._fp.write(
            b"!\xf9\x04" + struct.pack("<BHBB", packed, self.delay, _TRANSPARENT, 0)
        )
        # Image descriptor (no local palette), LZW minimum code size 8, then the LZW data
        # sub-blocks from Pillow's GIF encoder, then the block terminator.
        rh, rw = region.shape
        self._fp.write(b"," + struct.pack("<HHHHB", x0, y0, rw, rh, 0) + b"\x08")
        self._fp.write(Image.fromarray(np.ascontiguousarray(region)).tobytes("gif", "L"))
        self._fp.write(b"\x00")

    def _end(self) -> None:
        assert self._fp is not None
        self._fp.write(b";")
        self._fp.close()
        self._fp = None

    def _cleanup(self) -> None:
        if self._fp is not None:
            self._fp.close()
            self._fp = None


# -- MP4 / WebM through ffmpeg -----------------------------------------------------------------


class FFmpegNotFoundError(RuntimeError):
    """No ffmpeg program was found for writing video."""


class FFmpegError(RuntimeError):
    """The ffmpeg program failed while encoding a video (its own error message is included)."""


def find_ffmpeg() -> str | None:
    """Path of the ffmpeg program: imageio-ffmpeg's bundled one, else one on ``PATH``; or None."""
    try:
        import imageio_ffmpeg
    except ImportError:
        pass
    else:
        try:
            return str(imageio_ffmpeg.get_ffmpeg_exe())
        except (RuntimeError, OSError):
            pass
    return shutil.which("ffmpeg")


def _require_ffmpeg(suffix: str) -> str:
    # Looked up through the module so that tests can replace ``find_ffmpeg``.
    exe = sys.modules[__name__].find_ffmpeg()
    if not exe:
        raise FFmpegNotFoundError(
            f"writing {suffix} video needs ffmpeg, which was not found: install it with "
            "'pip install imageio-ffmpeg' (or put ffmpeg on PATH), or save as .gif instead"
        )
    return exe


def _rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 limited-range Y, U, V planes (U and V at half size) of an even-sized RGB block.

    Integer arithmetic (the usual 8-bit fixed-point coefficients), so it is exact and
    deterministic; chroma comes from the 2×2 mean of each block.
    """
    import numpy as np

    c = rgb.astype(np.int32)
    r, g, b = c[..., 0], c[..., 1], c[..., 2]
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    # Sum of each 2×2 block (four times its mean) by strided adds: much faster than a
    # reshape-and-sum over two axes.
    m = c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2]
    r2, g2, b2 = m[..., 0], m[..., 1], m[..., 2]
    u = ((-38 * r2 - 74 * g2 + 112 * b2 + 512) >> 10) + 128
    v = ((112 * r2 - 94 * g2 - 18 * b2 + 512) >> 10) + 128
    return y.astype(np.uint8), u.astype(np.uint8), v.astype(np.uint8)


class _FFmpegWriter(FrameWriter):
    """Pipes frames into an ffmpeg process that encodes them.

    Frames are converted to ``yuv420p`` here, and only where they changed since the previous
    frame (animation frames differ locally), which halves the bytes sent and spares ffmpeg a
    full colour conversion per frame. The stream is tagged BT.601 limited range.
    """

    container = ""
    codec_args: tuple[str, ...] = ()

    def __init__(
        self, path: str | os.PathLike[str], *, fps: float = 2, overwrite: bool | None = None
    ) -> None:
        super().__init__(path, fps=fps, overwrite=overwrite)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._pad = (0, 0)
        self._previous: np.ndarray | None = None
        self._planes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @classmethod
    def check(cls) -> None:
        _require_ffmpeg(cls.suffix)

    def command(self, exe: str, width: int, height: int) -> list[str]:
        """The ffmpeg command line reading ``width``×``height`` yuv420p frames from stdin."""
        assert self._tmp is not None
        tags = ("-colorspace", "smpte170m", "-color_primaries", "smpte170m",
                "-color_trc", "smpte170m", "-color_range", "tv")
        return [
            exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "yuv420p", *tags, "-s", f"{width}x{height}",
            "-framerate", f"{self.fps:g}", "-i", "pipe:0",
            "-an", *self.codec_args, "-pix_fmt", "yuv420p", *tags,
            "-fflags", "+bitexact", "-flags:v", "+bitexact",
            "-f", self.container, str(self._tmp),
        ]  # fmt: skip

    def _start(self, frame: np.ndarray) -> None:
        exe = _require_ffmpeg(self.suffix)
        h, w = frame.shape[:2]
        # yuv420p needs even sizes: pad the last row/column by repeating it.
        self._pad = (h % 2, w % 2)
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            self.command(exe, w + self._pad[1], h + self._pad[0]),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            pipesize=1 << 20,  # whole-frame writes: fewer switches between us and ffmpeg
            # Its own session: Ctrl-C reaches Python (which then stops ffmpeg and removes the
            # partial file) instead of killing ffmpeg under us mid-write.
            start_new_session=True,
        )

    def _write(self, frame: np.ndarray) -> None:
        import numpy as np

        assert self._proc is not None and self._proc.stdin is not None
        if any(self._pad):
            frame = np.pad(frame, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        if self._previous is None or self._planes is None:
            self._planes = _rgb_to_yuv420(frame)
            self._previous = frame.copy()
        else:
            for box in _changed_boxes(self._previous, frame, gap=16):
                # Whole 2×2 chroma blocks: round the box out to even coordinates.
                x0, y0 = box[0] & ~1, box[1] & ~1
                x1, y1 = box[2] + (box[2] & 1), box[3] + (box[3] & 1)
                region = frame[y0:y1, x0:x1]
                y, u, v = _rgb_to_yuv420(region)
                self._planes[0][y0:y1, x0:x1] = y
                self._planes[1][y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = u
                self._planes[2][y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = v
                self._previous[y0:y1, x0:x1] = region
        try:
            for plane in self._planes:
                self._proc.stdin.write(plane.data)
        except (BrokenPipeError, OSError) as err:
            raise FFmpegError(
                f"ffmpeg stopped while writing {self.path}: {self._errors()}"
            ) from err

    def _errors(self) -> str:
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
        if self._log is None:
            return ""
        self._log.seek(0)
        text = self._log.read().decode(errors="replace").strip()
        return text[-2000:] or f"exit status {self._proc.returncode if self._proc else '?'}"

    def _end(self) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        code = self._proc.wait()
        if code != 0:
            raise FFmpegError(f"ffmpeg failed writing {self.path} (exit {code}): {self._errors()}")
        self._close_log()
        self._proc = None

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _cleanup(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(OSError):
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None
        self._close_log()


@register(".mp4")
class MP4Writer(_FFmpegWriter):
    """H.264 MP4 through ffmpeg (``yuv420p``, even pixel sizes), playable everywhere.

    x264 runs with ``superfast`` / ``zerolatency``: it encodes each frame as it arrives, in
    parallel with the drawing of the next, which is what bounds end-to-end speed here; flat
    diagrams stay small at CRF 20 anyway.
    """

    container = "mp4"
    codec_args = (
        "-c:v", "libx264", "-preset", "superfast", "-tune", "zerolatency", "-crf", "20",
        "-movflags", "+faststart",
    )  # fmt: skip


@register(".webm")
class WebMWriter(_FFmpegWriter):
    """VP9 WebM through ffmpeg (``yuv420p``, even pixel sizes)."""

    container = "webm"
    codec_args = (
        "-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "32", "-deadline", "realtime",
        "-cpu-used", "8", "-row-mt", "1",
    )  # fmt: skip


# -- HTML player --------------------------------------------------------------------------------


def _png_bytes(frame: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


_PLAYER_CSS = """\
.graphanim-player{display:inline-block;font-family:sans-serif;font-size:13px}
.graphanim-player img{display:block;max-width:100%;height:auto}
.graphanim-player .ga-controls{display:flex;align-items:center;gap:4px;margin-top:4px}
.graphanim-player button{min-width:2.2em;padding:2px 6px;cursor:pointer}
.graphanim-player input[type=range]{flex:1;min-width:80px}
.graphanim-player .ga-count{min-width:5.5em;text-align:right;font-variant-numeric:tabular-nums}
"""

# The player: plain ES5, no network. It finds its own elements by the player's id. Button glyphs
# (« ‹ ▶ || › ») are ones every font has; media-control symbols are often missing.
_PLAYER_JS = """\
(function () {
  var root = document.getElementById(%(id)s);
  if (!root) { return; }
  var frames = window[%(var)s]; delete window[%(var)s];
  var img = root.querySelector("img"), slider = root.querySelector("input");
  var count = root.querySelector(".ga-count"), play = root.querySelector(".ga-play");
  var i = 0, timer = null, delay = %(delay)s;
  slider.max = String(frames.length - 1);
  function show(k) {
    i = (k + frames.length) %% frames.length;
    img.src = "data:image/png;base64," + frames[i];
    slider.value = String(i);
    count.textContent = (i + 1) + " / " + frames.length;
  }
  function stop() {
    if (timer) { clearInterval(timer); timer = null; }
    play.textContent = "\\u25B6";
  }
  function start() {
    if (timer) { return; }
    play.textContent = "||";
    timer = setInterval(function () { show(i + 1); }, delay);
  }
  root.querySelector(".ga-first").onclick = function () { stop(); show(0); };
  root.querySelector(".ga-prev").onclick = function () { stop(); show(i - 1); };
  root.querySelector(".ga-next").onclick = function () { stop(); show(i + 1); };
  root.querySelector(".ga-last").onclick = function () { stop(); show(frames.length - 1); };
  play.onclick = function () { if (timer) { stop(); } else { start(); } };
  slider.oninput = function () { stop(); show(parseInt(slider.value, 10)); };
  show(0);
  if (%(autoplay)s) { start(); }
})();
"""


class _HtmlStream:
    """Writes the self-contained player to a text stream, one frame at a time."""

    def __init__(
        self,
        fp: IO[str],
        *,
        fps: float,
        element_id: str | None,
        document: bool,
        autoplay: bool,
    ) -> None:
        self.fp = fp
        self.fps = fps
        self.element_id = element_id
        self.document = document
        self.autoplay = autoplay
        self.count = 0
        self._id = ""

    def frame(self, rgb: np.ndarray) -> None:
        data = base64.b64encode(_png_bytes(rgb)).decode("ascii")
        if self.count == 0:
            self._header(rgb, data)
        self.fp.write(f'"{data}",\n')
        self.count += 1

    def _header(self, rgb: np.ndarray, first: str) -> None:
        h, w = rgb.shape[:2]
        digest = hashlib.sha1(first.encode("ascii")).hexdigest()[:12]
        self._id = self.element_id or f"graphanim-{digest}"
        if not re.fullmatch(r"[A-Za-z][\w-]*", self._id):
            raise ValueError(f"element_id {self._id!r} must be letters, digits, '-' or '_'")
        out = self.fp.write
        if self.document:
            out('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                "<title>graphanim animation</title>\n</head>\n<body>\n")
        out(f"<style>\n{_PLAYER_CSS}</style>\n")
        out(f'<div class="graphanim-player" id="{self._id}">\n')
        out(f'<img alt="animation frame" width="{w}" height="{h}" '
            f'src="data:image/png;base64,{first}">\n')
        out('<div class="ga-controls">'
            '<button class="ga-first" title="first frame">&#xAB;</button>'
            '<button class="ga-prev" title="step back">&#x2039;</button>'
            '<button class="ga-play" title="play / pause">&#x25B6;</button>'
            '<button class="ga-next" title="step forward">&#x203A;</button>'
            '<button class="ga-last" title="last frame">&#xBB;</button>'
            '<input type="range" min="0" max="0" value="0" step="1" aria-label="frame">'
            '<span class="ga-count">1 / 1</span></div>\n</div>\n')
        out(f"<script>\nwindow[{self._var()!r}] = [\n")

    def _var(self) -> str:
        return "__graphanim_" + self._id.replace("-", "_")

    def close(self) -> None:
        import json

        delay = max(1, round(1000 / self.fps))
        self.fp.write("];\n")
        self.fp.write(
            _PLAYER_JS
            % {
                "id": json.dumps(self._id),
                "var": json.dumps(self._var()),
                "delay": delay,
                "autoplay": "true" if self.autoplay else "false",
            }
        )
        self.fp.write("</script>\n")
        if self.document:
            self.fp.write("</body>\n</html>\n")


@register(".html")
class HtmlWriter(FrameWriter):
    """A self-contained HTML page with a player: play/pause, step buttons and a slider.

    Frames are embedded as base64 PNG; the page loads nothing from the network.

    Parameters
    ----------
    path, fps
        See :class:`FrameWriter`.
    element_id : str, optional
        The player's HTML id (default: derived from the first frame, so the same animation gives
        the same bytes).
    autoplay : bool, default False
        Start playing when the page opens.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float = 2,
        element_id: str | None = None,
        autoplay: bool = False,
        overwrite: bool | None = None,
    ) -> None:
        super().__init__(path, fps=fps, overwrite=overwrite)
        self.element_id = element_id
        self.autoplay = autoplay
        self._fp: IO[str] | None = None
        self._stream: _HtmlStream | None = None

    def _start(self, frame: np.ndarray) -> None:
        assert self._tmp is not None
        self._fp = open(self._tmp, "w", encoding="utf-8", newline="\n")
        self._stream = _HtmlStream(self._fp, fps=self.fps, element_id=self.element_id,
                                   document=True, autoplay=self.autoplay)

    def _write(self, frame: np.ndarray) -> None:
        assert self._stream is not None
        self._stream.frame(frame)

    def _end(self) -> None:
        assert self._stream is not None and self._fp is not None
        self._stream.close()
        self._fp.close()
        self._fp = None

    def _cleanup(self) -> None:
        if self._fp is not None:
            self._fp.close()
            self._fp = None


def html_player(
    frames: Iterable[np.ndarray],
    *,
    fps: float = 2,
    element_id: str | None = None,
    document: bool = False,
    autoplay: bool = False,
) -> str:
    """The HTML player for ``frames`` as a string (a fragment for notebooks by default)."""
    rate = check_fps(fps, ".html")
    buf = io.StringIO()
    stream = _HtmlStream(buf, fps=rate, element_id=element_id, document=document,
                         autoplay=autoplay)
    size: tuple[int, int] | None = None
    for rgb in frames:
        frame = _check_rgb(rgb, size)
        size = (frame.shape[1], frame.shape[0])
        stream.frame(frame)
    if stream.count == 0:
        raise ValueError("html_player needs at least one frame")
    stream.close()
    return buf.getvalue()


# -- a folder of PNGs ---------------------------------------------------------------------------

_FRAME_NAME = re.compile(r"frame_(\d{4,})\.png")


class PngFolderWriter(FrameWriter):
    """A folder of PNG frames (``frame_0000.png``, ``frame_0001.png``, ...), e.g. for slides.

    The folder is created if its parent exists. Frames go to a hidden staging folder first and
    are moved into place only when the export completes, so a failure or Ctrl-C leaves the target
    as it was (a folder that did not exist is not created). After a successful export,
    ``frame_NNNN.png`` files left from an earlier, longer export are removed so the folder holds
    exactly this animation; other files are never touched.
    """

    suffix = "/"

    def __init__(
        self, path: str | os.PathLike[str], *, fps: float = 2, overwrite: bool | None = None
    ) -> None:
        super().__init__(path, fps=fps, overwrite=overwrite)
        self._created = False

    def setup(self) -> None:
        if self._tmp is not None:
            raise RuntimeError("PngFolderWriter is already set up")
        if self.path.exists() and not self.path.is_dir():
            raise NotADirectoryError(f"{str(self.path)!r} exists and is not a folder")
        # A new folder is staged beside its final place and renamed into it; an existing one
        # gets a staging folder inside it (the same file system, so moving frames is a rename).
        self._created = not self.path.is_dir()
        where = self.path.parent if self._created else self.path
        name = self.path.name if self._created else "frames"
        try:
            staging = tempfile.mkdtemp(prefix=_temp_prefix(name), suffix=".part", dir=where)
        except OSError as err:
            if err.errno is None:  # pragma: no cover - mkdtemp's errors come from the system
                raise
            raise type(err)(
                err.errno, f"cannot create a folder in {str(where)!r} ({err.strerror})"
            ) from err
        self._tmp = Path(staging)

    def _write(self, frame: np.ndarray) -> None:
        from PIL import Image

        assert self._tmp is not None
        Image.fromarray(frame).save(self._tmp / f"frame_{self.frame_count:04d}.png", format="PNG")

    def finish(self) -> Path:
        if self._tmp is None:
            raise RuntimeError("PngFolderWriter was not set up")
        if self.frame_count == 0:
            err = ValueError(f"no frames were written to {str(self.path)!r}")
            self.abort(err)
            raise err
        staging, self._tmp = self._tmp, None
        try:
            if self._created and not self.path.exists():
                os.chmod(staging, 0o777 & ~_umask())  # mkdtemp made it private (0700)
                os.rename(staging, self.path)
                return self.path
            for k in range(self.frame_count):
                name = f"frame_{k:04d}.png"
                os.replace(staging / name, self.path / name)
            for old in sorted(self.path.iterdir()):
                match = _FRAME_NAME.fullmatch(old.name)
                if match and int(match.group(1)) >= self.frame_count and old.is_file():
                    old.unlink()
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.path

    def abort(self, error: BaseException | None = None) -> None:
        staging, self._tmp = self._tmp, None
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


# -- driving a writer ---------------------------------------------------------------------------


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
