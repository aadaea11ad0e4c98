"""SIGTERM and SIGHUP stop a run as Ctrl-C does: the same clean-up, exit 128 + the signal."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "Interrupted",
    "stop_signals_raise",
]


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM or SIGHUP, as ``KeyboardInterrupt`` is on SIGINT.

    Being a ``KeyboardInterrupt``, it runs the same clean-up (a partial file is removed, an
    existing one kept); the command line exits with status 128 + :attr:`signum`.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: Signals that stop a run cleanly; SIGINT raises KeyboardInterrupt already.
_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted(signum)


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """SIGTERM/SIGHUP raise :class:`Interrupted` inside the block (main thread only)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        sig: signal.signal(sig, _raise_interrupted)
        for sig in _STOP_SIGNALS
        if signal.getsignal(sig) is not signal.SIG_IGN  # kept ignored, e.g. under nohup
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
