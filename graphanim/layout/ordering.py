"""Crossing reduction: the order of the nodes within each layer, constants docked to a partner."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .crossings import segment_crossings
from .structure import side_leaves

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

    from ..graph import Graph
    from .proper import Proper

__all__ = ["crossing_orders", "docked_constants", "insert_docked"]

# Small graphs also try random starting orders: up to _RESTARTS of them, fewer as the graph
# (dummies included) grows, none from _RESTART_BUDGET nodes up.
_RESTART_BUDGET = 16_000
_RESTARTS = 7


def docked_constants(
    graph: Graph, proper: Proper, preds: list[list[int]]
) -> dict[int, tuple[int, int, int]]:
    """Side leaves to place next to a partner: ``{leaf: (partner, op, operand rank)}``.

    Side leaves are constants, module parameters and buffers (:func:`side_leaves`). The partner
    is the op's first other operand in the leaf's layer that is not a side leaf (a value, an input
    or the dummy node of a long edge): the activation of ``linear(x, W, b)``. A leaf that feeds an
    op without such an operand has no partner and is ordered like any other node.

    A leaf that also starts a long edge (a weight shared by ops in several layers: a recurrent
    cell, tied weights) is not docked either, and is ordered with its edges: docked leaves and
    their edges are left out of the crossing reduction, so the dummies of its long edges would be
    ordered without their source, on both sides of the main path and among another leaf's, and
    pulling those lines apart would push each later use further across (a staircase).
    """
    n = proper.n_real
    sa, sb = proper.seg_a.tolist(), proper.seg_b.tolist()
    seg_in: dict[int, list[int]] = {}
    first_out: dict[int, int] = {}
    shared: set[int] = set()
    layer = proper.layer
    for a, b in zip(sa, sb):
        if b >= n and a < n:
            shared.add(a)
        if b < n:
            seg_in.setdefault(b, []).append(a)
            # the first op in the very next layer: where a leaf is docked
            if a < n and a not in first_out and layer[b] == layer[a] + 1:
                first_out[a] = b
    side = side_leaves(graph, preds)
    docked: dict[int, tuple[int, int, int]] = {}
    for c in range(n):
        if not side[c] or c not in first_out or c in shared:
            continue
        op = first_out[c]
        ins = seg_in.get(op, [])
        # operand order of the op = order of its in-segments (edges are sorted by operand index)
        partners = [a for a in ins if a != c and not (a < n and side[a])]
        if partners:
            rank = ins.index(c) - ins.index(partners[0])
            docked[c] = (partners[0], op, rank)
    return docked


def _layer_lists(proper: Proper, keep: np.ndarray, key: np.ndarray) -> list[np.ndarray]:
    """Nodes in ``keep`` grouped by layer, each group sorted by ``key``."""
    import numpy as np

    nodes = np.flatnonzero(keep)
    srt = nodes[np.lexsort((nodes, key[nodes], proper.layer[nodes]))]
    n_layers = int(proper.layer.max()) + 1
    bounds = np.searchsorted(proper.layer[srt], np.arange(n_layers + 1))
    return [srt[bounds[i] : bounds[i + 1]] for i in range(n_layers)]


def crossing_orders(
    proper: Proper,
    docked: dict[int, tuple[int, int, int]],
    topo: list[int],
    seed: int,
    max_sweeps: int | None,
) -> list[list[np.ndarray]]:
    """Crossing reduction: candidate orders of the nodes within each layer.

    One candidate from the deterministic start (topological order), plus one per seeded random
    restart on small graphs; docked constants are left out.
    """
    import numpy as np

    size = proper.size
    keep = np.ones(size, dtype=bool)
    keep[list(docked)] = False
    seg_keep = keep[proper.seg_a] & keep[proper.seg_b]
    sa, sb = proper.seg_a[seg_keep], proper.seg_b[seg_keep]
    rank = np.empty(size, dtype=np.float64)
    rank[: proper.n_real][np.array(topo, dtype=np.int64)] = np.arange(proper.n_real)
    # dummies start right after their edge's source, in edge order
    rank[proper.n_real :] = rank[proper.origin[proper.n_real :]] + 0.5
    sweeper = _Sweeper(proper, sa, sb)
    if max_sweeps is None:
        max_sweeps = 40 if size <= 5_000 else 24 if size <= 30_000 else 12 if size <= 100_000 else 8
    starts = [_layer_lists(proper, keep, rank)]
    restarts = min(_RESTARTS, _RESTART_BUDGET // size) if max_sweeps > 0 else 0
    if restarts:
        # small graphs: random restarts are cheap and often end with fewer crossings
        rng = np.random.default_rng(seed)
        starts += [
            _layer_lists(proper, keep, rng.permutation(size).astype(np.float64))
            for _ in range(restarts)
        ]
    found: list[list[np.ndarray]] = []
    for start in starts:
        order, crossings = sweeper.run(start, max_sweeps)
        if size <= 3_000 and max_sweeps > 0:
            order = sweeper.transpose(order)
        found.append(order)
        if crossings == 0:
            break
    return found


class _Sweeper:
    """Barycenter / median sweeps over a fixed layered graph, vectorised per layer."""

    def __init__(self, proper: Proper, sa: np.ndarray, sb: np.ndarray) -> None:
        import numpy as np

        self.proper = proper
        self.sa, self.sb = sa, sb
        self.n_layers = int(proper.layer.max()) + 1
        lb = proper.layer[sb]
        down = np.argsort(lb, kind="stable")  # segments grouped by their lower (later) layer
        self.d_a, self.d_b = sa[down], sb[down]
        self.d_bounds = np.searchsorted(lb[down], np.arange(self.n_layers + 1))
        la = proper.layer[sa]
        up = np.argsort(la, kind="stable")
        self.u_a, self.u_b = sa[up], sb[up]
        self.u_bounds = np.searchsorted(la[up], np.arange(self.n_layers + 1))
        self.pos = np.zeros(proper.size, dtype=np.int64)

    def _set(self, order: list[np.ndarray]) -> None:
        import numpy as np

        for nodes in order:
            self.pos[nodes] = np.arange(len(nodes))

    def crossings(self, order: list[np.ndarray]) -> int:
        self._set(order)
        return segment_crossings(self.proper.layer[self.sa], self.pos[self.sa], self.pos[self.sb])

    def _sort_layer(
        self, nodes: np.ndarray, mine: np.ndarray, other: np.ndarray, median: bool
    ) -> np.ndarray:
        import numpy as np

        m = len(nodes)
        key = self.pos[mine]
        val = self.pos[other].astype(np.float64)
        cnt = np.bincount(key, minlength=m)
        if median:
            srt = np.lexsort((val, key))
            val_s = val[srt]
            start = np.cumsum(cnt) - cnt
            has = cnt > 0
            lo = val_s[(start + (cnt - 1) // 2)[has]]
            hi = val_s[(start + cnt // 2)[has]]
            score = np.arange(m, dtype=np.float64)
            score[has] = (lo + hi) / 2
        else:
            total = np.bincount(key, weights=val, minlength=m)
            score = np.where(cnt > 0, total / np.maximum(cnt, 1), np.arange(m, dtype=np.float64))
        perm = np.argsort(score, kind="stable")
        new = nodes[perm]
        self.pos[new] = np.arange(m)
        return new

    def sweep(self, order: list[np.ndarray], down: bool, median: bool) -> None:
        layers = range(1, self.n_layers) if down else range(self.n_layers - 2, -1, -1)
        for li in layers:
            nodes = order[li]
            if len(nodes) < 2:
                continue
            if down:
                s, e = self.d_bounds[li], self.d_bounds[li + 1]
                mine, other = self.d_b[s:e], self.d_a[s:e]
            else:
                s, e = self.u_bounds[li], self.u_bounds[li + 1]
                mine, other = self.u_a[s:e], self.u_b[s:e]
            if len(mine) == 0:
                continue
            order[li] = self._sort_layer(nodes, mine, other, median)

    def run(self, start: list[np.ndarray], max_sweeps: int) -> tuple[list[np.ndarray], int]:
        """Barycenter sweeps (fast global moves), then median sweeps from the best order so far.

        Each phase stops after ``patience`` sweeps without a new best; the best order wins.
        """
        best = ([nodes.copy() for nodes in start], self.crossings(start))
        patience = 4
        done = 0
        for median in (False, True):
            order = [nodes.copy() for nodes in best[0]]
            stale = 0
            budget = max_sweeps - done if median else (max_sweeps + 1) // 2
            for k in range(budget):
                if best[1] == 0 or stale >= patience:
                    break
                done += 1
                self._set(order)
                self.sweep(order, down=k % 2 == 0, median=median)
                c = self.crossings(order)
                if c < best[1]:
                    best, stale = ([nodes.copy() for nodes in order], c), 0
                else:
                    stale += 1
        return best

    def transpose(self, order: list[np.ndarray]) -> list[np.ndarray]:
        """Swap neighbours within a layer while that lowers the crossings (small graphs only)."""
        order = [nodes.copy() for nodes in order]
        self._set(order)
        up_nb: dict[int, list[int]] = {}
        down_nb: dict[int, list[int]] = {}
        for a, b in zip(self.sa.tolist(), self.sb.tolist()):
            down_nb.setdefault(a, []).append(b)
            up_nb.setdefault(b, []).append(a)
        pos: list[int] = self.pos.tolist()

        def cross(u: int, v: int) -> int:
            # crossings among the edges of u and v when u is placed before v
            c = 0
            for nb in (up_nb, down_nb):
                pu, pv = nb.get(u, ()), nb.get(v, ())
                for i in pu:
                    pi = pos[i]
                    for j in pv:
                        if pos[j] < pi:
                            c += 1
            return c

        improved, rounds = True, 0
        while improved and rounds < 20:
            improved, rounds = False, rounds + 1
            for li, nodes in enumerate(order):
                lst = nodes.tolist()
                for i in range(len(lst) - 1):
                    u, v = lst[i], lst[i + 1]
                    if cross(v, u) < cross(u, v):
                        lst[i], lst[i + 1] = v, u
                        pos[v], pos[u] = i, i + 1
                        improved = True
                order[li] = _np_array(lst)
        return order


def _np_array(values: list[int]) -> np.ndarray:
    import numpy as np

    return np.array(values, dtype=np.int64)


def insert_docked(
    proper: Proper, order: list[np.ndarray], docked: dict[int, tuple[int, int, int]]
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Put each docked constant next to its partner, on the side where it crosses nothing.

    Returns the new order and, for every node, its anchor (the partner for a docked constant,
    itself otherwise) and its offset from the anchor in the order (negative: before), so that
    later re-sorting can keep each group together.
    """
    import numpy as np

    anchor = np.arange(proper.size, dtype=np.int64)
    offset = np.zeros(proper.size, dtype=np.int64)
    if not docked:
        return order, anchor, offset
    pos = np.zeros(proper.size, dtype=np.int64)
    for nodes in order:
        pos[nodes] = np.arange(len(nodes))
    succ: dict[int, list[int]] = {}
    for a, b in zip(proper.seg_a.tolist(), proper.seg_b.tolist()):
        succ.setdefault(a, []).append(b)
    before: dict[int, list[tuple[int, int]]] = {}
    after: dict[int, list[tuple[int, int]]] = {}
    groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for c, (partner, op, rank) in sorted(docked.items()):
        groups.setdefault((partner, op), []).append((rank, c))
    for (partner, op), group in groups.items():
        others = [int(pos[w]) for w in succ.get(partner, []) if w != op]
        above = sum(1 for p in others if p < pos[op])
        below = sum(1 for p in others if p > pos[op])
        group.sort()
        fan = _fan_side(proper, partner, succ, pos)
        if fan is not None:
            # the partner is the dummy of a long edge whose source feeds other ops, all on one
            # side: the edges fan out from the source right there, so a leaf on that side
            # would sit between two lines that have only just parted. All go on the other,
            # the first operand (a weight: the widest box, as a rule) farthest out, so that the
            # edges of the others do not pass it on their way to the op
            group.reverse()
            sides = [fan] * len(group)
        elif len(group) == 1:
            # the partner's other edges leave toward `above`/`below`: stay out of their way
            first = group[0][0] < 0 if above == below else below > above
            sides = [first]
        else:
            # several side operands (weight, bias, ...) go around the partner in turn, so that
            # the op stays level with its partner: the main data path runs straight
            start = True if above == below else below > above
            sides = [start == (i % 2 == 0) for i in range(len(group))]
        for (rank, c), first in zip(group, sides):
            # `before` lists are kept farthest first, `after` lists nearest first
            if first:
                before.setdefault(partner, []).insert(0, (rank, c))
            else:
                after.setdefault(partner, []).append((rank, c))
    for partner, items in before.items():
        for i, (_, c) in enumerate(items):
            anchor[c], offset[c] = partner, i - len(items)
    for partner, items in after.items():
        for i, (_, c) in enumerate(items):
            anchor[c], offset[c] = partner, i + 1
    touched = {int(proper.layer[p]) for p in list(before) + list(after)}
    out = list(order)
    for li in sorted(touched):
        lst: list[int] = []
        for v in order[li].tolist():
            lst.extend(c for _, c in before.get(v, []))
            lst.append(v)
            lst.extend(c for _, c in after.get(v, []))
        out[li] = np.array(lst, dtype=np.int64)
    return out, anchor, offset


def _fan_side(
    proper: Proper, partner: int, succ: dict[int, list[int]], pos: np.ndarray
) -> bool | None:
    """For a dummy ``partner`` right after its edge's source: ``True`` when the source's other
    edges all leave below the dummy in the order (the leaves go before it), ``False`` when they
    all leave above it, ``None`` otherwise (a real partner, no other edges, or both sides)."""
    if partner < proper.n_real:
        return None
    source = int(proper.origin[partner])
    if partner not in succ.get(source, ()):
        return None
    others = [int(pos[w]) for w in succ[source] if w != partner]
    if not others:
        return None
    if all(p > pos[partner] for p in others):
        return True
    if all(p < pos[partner] for p in others):
        return False
    return None
