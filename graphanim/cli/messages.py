"""What the command line says: its exit codes, its two error types and one-line messages."""

from __future__ import annotations

import sys

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "RunError",
    "UsageError",
    "one_line",
    "report_error",
    "shorten",
    "warn",
]


EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

_MAX_MESSAGE = 4000  # characters of an error line; longer ones are cut

class UsageError(ValueError):
    """A usage or input error: reported as one ``error: ...`` line, exit status 2."""


class RunError(RuntimeError):
    """A failure while running (the user's code raised, a file could not be written): exit 1."""

def one_line(err: BaseException) -> str:
    """``err`` as ``Type: first line of its message`` (or the type alone)."""
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def report_error(message: str) -> None:
    """Print ``error: message`` on stderr as one printable line of a readable length."""
    # one line, whatever the message holds, and of a readable length (it may quote user input)
    text = " ".join(message.split("\n"))
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    print(f"error: {text}", file=sys.stderr)


def shorten(text: str, limit: int = 60) -> str:
    """``text`` shortened for a message (a list value can be megabytes long)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def warn(message: str) -> None:
    """Print ``warning: message`` on stderr."""
    print(f"warning: {message}", file=sys.stderr)
