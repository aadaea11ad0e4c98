"""The layered graph with dummy nodes (every segment joins two consecutive layers), straightened."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .crossings import segment_crossings

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

__all__ = ["GRID", "W_DUMMY", "W_END", "W_REAL", "Proper", "straight", "straight_crossings"]

# Edge weights in coordinate assignment (as in Graphviz): long edges, drawn through chains of
# dummy nodes, get pulled straight harder than ordinary ones.
W_REAL, W_END, W_DUMMY = 1.0, 2.0, 8.0
# Positions are snapped to this grid at the end: a fixed grid hides floating-point noise (same
# bytes on every machine) and keeps the one-slot separation (1.0 is a multiple of the grid).
GRID = 0.5


class Proper:
    """The layered graph with dummy nodes: every segment joins two consecutive layers."""

    def __init__(self, n: int, layer: np.ndarray, src: np.ndarray, dst: np.ndarray) -> None:
        import numpy as np

        span = layer[dst] - layer[src]
        n_dummy = int((span - 1).sum())
        self.n_real = n
        self.size = n + n_dummy
        n_seg = int(span.sum())
        edge_of_seg = np.repeat(np.arange(len(src)), span)
        first = np.cumsum(span) - span  # index of each edge's first segment
        k = np.arange(n_seg) - first[edge_of_seg]  # position of the segment along its edge
        dummy_base = n + np.cumsum(span - 1) - (span - 1)  # id of each edge's first dummy
        base = dummy_base[edge_of_seg]
        last = k == span[edge_of_seg] - 1
        a = np.where(k == 0, src[edge_of_seg], base + k - 1)
        b = np.where(last, dst[edge_of_seg], base + k)
        self.seg_a, self.seg_b = a.astype(np.int64), b.astype(np.int64)
        real_a, real_b = a < n, b < n
        self.seg_w = np.where(real_a & real_b, W_REAL, np.where(real_a | real_b, W_END, W_DUMMY))
        self.layer = np.empty(self.size, dtype=np.int64)
        self.layer[:n] = layer
        self.layer[b] = layer[src[edge_of_seg]] + k + 1
        # a dummy's "origin" real node orders it initially next to its edge's source
        self.origin = np.arange(self.size, dtype=np.int64)
        self.origin[b[~last]] = src[edge_of_seg][~last]
        # each dummy's real end points and how far along its edge it sits (for straight edges)
        self.end = np.arange(self.size, dtype=np.int64)
        self.end[b[~last]] = dst[edge_of_seg][~last]
        self.frac = np.zeros(self.size)
        self.frac[b[~last]] = (k[~last] + 1) / span[edge_of_seg][~last]


def straight(proper: Proper, y: np.ndarray) -> np.ndarray:
    """``y`` with every dummy moved onto the straight line between its edge's end points."""
    import numpy as np

    out = y.copy()
    d = np.arange(proper.n_real, proper.size)
    if len(d):
        t = proper.frac[d]
        out[d] = (1 - t) * y[proper.origin[d]] + t * y[proper.end[d]]
    return out


def straight_crossings(proper: Proper, y: np.ndarray) -> int:
    """Crossings of the straight-line drawing whose real nodes are at ``y``."""
    yy = straight(proper, y)
    return segment_crossings(proper.layer[proper.seg_a], yy[proper.seg_a], yy[proper.seg_b])
