"""Side leaves (constants, parameters) moved across their layer, off the lines of long edges."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .proper import GRID, Proper, straight, straight_crossings

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

__all__ = ["clear_lines", "fan_leaves", "lift_fans", "movable_leaves"]

# Side leaves (parameters, constants) keep at least this many slots from the straight line of a
# long edge that crosses their layer (half a slot: the line runs between two node boxes).
_CLEARANCE = 0.5


def movable_leaves(proper: Proper, side: list[bool]) -> np.ndarray:
    """Side leaves (:func:`side_leaves`) whose edges all end in the very next layer.

    Moving such a leaf across its layer moves no long edge (it starts none), so
    :func:`clear_lines` may move it off a long edge's line.
    """
    import numpy as np

    n = proper.n_real
    ok = np.zeros(proper.size, dtype=bool)
    ok[:n] = np.array(side, dtype=bool)
    sa, sb = proper.seg_a, proper.seg_b
    ok[sa[sb >= n]] = False  # starts a long edge
    has_out = np.zeros(proper.size, dtype=bool)
    has_out[sa] = True
    return ok & has_out


def fan_leaves(proper: Proper, side: list[bool]) -> np.ndarray:
    """Side leaves (:func:`side_leaves`) that start a long edge: a weight shared by ops in
    several layers, whose edges fan out to all of them (see :func:`lift_fans`)."""
    import numpy as np

    n = proper.n_real
    ok = np.zeros(proper.size, dtype=bool)
    starts = proper.seg_a[(proper.seg_b >= n) & (proper.seg_a < n)]
    ok[starts] = True
    ok[:n] &= np.array(side, dtype=bool)
    return ok


def lift_fans(
    proper: Proper, y: np.ndarray, fans: np.ndarray, clearance: float = _CLEARANCE
) -> np.ndarray:
    """``y`` with each leaf in ``fans`` moved across its layer until its long edges clear nodes.

    The straight lines from one leaf to ops on one row (the uses of a shared weight along a
    recurrent main path) meet that row at a shallow angle, over the nodes just before each op,
    when the leaf sits close to the row. Such a leaf moves to the nearest grid position of its
    layer from where every line of its long edges stays ``clearance`` slots (plus half its
    slope, as in :func:`clear_lines`) from every real node it passes, the leaf stays one slot
    from the nodes of its layer and off the lines crossing it, and the drawing has no more
    crossings than before. It stays where it is when there is no such place within half its
    longest edge's length (in layers): farther out, the long steep lines cost more than a line
    passing close to a node. Only the leaf and its own lines move.
    """
    import numpy as np

    n = proper.n_real
    cand = np.flatnonzero(fans)
    if not len(cand):
        return y
    y = y.copy()
    layer = proper.layer
    sa, sb = proper.seg_a, proper.seg_b
    real_layer: dict[int, np.ndarray] = {}
    order = np.lexsort((np.arange(n), layer[:n]))
    bounds = np.searchsorted(layer[order], np.arange(int(layer.max()) + 2))
    for li in range(int(layer.max()) + 1):
        real_layer[li] = order[bounds[li] : bounds[li + 1]]
    dummies = np.arange(n, proper.size)
    crossings = None
    for v in cand[np.lexsort((y[cand], layer[cand]))].tolist():
        li = int(layer[v])
        ys = straight(proper, y)
        # the leaf's own lines: one per dummy of its long edges, and the real nodes they pass
        mine = dummies[proper.origin[dummies] == v]
        t, end = proper.frac[mine], proper.end[mine]
        span = (layer[end] - li).astype(np.float64)
        passed = [real_layer[int(layer[d])] for d in mine.tolist()]
        line_of = np.repeat(np.arange(len(mine)), [len(r) for r in passed])
        node_y = y[np.concatenate(passed)] if passed else np.zeros(0)
        # what the leaf keeps away from in its layer: its nodes and the lines crossing it
        mates = real_layer[li][real_layer[li] != v]
        across = dummies[(layer[dummies] == li) & (proper.origin[dummies] != v)]
        a_end, a_org = proper.end[across], proper.origin[across]
        a_room = clearance + 0.5 * np.abs(y[a_end] - y[a_org]) / np.maximum(
            layer[a_end] - layer[a_org], 1
        )
        # candidates: where it is, then the grid positions nearest first (ties: the side
        # nearer the ops it feeds, then the smaller), up to half the longest edge's length away
        reach = int(0.5 * float(span.max()) / GRID)
        ks = np.arange(1, reach + 1) * GRID
        pair = np.stack([y[v] - ks, y[v] + ks], axis=1)
        ends = y[sb[sa == v]]
        cost = np.abs(pair[:, :, None] - ends[None, None, :]).sum(axis=2)
        pair = np.where((cost[:, 1] < cost[:, 0])[:, None], pair[:, ::-1], pair)
        p = np.concatenate([[y[v]], pair.ravel()])
        ok = np.ones(len(p), dtype=bool)
        if len(mates):
            ok &= np.abs(p[:, None] - y[mates][None, :]).min(axis=1) >= 1 - 1e-9
        if len(across):
            ok &= np.all(np.abs(p[:, None] - ys[across][None, :]) >= a_room - 1e-9, axis=1)
        if len(line_of):
            line = (1 - t)[None, :] * p[:, None] + (t * y[end])[None, :]
            room = clearance + 0.5 * np.abs(y[end][None, :] - p[:, None]) / span[None, :]
            gap = np.abs(line[:, line_of] - node_y[None, :])
            ok &= np.all(gap >= room[:, line_of] - 1e-9, axis=1)
        if ok[0]:
            continue
        if crossings is None:
            crossings = straight_crossings(proper, y)
        for q in p[ok].tolist():
            trial = y.copy()
            trial[v] = q
            c = straight_crossings(proper, trial)
            if c <= crossings:
                y, crossings = trial, c
                break
    return y


def clear_lines(
    proper: Proper, y: np.ndarray, leaves: np.ndarray, clearance: float = _CLEARANCE
) -> np.ndarray:
    """``y`` with side leaves moved off the straight lines of long edges.

    Long edges are drawn straight, and a leaf docked where the edge's dummy node was, or beside a
    long edge that the straightening moved, can end up on the line. Such a leaf (``leaves``)
    moves to the nearest grid position of its layer that stays ``clearance`` slots (plus half the
    line's slope, in slots per layer) from every line crossing the layer and one slot from every
    other node, and from where its edges cross no other edge (it stays where it is when there is
    none). Nothing else moves, and since a leaf starts no long edge, no line moves either.
    """
    import numpy as np

    n = proper.n_real
    layer = proper.layer
    ys = straight(proper, y)
    # a steep line crosses a box's width as well: it passes a box's sides half a layer step
    # before and after the box's middle, so it keeps that much more room
    ends = proper.end, proper.origin
    slope = np.abs(y[ends[0]] - y[ends[1]]) / np.maximum(layer[ends[0]] - layer[ends[1]], 1)
    room = clearance + 0.5 * slope
    bad, by_layer = _leaves_on_lines(proper, y, ys, room, leaves)
    if not bad.any():
        return y
    y = y.copy()
    sa, sb = proper.seg_a, proper.seg_b
    real_layer: dict[int, list[int]] = {}
    for v in range(n):
        real_layer.setdefault(int(layer[v]), []).append(v)
    for v in np.flatnonzero(bad)[np.lexsort((y[bad], layer[bad]))].tolist():
        li = int(layer[v])
        lines, need = ys[by_layer[li]], room[by_layer[li]]
        mates = np.array([u for u in real_layer[li] if u != v], dtype=np.int64)
        others = y[mates]
        mine = sb[sa == v]
        seg = np.flatnonzero((layer[sa] == li) & (sa != v))
        # segment ends: dummies on their lines, real nodes where they are now (moved leaves)
        a_id, b_id = sa[seg], sb[seg]
        a_y = np.where(a_id < n, y[a_id], ys[a_id])
        b_y = np.where(b_id < n, y[b_id], ys[b_id])
        step, reach = GRID, 2.0 * (len(mates) + len(lines)) + 4.0
        ends = y[mine]
        best = None
        for k in range(1, int(reach / step) + 1):
            for p in sorted(
                (y[v] - k * step, y[v] + k * step),
                key=lambda q: (np.abs(ends - q).sum(), q),
            ):
                if len(others) and np.abs(others - p).min() < 1 - 1e-9:
                    continue
                if np.any(np.abs(lines - p) < need - 1e-9):
                    continue
                ok = True
                for w in mine.tolist():
                    keep = b_id != w
                    if np.any((p - a_y[keep]) * (y[w] - b_y[keep]) <= 0):
                        ok = False
                        break
                if ok:
                    best = p
                    break
            if best is not None:
                break
        if best is not None:
            y[v] = best
    return y


def _leaves_on_lines(
    proper: Proper, y: np.ndarray, ys: np.ndarray, room: np.ndarray, leaves: np.ndarray
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Which ``leaves`` are closer than ``room`` to the line of a long edge (``ys``: the
    straight-line coordinates), and the dummies of each layer that has such a leaf."""
    import numpy as np

    n = proper.n_real
    layer = proper.layer
    by_layer: dict[int, np.ndarray] = {}
    bad = np.zeros(proper.size, dtype=bool)
    d_layer = layer[n:]
    if not len(d_layer):
        return bad, by_layer
    # leaves on a line: compare each leaf with the dummies of its layer
    cand = np.flatnonzero(leaves)
    if not len(cand):
        return bad, by_layer
    dummies = np.arange(n, proper.size)
    srt = dummies[np.argsort(d_layer, kind="stable")]
    bounds = np.searchsorted(layer[srt], np.arange(int(layer.max()) + 2))
    for v in cand.tolist():
        li = int(layer[v])
        ds = srt[bounds[li] : bounds[li + 1]]
        if len(ds) and np.any(np.abs(ys[ds] - y[v]) < room[ds] - 1e-9):
            bad[v] = True
            by_layer[li] = ds
    return bad, by_layer
