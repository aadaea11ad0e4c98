"""The picture as data, before any drawing library: themes, text metrics, node looks, spacing
and module boxes, geometry."""

from __future__ import annotations

__all__: list[str] = []
