"""Drawing backends: each reads the measured picture and writes artists or a file."""

from __future__ import annotations

__all__: list[str] = []
