"""Output paths: checked before any work, written atomically (a temporary file, then a rename),
write-protected files kept unless overwriting is asked."""

from __future__ import annotations

import contextlib
import contextvars
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .formats import suffix_error

__all__ = [
    "ReadOnlyTargetError",
    "allow_overwrite",
    "atomic_path",
    "check_output_path",
    "check_replaceable",
    "check_writable",
    "is_folder_target",
    "overwriting",
    "temp_prefix",
    "umask",
]


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
        raise suffix_error(p, formats, "output format")
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
    return 0o666 & ~umask()


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


def overwriting(overwrite: bool | None) -> contextlib.AbstractContextManager[None]:
    """The context of a public ``save(..., overwrite=...)``: :func:`allow_overwrite` when it is
    true, else the caller's (so ``--force`` around a call that passes nothing still holds)."""
    return allow_overwrite() if overwrite else contextlib.nullcontext()


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


def umask() -> int:
    """The process's file-creation mask."""
    mask = os.umask(0o022)  # read the umask (setting it is the only way), then restore it
    os.umask(mask)
    return mask


def temp_prefix(name: str) -> str:
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
            prefix=temp_prefix(target.name), suffix=f".part{target.suffix[:16]}", dir=folder
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

def is_folder_target(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` names a folder of PNG frames: it ends in ``/`` or is a folder."""
    text = os.fspath(path)
    return text.endswith(("/", os.sep)) or Path(text).is_dir()
