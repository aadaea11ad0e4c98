"""Counting edge crossings of a straight-line drawing, by layer lines and merge-sort inversions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from .positions import check_direction, validated_positions

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

    from ..graph import Graph

__all__ = ["count_crossings", "inversions", "segment_crossings"]


def inversions(seq: np.ndarray) -> int:
    """Number of pairs ``i < j`` with ``seq[i] > seq[j]`` (bottom-up merge sort, vectorised)."""
    import numpy as np

    a = np.asarray(seq, dtype=np.int64)
    n = len(a)
    if n < 2:
        return 0
    a = a - a.min()
    span = int(a.max()) + 1
    idx = np.arange(n)
    total = 0
    width = 1
    while width < n:
        block = idx // (2 * width)
        right = (idx // width) % 2 == 1
        keys = block * span + a
        left_keys = keys[~right]  # sorted: blocks ascending, each left half sorted
        rk = keys[right]
        rb = block[right]
        hi = np.searchsorted(left_keys, (rb + 1) * span, side="left")
        le = np.searchsorted(left_keys, rk, side="right")
        total += int((hi - le).sum())
        a = np.sort(keys, kind="stable") - block * span
        width *= 2
    return total


def segment_crossings(group: np.ndarray, left: np.ndarray, right: np.ndarray) -> int:
    """Crossings among segments between pairs of lines.

    Segment ``i`` joins ``left[i]`` on line ``group[i]`` to ``right[i]`` on the next line (any
    sortable numbers). Two segments of the same group cross when their order on the left and on the
    right strictly differ; segments sharing an end point do not cross.
    """
    import numpy as np

    if len(group) < 2:
        return 0
    srt = np.lexsort((right, left, group))
    g, r = group[srt], right[srt]
    # dense rank of (group, right) so that ties compare equal and groups never mix
    key_order = np.lexsort((r, g))
    gr, rr = g[key_order], r[key_order]
    new = np.ones(len(gr), dtype=bool)
    new[1:] = (gr[1:] != gr[:-1]) | (rr[1:] != rr[:-1])
    dense = np.empty(len(gr), dtype=np.int64)
    dense[key_order] = np.cumsum(new) - 1
    return inversions(dense)


def count_crossings(graph: Graph, positions: Mapping[str, Any], *, direction: str = "LR") -> int:
    """Edge crossings of the straight-line drawing of ``graph`` at ``positions``.

    How it counts: the distinct flow coordinates of the nodes (``x`` for ``"LR"``, ``y`` for
    ``"TB"``) are the layer lines. Every edge is drawn as one straight segment and cut where it
    passes a layer line, so a long edge is judged by the route it really takes (its "dummy" points
    are where the straight line meets the lines in between, the same rule for every layout, dot's
    included). Two edges cross between two neighbouring lines when their order across the flow
    differs on the two sides (ties broken by slope, so edges sharing an end node never cross), and
    on a line when they meet there at a point that is not a node. Parallel edges count once; edges
    whose ends share a flow coordinate are ignored.

    Parameters
    ----------
    graph : Graph
        The graph whose edges are counted.
    positions : dict
        ``{node_id: (x, y)}`` for every node (as returned by :func:`compute_layout`).
    direction : {"LR", "TB"}
        Which coordinate is the flow: ``x`` for ``"LR"``, ``y`` for ``"TB"``.

    Returns
    -------
    int
        The number of crossings.
    """

    import numpy as np

    check_direction(direction)
    d = _drawing(graph, validated_positions(graph, positions), direction)
    if d is None:
        return 0
    flow, across, line_at, u, v = d.flow, d.across, d.line_at, d.u, d.v
    lu, lv = d.node_line[u], d.node_line[v]
    span = lv - lu
    edge = np.repeat(np.arange(len(u)), span)
    first = np.cumsum(span) - span
    k = np.arange(int(span.sum())) - first[edge]
    line0 = lu[edge] + k  # segment between line0 and line0 + 1
    fu, fv = flow[u][edge], flow[v][edge]
    au, av = across[u][edge], across[v][edge]
    slope = (av - au) / (fv - fu)

    def at(line: np.ndarray) -> np.ndarray:
        t = line_at[line]
        # exact at the end points, interpolated in between
        val = au + slope * (t - fu)
        val = np.where(line == lu[edge], au, val)
        return np.where(line == lv[edge], av, val)

    q = d.eps
    y0 = np.round(at(line0) / q)
    y1 = np.round(at(line0 + 1) / q)
    sl = np.round(slope / 1e-9)
    total = _order_changes(line0, y0, y1, sl)
    # meetings on a line at a point that is not an end point of either edge
    total += _meetings(line0, lv[edge], y1, sl)
    return int(total)


def _order_changes(line0: np.ndarray, y0: np.ndarray, y1: np.ndarray, sl: np.ndarray) -> int:
    """Crossings between neighbouring lines: pairs of segments whose order just after the left
    line (ties by slope) and just before the right line differ."""
    import numpy as np

    grp = line0
    srt = np.lexsort((-sl, y1, sl, y0, grp))
    g_s = grp[srt]
    key = np.lexsort((sl[srt] * -1.0, y1[srt], g_s))
    right_rank = np.empty(len(srt), dtype=np.int64)
    gk, yk, sk = g_s[key], y1[srt][key], -sl[srt][key]
    new = np.ones(len(key), dtype=bool)
    new[1:] = (gk[1:] != gk[:-1]) | (yk[1:] != yk[:-1]) | (sk[1:] != sk[:-1])
    right_rank[key] = np.cumsum(new) - 1
    return inversions(right_rank)


def _meetings(line0: np.ndarray, last: np.ndarray, y1: np.ndarray, sl: np.ndarray) -> int:
    """Pairs of edges meeting on a line (``line0 + 1`` before their ``last`` line) at the same
    point with different slopes."""
    import numpy as np

    inner = line0 + 1 < last
    if not inner.any():
        return 0
    li = line0[inner] + 1
    yi = y1[inner]
    si = sl[inner]
    _, pt_count = np.unique(np.stack([li, yi]), axis=1, return_counts=True)
    _, same_count = np.unique(np.stack([li, yi, si]), axis=1, return_counts=True)
    return int((pt_count * (pt_count - 1) // 2).sum() - (same_count * (same_count - 1) // 2).sum())


class _Drawing(NamedTuple):
    """The edges of a drawing by layer lines: each edge from ``u`` to ``v`` on a later line."""

    flow: np.ndarray  # each node's coordinate along the flow
    across: np.ndarray  # and across it
    line_at: np.ndarray  # each line's coordinate
    node_line: np.ndarray  # each node's line
    u: np.ndarray
    v: np.ndarray
    eps: float  # coordinates closer than this are equal


def _drawing(
    graph: Graph, pos: Mapping[str, tuple[float, float]], direction: str
) -> _Drawing | None:
    """The straight-line drawing at ``pos`` by layer lines (``None`` without edges to count)."""
    import numpy as np

    if not graph.edges:
        return None
    ids = [n.id for n in graph.nodes]
    xy = np.array([pos[i] for i in ids], dtype=np.float64)
    flow, across = (xy[:, 0], xy[:, 1]) if direction == "LR" else (xy[:, 1], xy[:, 0])
    scale = max(float(np.abs(xy).max()), 1.0)
    eps = 1e-9 * scale
    flow_q = np.round(flow / eps)
    _, first, node_line = np.unique(flow_q, return_index=True, return_inverse=True)
    line_at = flow[first]  # a node's own coordinate: exact where an edge ends on the line
    index = {nid: i for i, nid in enumerate(ids)}
    pairs = sorted({(index[e.src], index[e.dst]) for e in graph.edges if e.src != e.dst})
    if not pairs:
        return None
    e = np.array(pairs, dtype=np.int64)
    u, v = e[:, 0], e[:, 1]
    flip = node_line[u] > node_line[v]
    u, v = np.where(flip, v, u), np.where(flip, u, v)
    ok = node_line[u] != node_line[v]
    return _Drawing(flow, across, line_at, node_line, u[ok], v[ok], eps)
