"""Spacing: maps from layout units to points that keep nodes, edge labels and module boxes clear
of each other.

This is layout-side work (it decides distances, not looks); it is here because it needs the
measured node sizes, and moves to the layout package once layouts are measured there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .themes import BASE_STEP, BOX_GAP, GAP_CROSS, GAP_MAIN

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

    from .boxes import BoxRoom

__all__ = ["AxisMap", "BoxSpacing", "layer_spacing", "main_axis"]


# -- spacing: layout units -> points -----------------------------------------------------------


class AxisMap:
    """A monotone piecewise-linear map from layout units to points (extrapolated linearly).

    Layers get individual gaps (a layer of wide records needs more room than a layer of op
    circles), so the main axis is piecewise linear; the other axis is linear. Installed on the
    Axes as a ``FuncScale``, so data coordinates stay the layout's own numbers.
    """

    def __init__(self, u: Any, p: Any, slope: float) -> None:
        import numpy as np

        self.u = np.asarray(u, dtype=float)
        self.p = np.asarray(p, dtype=float)
        if len(self.u) >= 2:
            self.s0 = float((self.p[1] - self.p[0]) / (self.u[1] - self.u[0]))
            self.s1 = float((self.p[-1] - self.p[-2]) / (self.u[-1] - self.u[-2]))
        else:
            self.s0 = self.s1 = float(slope)
        self._ku: Any = None
        self._kp: Any = None

    @property
    def linear(self) -> bool:
        return len(self.u) <= 2

    def scaled(self, k: float) -> AxisMap:
        m = AxisMap(self.u, self.p * k, self.s0 * k)
        m.s0, m.s1 = self.s0 * k, self.s1 * k
        m._ku = None
        return m

    def _knots(self) -> tuple[Any, Any]:
        import numpy as np

        far = 1e6  # layout units: far outside any drawing, small enough to stay exact
        u = np.concatenate([[self.u[0] - far], self.u, [self.u[-1] + far]])
        p = np.concatenate([[self.p[0] - far * self.s0], self.p, [self.p[-1] + far * self.s1]])
        return u, p

    def fwd(self, x: Any) -> Any:
        import numpy as np

        if self._ku is None:
            self._ku, self._kp = self._knots()
        return np.interp(x, self._ku, self._kp)

    def inv(self, y: Any) -> Any:
        import numpy as np

        if self._ku is None:
            self._ku, self._kp = self._knots()
        return np.interp(y, self._kp, self._ku)


def main_axis(xy: Any, src: Any, dst: Any) -> int:
    """0 if edges run mainly along x (layers are columns), 1 if along y (layers are rows).

    A layered layout puts the ends of every edge in different layers: the main axis is the one
    along which more edges move; on a tie, the one with fewer distinct coordinates.
    """
    import numpy as np

    if not len(src):
        return 0
    moves = [int((np.abs(xy[dst, k] - xy[src, k]) > 1e-9).sum()) for k in (0, 1)]
    if moves[0] != moves[1]:
        return 0 if moves[0] > moves[1] else 1
    distinct = [len(np.unique(np.round(xy[:, k], 6))) for k in (0, 1)]
    return 0 if distinct[0] <= distinct[1] else 1


def layer_spacing(
    xy: np.ndarray, half: np.ndarray, src: np.ndarray, dst: np.ndarray, need: np.ndarray,
    boxes: BoxRoom | None = None,
) -> tuple[AxisMap, AxisMap]:
    """Maps from layout units to points such that no two nodes overlap and every edge has room
    for its arrow and label (``need``: length wanted between its two boxes, pt).

    The main axis is the one along which edges mostly run (x for left-to-right layouts). Nodes
    with the same main coordinate form a layer; across a layer the slots get one common spacing;
    along the main axis each layer is placed as close to the previous ones as every pair of
    nodes up to three layers apart that would overlap, and every edge, allows. With module
    ``boxes`` (:class:`BoxRoom`), each box is also kept ``BOX_GAP`` clear of its siblings and
    of the nodes beside it (see :class:`BoxSpacing`).
    """
    import numpy as np

    n = len(xy)
    if n == 0:
        return AxisMap([0.0, 1.0], [0.0, 72.0], 72.0), AxisMap([0.0, 1.0], [0.0, 72.0], 72.0)
    swap = main_axis(xy, src, dst) == 1
    if swap:
        xy = xy[:, ::-1]
        half = half[:, ::-1]
    x, y = xy[:, 0], xy[:, 1]
    hx, hy = half[:, 0], half[:, 1]
    keys, level = np.unique(np.round(x, 6), return_inverse=True)
    level = level.reshape(-1)
    order = np.lexsort((y, level))
    lv, yo = level[order], y[order]
    # 1) across a layer: one spacing for all slots
    same = lv[1:] == lv[:-1]
    dy = yo[1:] - yo[:-1]
    ok = same & (dy > 1e-9)
    sy = 2.0 * float(np.median(hy)) + GAP_CROSS
    if ok.any():
        a, b = order[:-1][ok], order[1:][ok]
        room = hy[a] + hy[b] + GAP_CROSS
        sy = max(sy, float((room / dy[ok]).max()))
    box_sp = BoxSpacing(boxes, x, y, level, swap) if boxes is not None else None
    if box_sp is not None:
        sy = max(sy, box_sp.cross_slope())
    # 2) along: constraints "layer j starts at least req after layer i" (i < j)
    ci: list[Any] = []
    cj: list[Any] = []
    cr: list[Any] = []
    n_levels = len(keys)
    if n_levels > 1:
        reach = (hy + float(hy.max()) + GAP_CROSS) / sy
        span = float(yo.max() - yo.min()) + 2 * float(reach.max()) + 1.0
        key = lv * span + (yo - yo.min())
        _near_pairs(ci, cj, cr, y, hx, hy, level, order, key, span, reach, sy, n_levels)
        if len(src):
            ls, ld = level[src], level[dst]
            lo_l, hi_l = np.minimum(ls, ld), np.maximum(ls, ld)
            sel = lo_l != hi_l
            ci.append(lo_l[sel])
            cj.append(hi_l[sel])
            cr.append((hx[src] + hx[dst] + need)[sel])
            ei, ej, er = _edge_clear_of_end_layers(y, hx, hy, level, order, src, dst, sy)
            ci.append(ei)
            cj.append(ej)
            cr.append(er)
        if box_sp is not None:
            bi, bj, br = box_sp.main_constraints(sy, keys)
            ci.append(bi)
            cj.append(bj)
            cr.append(br)
    pos = np.zeros(n_levels)
    if n_levels > 1:
        pos = _place_layers(keys, ci, cj, cr)
        slope = float((pos[-1] - pos[0]) / (keys[-1] - keys[0]))
    else:
        slope = 2.0 * float(hx.max()) + GAP_MAIN
    main = AxisMap(keys, pos, slope)
    cross = AxisMap([0.0, 1.0], [0.0, sy], sy)
    return (cross, main) if swap else (main, cross)


def _near_pairs(ci: list[Any], cj: list[Any], cr: list[Any], y: Any, hx: Any, hy: Any,
                level: Any, order: Any, key: Any, span: float, reach: Any, sy: float,
                n_levels: int) -> None:
    """Append to ``ci, cj, cr`` a constraint for each pair of nodes up to three layers apart
    that would overlap across the layers at slot spacing ``sy`` (``key``: the nodes' sort keys
    in ``order``, layer times ``span`` plus slot)."""
    import numpy as np

    for d in (1, 2, 3):
        tgt = level + d
        idx = np.nonzero(tgt < n_levels)[0]
        if not len(idx):
            break
        base = tgt[idx] * span + (y[idx] - y[order].min())
        lo = np.searchsorted(key, base - reach[idx], "left")
        hi = np.searchsorted(key, base + reach[idx], "right")
        cnt = hi - lo
        total = int(cnt.sum())
        if total == 0:
            continue
        ii = np.repeat(idx, cnt)
        jj = order[np.arange(total) + np.repeat(lo - np.cumsum(cnt) + cnt, cnt)]
        clear = hy[ii] + hy[jj] + GAP_CROSS
        hit = np.abs(y[ii] - y[jj]) * sy < clear
        ii, jj = ii[hit], jj[hit]
        ci.append(level[ii])
        cj.append(level[jj])
        cr.append(hx[ii] + hx[jj] + GAP_MAIN)


def _place_layers(keys: Any, ci: list[Any], cj: list[Any], cr: list[Any]) -> Any:
    """Each layer's position (pt): as close to the previous one as the least step and every
    constraint ``pos[i] + req <= pos[j]`` allow."""
    import numpy as np

    n_levels = len(keys)
    pos = np.zeros(n_levels)
    li = np.concatenate(ci) if ci else np.zeros(0, dtype=int)
    lj = np.concatenate(cj) if cj else np.zeros(0, dtype=int)
    req = np.concatenate(cr) if cr else np.zeros(0)
    srt = np.argsort(lj, kind="stable")
    li, lj, req = li[srt], lj[srt], req[srt]
    bounds = np.searchsorted(lj, np.arange(n_levels + 1))
    step = np.diff(keys) * BASE_STEP
    for k in range(1, n_levels):
        p = pos[k - 1] + step[k - 1]
        s, e = bounds[k], bounds[k + 1]
        if e > s:
            p = max(p, float((pos[li[s:e]] + req[s:e]).max()))
        pos[k] = p
    return pos


def _edge_clear_of_end_layers(
    y: np.ndarray, hx: np.ndarray, hy: np.ndarray, level: np.ndarray, order: np.ndarray,
    src: np.ndarray, dst: np.ndarray, sy: float, near: int = 3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Along-axis constraints that keep each edge off the boxes beside its ends.

    An edge leaves its source across the flow as well as along it; a wide box one slot from the
    source, in the source's layer, on the side the edge turns to (the weight stacked next to the
    bias that feeds the same op), is in its way unless the layers are far enough apart for the
    edge to turn past the box's side first. The same holds at the target. For each edge and the
    ``near`` nodes next to each end on that side, the distance its two layers need (pt): the
    edge crosses ``|v_w - v_e| - h_w`` across while it runs ``w_w`` along (``e`` the end, ``w``
    the box, ``h``/``w`` its half height and width, with a little margin).
    Returns ``(layer i, layer j, distance)`` with ``i < j``, as :func:`layer_spacing` takes them.
    """
    import numpy as np

    n = len(y)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    margin = 2.0
    out_i, out_j, out_r = [], [], []
    for a, b in ((src, dst), (dst, src)):
        dv = (y[b] - y[a]) * sy
        step = np.sign(dv).astype(np.int64)
        base = (level[a] != level[b]) & (step != 0)
        for k in range(1, near + 1):
            r = rank[a] + step * k
            ok = base & (r >= 0) & (r < n)
            w = order[np.clip(r, 0, n - 1)]
            ok &= level[w] == level[a]
            room = np.abs(y[w] - y[a]) * sy - hy[w] - margin
            ok &= room > 0
            if not ok.any():
                continue
            req = (hx[w] + margin) * np.abs(dv) / np.where(ok, room, 1.0)
            out_i.append(np.minimum(level[a], level[b])[ok])
            out_j.append(np.maximum(level[a], level[b])[ok])
            out_r.append(req[ok])
    if not out_i:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_r)


