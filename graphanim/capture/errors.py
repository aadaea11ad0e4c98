"""The warning and error types of a capture."""

from __future__ import annotations

__all__ = ["GraphanimWarning", "TraceError"]


class GraphanimWarning(UserWarning):
    """Something about a capture that a user should know (it still succeeded)."""


class TraceError(RuntimeError):
    """Capturing failed for a reason of graphanim's own (not an error raised by ``func``)."""
