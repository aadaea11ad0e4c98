"""Printing the written path: a closed, full or vanished stdout is reported, never a traceback."""

from __future__ import annotations

import errno
import os
import sys
from contextlib import suppress

from .messages import (
    EXIT_FAILURE,
    EXIT_OK,
    report_error,
)

__all__ = [
    "hold_closed_stdout",
    "print_path",
    "to_stdout",
]


def hold_closed_stdout() -> bool:
    """True when the program started with stdout closed (``>&-``).

    The null device then takes its file descriptor, so that no file opened later (the output's
    temporary file, ffmpeg's pipe) becomes "stdout" by chance.
    """
    if sys.stdout is not None:
        return False
    try:
        os.fstat(1)
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        if devnull != 1:  # pragma: no cover - the lowest free descriptor is 1 here
            os.dup2(devnull, 1)
            os.close(devnull)
    return True


def to_stdout(path: str | None, *, closed: bool) -> int:
    """Print the written ``path`` (if any) and flush stdout; the exit status.

    A reader that went away (``| head -0``) is no error: status 0, the file is written. A closed
    stdout (``>&-``) or one that fails (``> /dev/full``) is reported in one line on stderr,
    status 1; the file is complete all the same. After a failure stdout is pointed at the null
    device, so that the flush at exit does not fail again.
    """
    try:
        if closed:
            raise OSError(errno.EBADF, "stdout is closed")
        if path is not None:
            print_path(path)
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_stdout()
        return EXIT_OK
    except OSError as err:
        _drop_stdout()
        written = f"; {path!a} was written" if path else ""
        report_error(f"cannot write to stdout ({err.strerror or err}){written}")
        return EXIT_FAILURE
    return EXIT_OK


def _drop_stdout() -> None:
    """Point stdout at the null device: its pending output is dropped, the exit flush passes."""
    if sys.stdout is None:
        return
    with suppress(OSError, ValueError):
        fd = sys.stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)

def print_path(path: str) -> None:
    """Print the written path on stdout, byte for byte even when stdout cannot encode it."""
    try:
        print(path)
        sys.stdout.flush()
    except UnicodeEncodeError:  # e.g. 'é' on an ASCII terminal, or undecodable bytes in the name
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is None:
            print(path.encode("ascii", "backslashreplace").decode("ascii"))
        else:
            buffer.write(os.fsencode(path) + b"\n")
            buffer.flush()
        sys.stdout.flush()