class BoxSpacing:
    """The spacing constraints that keep module boxes apart (for :func:`layer_spacing`).

    The boxes and the nodes directly inside one box (or in none) are the *items* of that box's
    group (the top level is a group too); boxes are kept apart from the other items of their
    group, which keeps them apart from everything outside them: a node of another group lies in a
    box of this group, or in none, and nested boxes lie inside their parents. Two items are
    separated either along the main axis (all of one's layers before all of the other's) or
    across it (all of one's slots below all of the other's), in layout units;
    :func:`legalize_boxes` made sure one holds. Across, the slot spacing is raised until the
    boxes clear each other; along, each layer pair gets a constraint like those between nodes.
    Coordinates here are the spacing's: ``u`` along the main axis, ``v`` across it.
    """

    def __init__(self, room: BoxRoom, u: Any, v: Any, level: Any, swap: bool) -> None:
        import numpy as np

        self.u, self.v, self.level = u, v, level
        perm = [1, 0, 3, 2] if swap else [0, 1, 2, 3]  # -> (main lo, cross lo, main hi, cross hi)
        self.ext = np.asarray(room.ext, dtype=float)[:, perm]
        self.members = room.members
        self.offs = [o[:, perm] for o in room.offs]
        self.swap = swap
        inner = np.full(len(u), -1)
        for k in range(len(room.members)):  # parents come first
            inner[room.members[k]] = k
        kids: dict[int, list[int]] = {}
        for k, p in enumerate(room.parent):
            kids.setdefault(p, []).append(k)
        # groups: (box ids of the group's boxes, bare node ids)
        self.groups = [(ks, np.flatnonzero(inner == g)) for g, ks in sorted(kids.items())]
        self.width = room.width
        self.eps = 1e-9
        self.urange = [(float(u[m].min()), float(u[m].max())) for m in room.members]
        self.vrange = [(float(v[m].min()), float(v[m].max())) for m in room.members]

    @staticmethod
    def _extremes(coord: Any, val: Any) -> tuple[Any, Any]:
        """Distinct coordinates and the largest value at each."""
        import numpy as np

        c, inv = np.unique(np.round(coord, 9), return_inverse=True)
        out = np.full(len(c), -np.inf)
        np.maximum.at(out, inv.reshape(-1), val)
        return c, out

    def _cross_bound(self, cl: Any, ol: Any, cu: Any, ou: Any) -> float:
        """Least slot spacing that puts the upper item's lower side ``BOX_GAP`` above the lower
        item's upper side (distinct slots and reaches of each)."""
        d = cu[None, :] - cl[:, None]
        return float(((ol[:, None] + ou[None, :] + BOX_GAP) / d).max())

    def cross_slope(self) -> float:
        u, v, eps = self.u, self.v, self.eps
        sy = 0.0
        for ks, bare in self.groups:
            for a, k in enumerate(ks):
                m, o = self.members[k], self.offs[k]
                (u0, u1), (v0, v1) = self.urange[k], self.vrange[k]
                top_c, top_o = self._extremes(v[m], o[:, 3])
                bot_c, bot_o = self._extremes(v[m], o[:, 1])
                # nodes of the group in the box's layers: above or below it
                if len(bare):
                    near = bare[(u[bare] >= u0 - eps) & (u[bare] <= u1 + eps)]
                    up = near[v[near] > v1 + eps]
                    if len(up):
                        sy = max(sy, self._cross_bound(top_c, top_o, v[up], self.ext[up, 1]))
                    down = near[v[near] < v0 - eps]
                    if len(down):
                        sy = max(sy, self._cross_bound(v[down], self.ext[down, 3], bot_c, bot_o))
                for k2 in ks[a + 1:]:
                    (w0, w1), (x0, x1) = self.urange[k2], self.vrange[k2]
                    if w0 > u1 + eps or u0 > w1 + eps:
                        continue  # apart along the main axis
                    m2, o2 = self.members[k2], self.offs[k2]
                    if x0 > v1 + eps:
                        sy = max(sy, self._cross_bound(
                            top_c, top_o, *self._extremes(v[m2], o2[:, 1])))
                    elif v0 > x1 + eps:
                        sy = max(sy, self._cross_bound(
                            *self._extremes(v[m2], o2[:, 3]), bot_c, bot_o))
                if self.swap and self.width[k] > 0:
                    # the label runs across: the spread of the box's slots must hold it
                    need = self.width[k] - bot_o[0] - top_o[-1]
                    if need > 0:
                        sy = max(sy, need / (top_c[-1] - bot_c[0]))
        return sy

    def _cross_extent(self, k: int, sy: float) -> tuple[float, float]:
        m, o = self.members[k], self.offs[k]
        c = self.v[m] * sy
        return float((c - o[:, 1]).min()), float((c + o[:, 3]).max())

    def main_constraints(self, sy: float, keys: Any) -> tuple[Any, Any, Any]:
        """Constraints ``pos[i] + req <= pos[j]`` between layers (``i < j``) that keep the boxes
        of a group clear of the group's other items along the main axis; those that the least
        layer step already meets are left out."""
        import numpy as np

        u, v, level, eps = self.u, self.v, self.level, self.eps
        ci: list[Any] = []
        cj: list[Any] = []
        cr: list[Any] = []
        per_level: dict[int, tuple[Any, Any, Any]] = {}

        def levels(k: int) -> tuple[Any, Any, Any]:
            if k not in per_level:
                m, o = self.members[k], self.offs[k]
                lv, lo = self._extremes(level[m], o[:, 0])
                _, hi = self._extremes(level[m], o[:, 2])
                per_level[k] = (lv.astype(int), lo, hi)
            return per_level[k]

        def add(li: Any, lj: Any, req: Any) -> None:
            li, lj, req = (np.atleast_1d(t) for t in np.broadcast_arrays(li, lj, req))
            keep = (keys[lj] - keys[li]) * BASE_STEP < req  # the least step does not do it
            ci.append(li[keep].ravel())
            cj.append(lj[keep].ravel())
            cr.append(req[keep].ravel())

        ext = self.ext
        for ks, bare in self.groups:
            ext_c = {k: self._cross_extent(k, sy) for k in ks}
            for a, k in enumerate(ks):
                lvk, lok, hik = levels(k)
                (u0, u1) = self.urange[k]
                c0, c1 = ext_c[k]
                if len(bare):
                    bc0 = v[bare] * sy - ext[bare, 1]
                    bc1 = v[bare] * sy + ext[bare, 3]
                    across = (bc1 + BOX_GAP > c0) & (c1 + BOX_GAP > bc0)
                    before = bare[across & (u[bare] < u0 - eps)]
                    after = bare[across & (u[bare] > u1 + eps)]
                    if len(before):
                        add(level[before][:, None], lvk[None, :],
                            ext[before, 2][:, None] + lok[None, :] + BOX_GAP)
                    if len(after):
                        add(lvk[:, None], level[after][None, :],
                            hik[:, None] + ext[after, 0][None, :] + BOX_GAP)
                for k2 in ks[a + 1:]:
                    d0, d1 = ext_c[k2]
                    if not (d1 + BOX_GAP > c0 and c1 + BOX_GAP > d0):
                        continue
                    (w0, w1) = self.urange[k2]
                    lv2, lo2, hi2 = levels(k2)
                    if u1 < w0 - eps:
                        add(lvk[:, None], lv2[None, :], hik[:, None] + lo2[None, :] + BOX_GAP)
                    elif w1 < u0 - eps:
                        add(lv2[:, None], lvk[None, :], hi2[:, None] + lok[None, :] + BOX_GAP)
                if not self.swap and self.width[k] > 0 and len(lvk) > 1:
                    # the label runs along: the spread of the box's layers must hold it
                    add(lvk[0], lvk[-1], self.width[k] - lok[0] - hik[-1])
        if not ci:
            return np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros(0)
        return np.concatenate(ci), np.concatenate(cj), np.concatenate(cr)


# -- geometry ----------------------------------------------------------------------------------
