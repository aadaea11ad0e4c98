"""Coordinates across the layers: nodes pulled to their neighbours, order and one slot kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .leaves import clear_lines, lift_fans
from .proper import GRID, W_DUMMY, Proper, straight, straight_crossings

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

__all__ = ["coordinates"]


def _grouped_cummax(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running maximum that restarts at each group (``group`` is non-decreasing)."""
    import numpy as np

    if len(values) == 0:
        return values
    span = float(values.max() - values.min()) + 1.0
    shifted = values + group * span
    return np.maximum.accumulate(shifted) - group * span


def coordinates(
    proper: Proper,
    order: list[np.ndarray],
    anchor: np.ndarray,
    offset: np.ndarray,
    refine: int | None = None,
    leaves: np.ndarray | None = None,
    fans: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Coordinates across the layers: attraction to neighbours, order and one slot kept.

    Then ``refine`` rounds re-sort each layer by where its nodes are pulled in the straight-line
    drawing (dummies on their edge's line) and keep the placement with the fewest straight-line
    crossings: long edges are drawn straight, not through their dummy nodes.
    """
    import numpy as np

    rows, y = _rows(proper, order)
    w, chain = _weights(proper, anchor, offset)
    targets = _Targets(proper, w, anchor, offset)
    _relax(proper, targets, y, rows)
    best_y, best_c = _refine(proper, targets, y, rows, refine)
    y = straight(proper, best_y)
    size = proper.size
    if size <= 20_000:
        sa, sb = proper.seg_a, proper.seg_b
        level = _level_chains(proper, y, sa[chain], sb[chain], anchor)
        if straight_crossings(proper, level) <= best_c:
            y = level
    # shift so that the smallest coordinate is 0, then snap to the grid
    y -= y[: proper.n_real].min() if proper.n_real else 0.0
    y = np.round(y / GRID) * GRID
    if leaves is not None and size <= 20_000:
        # a leaf docked next to a real operand stays right there (on a line or not)
        y = clear_lines(proper, y, leaves & ((anchor >= proper.n_real) | (offset == 0)))
    if fans is not None and size <= 20_000:
        y = lift_fans(proper, y, fans)
    return y, straight_crossings(proper, y)


@dataclass
class _Rows:
    """The nodes layer by layer in one array: ``flat`` (node ids), ``local`` (place in the
    layer) and ``grp`` (the layer, as float)."""

    flat: np.ndarray
    local: np.ndarray
    grp: np.ndarray


def _rows(proper: Proper, order: list[np.ndarray]) -> tuple[_Rows, np.ndarray]:
    """The layers of ``order`` as :class:`_Rows`, and each layer's nodes one slot apart around 0."""
    import numpy as np

    flat = np.concatenate(order)
    grp = proper.layer[flat].astype(np.float64)
    counts = np.array([len(nodes) for nodes in order])
    local = np.arange(len(flat)) - np.repeat(np.cumsum(counts) - counts, counts)
    y = np.zeros(proper.size)
    y[flat] = local - np.repeat((counts - 1) / 2.0, counts)
    return _Rows(flat, local, grp), y


def _weights(
    proper: Proper, anchor: np.ndarray, offset: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Segment weights of the attraction, and which segments are links of the main data path."""
    import numpy as np

    size = proper.size
    sa, sb = proper.seg_a, proper.seg_b
    # a docked leaf is glued to its partner and must not pull its op off the partner's line
    w = np.where(offset[sa] != 0, 0.0, proper.seg_w)
    # the main data path: a link whose ends have no other edges (docked leaves aside) between
    # real nodes (op -> its result, activation -> the next op) is held as straight as a long edge
    live = w > 0
    n_out = np.bincount(sa[live], minlength=size)
    n_in = np.bincount(sb[live], minlength=size)
    # (a dummy that docked leaves sit around counts as a real node here)
    solid = np.arange(size) < proper.n_real
    solid[anchor[np.flatnonzero(offset)]] = True
    chain = live & solid[sa] & solid[sb] & (n_out[sa] == 1) & (n_in[sb] == 1)
    if not np.any(offset != 0):
        # nothing docked (no parameters or constants beside an activation): a plain DAG, whose
        # crossings the straightening would raise (about 10% more than dot's on 100-op DAGs)
        chain[:] = False
    return np.where(chain, W_DUMMY, w), chain


class _Targets:
    """Where a round pulls each node: the weighted mean of its neighbours, dummies then put on
    their edge's straight line, each docked constant ``offset`` slots from its partner."""

    def __init__(
        self, proper: Proper, w: np.ndarray, anchor: np.ndarray, offset: np.ndarray
    ) -> None:
        import numpy as np

        size = proper.size
        sa, sb = proper.seg_a, proper.seg_b
        self.proper, self.w, self.anchor, self.offset = proper, w, anchor, offset
        wsum = np.bincount(sa, weights=w, minlength=size) + np.bincount(
            sb, weights=w, minlength=size
        )
        self.has = wsum > 0
        self.wsafe = np.where(self.has, wsum, 1.0)
        self.glued = np.flatnonzero(offset)

    def pulled(self, yy: np.ndarray) -> np.ndarray:
        import numpy as np

        sa, sb, w, size = self.proper.seg_a, self.proper.seg_b, self.w, self.proper.size
        pull = np.bincount(sa, weights=w * yy[sb], minlength=size) + np.bincount(
            sb, weights=w * yy[sa], minlength=size
        )
        return np.where(self.has, pull / self.wsafe, yy)

    def __call__(self, yy: np.ndarray) -> np.ndarray:
        target = straight(self.proper, self.pulled(yy))
        # a docked constant wants to sit exactly ``offset`` slots from its partner
        glued = self.glued
        target[glued] = target[self.anchor[glued]] + self.offset[glued]
        return target


def _relax(proper: Proper, targets: _Targets, y: np.ndarray, rows: _Rows) -> None:
    """Rounds of attraction, in place: each layer moves toward its targets, order kept."""
    flat, local, grp = rows.flat, rows.local, rows.grp
    # red/black (even/odd layer) updates: plain Jacobi steps oscillate on a layered graph
    parity = proper.layer[flat] % 2
    colours = [parity == 0, parity == 1]
    size = proper.size
    rounds = 40 if size <= 20_000 else 20 if size <= 200_000 else 10
    for _ in range(rounds):
        for sel in colours:
            nodes = flat[sel]
            if len(nodes) == 0:
                continue
            target = targets(y)
            y[nodes] = _project(target[nodes], local[sel], grp[sel])


def _refine(
    proper: Proper, targets: _Targets, y: np.ndarray, rows: _Rows, refine: int | None
) -> tuple[np.ndarray, int]:
    """Re-sort the layers by their straight-line pulls (``y`` changes in place); the placement
    with the fewest straight-line crossings and that number."""
    import numpy as np

    size = proper.size
    flat, local, grp = rows.flat, rows.local, rows.grp
    anchor, offset = targets.anchor, targets.offset
    if refine is None:
        refine = 60 if size <= 20_000 else 10 if size <= 200_000 else 0
    best_y, best_c = y.copy(), straight_crossings(proper, y)
    node_parity = proper.layer % 2
    stale = 0
    for _ in range(refine):
        if best_c == 0 or stale >= 10:
            break
        for colour in (0, 1):
            target = targets(straight(proper, y))
            # layers of the other colour keep their order (their target is their place)
            target = np.where(node_parity == colour, target, y)
            # a docked constant moves with its partner: sort by the anchor's target, keep groups
            a = anchor[flat]
            flat = flat[np.lexsort((offset[flat], a, y[a], target[a], grp))]
            y[flat] = _project(target[flat], local, grp)
        c = straight_crossings(proper, y)
        if c < best_c:
            best_y, best_c, stale = y.copy(), c, 0
        else:
            stale += 1
    return best_y, best_c


def _level_chains(
    proper: Proper, y: np.ndarray, ca: np.ndarray, cb: np.ndarray, anchor: np.ndarray
) -> np.ndarray:
    """``y`` with each chain link ``a -> b`` made level (``b`` and its docked leaves moved to
    ``a``'s line) wherever the moved nodes stay one slot clear of the rest of their layer."""
    import numpy as np

    y = y.copy()
    n = proper.n_real
    group: dict[int, list[int]] = {}
    for v in np.flatnonzero(anchor != np.arange(proper.size)).tolist():
        group.setdefault(int(anchor[v]), []).append(v)
    layer = proper.layer
    members: dict[int, list[int]] = {}
    for v in range(proper.size):
        members.setdefault(int(layer[v]), []).append(v)
    arrays = {li: np.array(vs, dtype=np.int64) for li, vs in members.items()}
    links = sorted(zip(layer[ca].tolist(), ca.tolist(), cb.tolist()))
    ys = straight(proper, y)
    for _, a, b in links:
        shift = y[a] - y[b]
        if shift == 0:
            continue
        moved = [b, *group.get(b, [])]
        row = arrays[int(layer[b])]
        others = row[~np.isin(row, moved)]
        new = y[np.array(moved)] + shift
        if len(others):
            # real nodes where they are now, dummies where they were (the crossing check after
            # this pass catches a long edge that moved onto a node)
            oy = np.where(others < n, y[others], ys[others])
            if np.abs(new[:, None] - oy[None, :]).min() < 1 - 1e-9:
                continue
        y[np.array(moved)] = new
    final = straight(proper, y)
    # leaves docked around a long edge follow it onto its straight line where there is room
    for d in sorted(v for v in group if v >= n):
        shift = final[d] - y[d]
        leaves = np.array(group[d], dtype=np.int64)
        row = arrays[int(layer[d])]
        others = row[~np.isin(row, [d, *group[d]])]
        new = y[leaves] + shift
        if shift == 0 or (
            len(others) and np.abs(new[:, None] - final[others][None, :]).min() < 1 - 1e-9
        ):
            continue
        y[leaves] = new
        final[leaves] = new
    y[n:] = final[n:]
    return y


def _project(target: np.ndarray, local: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Closest-ish coordinates to ``target`` that keep the order and one slot between nodes.

    Pushing down (running max) and pushing up (running min) each give a feasible placement; their
    mean is feasible too and treats both directions alike.
    """
    z = target - local
    down = _grouped_cummax(z, group) + local
    rz = -z[::-1]
    rg = (group.max() - group)[::-1]
    up = -_grouped_cummax(rz, rg)[::-1] + local
    return (down + up) / 2.0
