"""Node positions: the embedded layered (Sugiyama-style) layout, the Graphviz one, user dicts.

Every layout is a pure function ``graph -> {node_id: (x, y)}``: the same graph gives the same
positions on every machine, and one layout serves every picture and every animation frame.

Units (shared by all layouts, so that the renderer can scale them): ``1.0`` is one layer step along
the flow (horizontally for ``direction="LR"``, vertically for ``"TB"``) and one slot across it;
two nodes of the same layer are at least one slot apart. Coordinates start at 0. For ``"LR"`` the
inputs are at ``x = 0`` and the flow runs to growing ``x``; within a layer the first node in order
is at the top (largest ``y``). For ``"TB"`` the inputs are at the top (largest ``y``), the flow runs
to decreasing ``y`` and the first node in order is on the left.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

    from .graph import Graph

__all__ = [
    "DIRECTIONS",
    "LAYOUTS",
    "GraphvizNotFound",
    "Positions",
    "compute_layout",
    "count_crossings",
    "dot_layout",
    "layered_layout",
]

Positions = dict[str, tuple[float, float]]

#: Flow directions: ``"LR"`` (inputs left, outputs right) and ``"TB"`` (inputs top).
DIRECTIONS = ("LR", "TB")
#: The names ``compute_layout`` accepts (besides a dict of positions).
LAYOUTS = (None, "layered", "dot")

# Edge weights in coordinate assignment (as in Graphviz): long edges, drawn through chains of
# dummy nodes, get pulled straight harder than ordinary ones.
_W_REAL, _W_END, _W_DUMMY = 1.0, 2.0, 8.0
# Positions are snapped to this grid at the end: a fixed grid hides floating-point noise (same
# bytes on every machine) and keeps the one-slot separation (1.0 is a multiple of the grid).
_GRID = 0.5
# Small graphs also try random starting orders: up to _RESTARTS of them, fewer as the graph
# (dummies included) grows, none from _RESTART_BUDGET nodes up.
_RESTART_BUDGET = 16_000
# Graphs up to this many nodes get the layering with the shortest total edge length.
_SIMPLEX_SIZE = 6_000
_RESTARTS = 7
# Side leaves (parameters, constants) keep at least this many slots from the straight line of a
# long edge that crosses their layer (half a slot: the line runs between two node boxes).
_CLEARANCE = 0.5


class GraphvizNotFound(RuntimeError):
    """``layout="dot"`` was asked for but the Graphviz ``dot`` program (or package) is missing."""


# -- dispatch -------------------------------------------------------------------------------------
def compute_layout(
    graph: Graph, layout: Any = None, *, direction: str = "LR", **kwargs: Any
) -> Positions:
    """Positions of the nodes of ``graph`` for the layout choice ``layout``.

    Parameters
    ----------
    graph : Graph
        The graph to lay out.
    layout : None, "layered", "dot" or dict
        ``None`` or ``"layered"``: :func:`layered_layout` (embedded, needs no system program).
        ``"dot"``: :func:`dot_layout` (Graphviz). A dict ``{node_id: (x, y)}``: used as given
        after checking that every node has a pair of finite numbers.
    direction : {"LR", "TB"}
        Flow direction for computed layouts (ignored for a dict).
    **kwargs
        Passed to the layout function (e.g. ``seed``, ``max_sweeps`` for ``"layered"``).

    Returns
    -------
    dict
        ``{node_id: (x, y)}`` with Python floats, in ``graph.nodes`` order.

    Raises
    ------
    ValueError
        For an unknown layout or direction, or a dict that misses nodes, names unknown ids or holds
        something other than pairs of finite numbers (the message names the offending ids).
    GraphvizNotFound
        For ``"dot"`` when Graphviz is not installed.

    Examples
    --------
    >>> from graphanim.graph import Edge, Graph, Node
    >>> g = Graph([Node("n0", "x", "x", "input"), Node("n1", "sin", "sin", "op", op="sin"),
    ...            Node("n2", "y", "y", "output")], [Edge("n0", "n1"), Edge("n1", "n2")])
    >>> compute_layout(g)
    {'n0': (0.0, 0.0), 'n1': (1.0, 0.0), 'n2': (2.0, 0.0)}
    """
    if isinstance(layout, Mapping):
        if kwargs:
            raise TypeError(
                f"unexpected keyword arguments {sorted(kwargs)} with a dict layout: "
                "options apply to computed layouts (None, 'layered', 'dot') only"
            )
        _check_direction(direction)
        return _validated_positions(graph, layout)
    if layout is None or (isinstance(layout, str) and layout == "layered"):
        return layered_layout(graph, direction=direction, **kwargs)
    if isinstance(layout, str) and layout == "dot":
        return dot_layout(graph, direction=direction, **kwargs)
    raise ValueError(
        f"unknown layout {layout!r} (expected None or 'layered' for the embedded layered layout, "
        "'dot' for Graphviz, or a dict {node_id: (x, y)} of positions)"
    )


def _check_direction(direction: Any) -> str:
    if not isinstance(direction, str) or direction not in DIRECTIONS:
        raise ValueError(
            f"unknown direction {direction!r} (expected one of {list(DIRECTIONS)}: 'LR' puts the "
            "inputs on the left, 'TB' at the top)"
        )
    return direction


def _short_list(items: list[str], limit: int = 10) -> str:
    shown = ", ".join(repr(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _validated_positions(graph: Graph, layout: Mapping[Any, Any]) -> Positions:
    ids = [n.id for n in graph.nodes]
    known = set(ids)
    missing = [i for i in ids if i not in layout]
    unknown = [str(k) for k in layout if k not in known]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"no position for node ids {_short_list(missing)}")
        if unknown:
            parts.append(f"unknown node ids {_short_list(unknown)}")
        hint = "give one (x, y) pair per node id of graph.nodes"
        names = {n.name for n in graph.nodes}
        if unknown and all(k in names for k in unknown):
            hint += " (keys are node ids like 'n0', not names)"
        raise ValueError(f"invalid layout dict: {'; '.join(parts)}; {hint}")
    out: Positions = {}
    bad: list[str] = []
    for i in ids:
        xy = _as_pair(layout[i])
        if xy is None:
            bad.append(f"{i!r}: {layout[i]!r}")
        else:
            out[i] = xy
    if bad:
        raise ValueError(
            f"invalid layout dict: positions must be (x, y) pairs of finite numbers, got "
            f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}"
        )
    return out


def _as_pair(value: Any) -> tuple[float, float] | None:
    if isinstance(value, (str, bytes)):
        return None
    try:
        items = list(value)
    except TypeError:
        return None
    if len(items) != 2:
        return None
    pair = []
    for v in items:
        if isinstance(v, bool):
            return None
        try:
            f = float(v)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(f):
            return None
        pair.append(f)
    return pair[0], pair[1]


# -- graph structure as arrays ---------------------------------------------------------------
def _structure(graph: Graph) -> tuple[list[str], np.ndarray, np.ndarray, list[int]]:
    """Node ids, deduplicated edge arrays (src, dst as indexes) and a topological order.

    Parallel edges (``x * x``) and self loops carry no layout information and are dropped.
    """
    import numpy as np

    ids = [n.id for n in graph.nodes]
    index = {nid: i for i, nid in enumerate(ids)}
    pairs: dict[tuple[int, int], None] = {}
    for e in graph.edges:
        if e.src not in index or e.dst not in index:
            raise ValueError(
                f"edge {e.src!r} -> {e.dst!r} names a node id that is not in the graph"
            )
        s, d = index[e.src], index[e.dst]
        if s != d:
            pairs[(s, d)] = None
    arr = np.array(list(pairs), dtype=np.int64).reshape(-1, 2)
    src, dst = arr[:, 0].copy(), arr[:, 1].copy()
    if bool(np.all(src < dst)):
        topo = list(range(len(ids)))
    else:
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from(range(len(ids)))
        g.add_edges_from(zip(src.tolist(), dst.tolist()))
        try:
            topo = list(nx.lexicographical_topological_sort(g))
        except nx.NetworkXUnfeasible as err:
            cycle = [ids[u] for u, _ in nx.find_cycle(g)]
            raise ValueError(
                f"cannot lay out a graph with a cycle ({' -> '.join(cycle)} -> {cycle[0]}); "
                "computation graphs are acyclic"
            ) from err
    return ids, src, dst, topo


def _adjacency(n: int, src: np.ndarray, dst: np.ndarray) -> tuple[list[list[int]], list[list[int]]]:
    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    for s, d in zip(src.tolist(), dst.tolist()):
        preds[d].append(s)
        succs[s].append(d)
    return preds, succs


def _assign_layers(
    graph: Graph, preds: list[list[int]], succs: list[list[int]], topo: list[int]
) -> list[int]:
    """Layers: the inputs in layer 0, every edge going to a later layer, edges short.

    "Pinned" sources (the inputs: every source that is not a constant or a module parameter) are
    in layer 0. On graphs up to ``_SIMPLEX_SIZE`` nodes the total edge length is then minimised
    exactly (the dual min-cost flow problem, solved by networkx's network simplex), taking the
    leftmost of the optimal layerings. Larger graphs use the longest path from the pinned sources,
    with constants, parameters and whatever is computed only from them (``W -> t -> W^T``) moved
    as late as possible, right before the op they feed.
    """
    n = len(topo)
    params = _parameter_flags(graph)
    attached = [
        not preds[i] and (node.kind == "constant" or params[i])
        for i, node in enumerate(graph.nodes)
    ]
    anchored = [False] * n  # reachable from an input (or any source that is not attached)
    layer = [0] * n
    for v in topo:
        p = preds[v]
        if not p:
            anchored[v] = not attached[v]
            continue
        anchored[v] = any(anchored[u] for u in p)
        layer[v] = max(layer[u] for u in p) + 1
    for v in reversed(topo):
        if not anchored[v] and succs[v]:
            layer[v] = min(layer[w] for w in succs[v]) - 1
    pinned = [v for v in range(n) if not preds[v] and not attached[v]]
    if 1 < n <= _SIMPLEX_SIZE:
        layer = _min_length_layers(preds, pinned, _module_gaps(graph, preds, attached)) or layer
    low = min(layer) if layer else 0
    layer = [x - low for x in layer]
    input_ids = {node.id for node in getattr(graph, "inputs", {}).values()}
    first = {v for v in range(n) if layer[v] == 0 and graph.nodes[v].id in input_ids}
    if first and any(params[v] and layer[v] == 0 for v in range(n)):
        # a module's weights next to the inputs would put the inputs inside the module's box:
        # give the inputs a column of their own
        layer = [x if v in first else x + 1 for v, x in enumerate(layer)]
    return layer


def _parameter_flags(graph: Graph) -> list[bool]:
    """Which nodes are module parameters (``graph.parameters`` or ``attrs["parameter"]``)."""
    param_ids = {node.id for node in getattr(graph, "parameters", {}).values()}
    return [
        node.id in param_ids or bool(getattr(node, "attrs", {}).get("parameter"))
        for node in graph.nodes
    ]


def _side_leaves(graph: Graph, preds: list[list[int]]) -> list[bool]:
    """Sources that are side operands: constants, parameters and buffers, not function inputs.

    A function argument is on the main data path even when it is recorded as a constant (a tensor
    that does not require grad), so it is never a side leaf.
    """
    input_ids = {node.id for node in getattr(graph, "inputs", {}).values()}
    params = _parameter_flags(graph)
    return [
        not preds[i] and node.id not in input_ids and (node.kind == "constant" or params[i])
        for i, node in enumerate(graph.nodes)
    ]


def _module_gaps(
    graph: Graph, preds: list[list[int]], attached: list[bool]
) -> set[tuple[int, int]]:
    """Edges ``u -> op`` to draw two layers long: ``u`` comes from another module than ``op`` and
    ``op`` has docked parameters, which then get a column of their own inside ``op``'s module box
    instead of sharing ``u``'s column (and overlapping the box ``u`` belongs to)."""
    nodes = graph.nodes
    params = _parameter_flags(graph)
    gaps: set[tuple[int, int]] = set()
    for v, node in enumerate(nodes):
        module = node.attrs.get("module") if node.kind == "op" else None
        if not module or not any(params[u] and attached[u] for u in preds[v]):
            continue
        for u in preds[v]:
            if attached[u] or not preds[u]:
                continue
            made_by = [nodes[w].attrs.get("module") for w in preds[u]]
            if all(m != module for m in made_by):
                gaps.add((u, v))
    return gaps


def _min_length_layers(
    preds: list[list[int]], pinned: list[int], gaps: set[tuple[int, int]] | None = None
) -> list[int] | None:
    """Layers minimising the total edge length, ``pinned`` nodes in layer 0 (``None`` on failure).

    The layering LP (minimise the sum of ``l_v - l_u`` over the edges subject to ``l_v - l_u >= 1``
    and ``l >= 0``) is the dual of a min-cost flow problem; networkx's network simplex solves the
    flow, and the layers are the shortest distances in the residual graph (negated), i.e. the
    leftmost optimal layering.
    """
    import networkx as nx

    n = len(preds)
    hub = n  # extra node: an arc hub -> v says l_v >= 0, an arc v -> hub pins v to layer 0
    demand = [0] * n
    g = nx.DiGraph()
    for v in range(n):
        demand[v] += len(preds[v])
        for u in preds[v]:
            demand[u] -= 1
    for v in range(n):
        g.add_node(v, demand=demand[v])
    g.add_node(hub, demand=0)
    for v in range(n):
        for u in preds[v]:
            g.add_edge(u, v, weight=-2 if gaps and (u, v) in gaps else -1)
    for v in range(n):
        g.add_edge(hub, v, weight=0)
    for v in pinned:
        g.add_edge(v, hub, weight=0)
    try:
        _, flow = nx.network_simplex(g)
    except (nx.NetworkXException, ValueError):  # pragma: no cover - defensive
        return None
    residual = nx.DiGraph()
    residual.add_nodes_from(range(n + 1))
    for u, out in flow.items():
        for v, f in out.items():
            w = g[u][v]["weight"]
            residual.add_edge(u, v, weight=w)
            if f > 0:
                residual.add_edge(v, u, weight=-w)
    try:
        dist = nx.single_source_bellman_ford_path_length(residual, hub)
    except nx.NetworkXException:  # pragma: no cover - defensive
        return None
    layer = [-int(dist[v]) for v in range(n)]
    for v in range(n):  # the LP guarantees this; check rather than trust
        if any(layer[v] <= layer[u] for u in preds[v]):
            return None  # pragma: no cover - defensive
    return layer


# -- the layered layout ---------------------------------------------------------------------------
class _Proper:
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
        self.seg_w = np.where(real_a & real_b, _W_REAL, np.where(real_a | real_b, _W_END, _W_DUMMY))
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


def layered_layout(
    graph: Graph,
    *,
    direction: str = "LR",
    seed: int = 0,
    max_sweeps: int | None = None,
) -> Positions:
    """The embedded layered (Sugiyama-style) layout: no system program needed.

    1. **Layers.** The inputs (every source that is not a constant or a module parameter) form
       layer 0 and every edge goes to a later layer. Up to 6,000 nodes the layering with the
       shortest total edge length is used (an exact network-simplex solution, via networkx);
       larger graphs use the longest path from the inputs. Either way a constant or parameter sits
       in the layer just before the op it feeds, not in the input column.
    2. **Dummy nodes** split every edge that spans several layers into one-layer segments.
    3. **Crossing reduction**: alternating down and up sweeps that sort each layer by the
       barycenter, then the median, of its neighbours in the previous layer (vectorised with
       numpy; the order with the fewest crossings is kept; sweeps stop when they stop helping or
       after ``max_sweeps``), then adjacent swaps while they remove crossings (graphs up to 3,000
       nodes with dummies). Small graphs also try a few seeded random starting orders.
    4. A **constant** is placed right next to the other operand of the op it feeds (same layer,
       adjacent in order, one slot away), on the side where its edge crosses nothing. Where that
       operand is a long edge passing by (a module's input, drawn two layers long so that the
       module's weights get a column of their own) and the edge's source feeds other ops on one
       side, the leaves all go on the other side, the first operand farthest out. A leaf that
       feeds ops in later layers too (a weight shared by the steps of a recurrent cell) is
       ordered with its edges like any other node instead.
    5. **Coordinates**: each node moves toward the weighted mean of its neighbours while keeping its
       layer's order and one slot between nodes (vectorised rounds). Long edges are drawn as
       straight lines, so each dummy is pulled onto its edge's line, and further rounds re-sort the
       layers by those pulls, keeping the placement with the fewest crossings of the straight-line
       drawing (see :func:`count_crossings`). Finally positions snap to a half-slot grid, and a
       constant or parameter that a straight long edge would pass over moves across its layer,
       to the nearest place at least half a slot (more for a steep line) off every such line
       where its edge crosses nothing (one docked next to a real operand stays there). A leaf
       whose long edges fan out to ops along one row (a shared weight) moves away from the row
       until those lines, too, keep that room from every node they pass, if it can do so within
       half its longest edge's length and without adding crossings.

    Every step is deterministic: the same graph (and ``seed``) gives the same positions.

    Parameters
    ----------
    graph : Graph
        The graph to lay out (a topological ``graph.nodes`` order is used as is; any other order
        is sorted first).
    direction : {"LR", "TB"}
        ``"LR"``: inputs on the left, outputs on the right (``x`` is the layer). ``"TB"``: inputs
        at the top, outputs at the bottom (``y`` decreases with the layer).
    seed : int
        Seed for the extra random starting orders tried on small graphs (the result is
        deterministic for a given seed).
    max_sweeps : int, optional
        Cap on the crossing-reduction sweeps per starting order. Default: 40 up to 5,000 nodes
        (dummy nodes included), 24 up to 30,000, 12 up to 100,000, 8 beyond, so that 20,000
        nodes take a few seconds. ``0`` turns crossing reduction off.

    Returns
    -------
    dict
        ``{node_id: (x, y)}``; units: 1.0 is one layer step and one slot (see the module
        docstring).

    Raises
    ------
    ValueError
        For an unknown direction or a graph with a cycle.
    """
    import numpy as np

    _check_direction(direction)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(
            f"seed must be an integer (it makes the layout reproducible), got {seed!r}"
        )
    if max_sweeps is not None and (not isinstance(max_sweeps, int) or max_sweeps < 0):
        raise ValueError(f"max_sweeps must be a non-negative integer or None, got {max_sweeps!r}")
    if not graph.nodes:
        return {}
    ids, src, dst, topo = _structure(graph)
    n = len(ids)
    preds, succs = _adjacency(n, src, dst)
    layer = np.array(_assign_layers(graph, preds, succs, topo), dtype=np.int64)
    proper = _Proper(n, layer, src, dst)
    docked = _docked_constants(graph, proper, preds)
    side = _side_leaves(graph, preds)
    leaves = _movable_leaves(proper, side)
    fans = _fan_leaves(proper, side)
    coord, best = np.zeros(proper.size), -1
    for order in _order(proper, docked, topo, seed, max_sweeps):
        y, crossings = _coordinates(
            proper, *_insert_docked(proper, order, docked), leaves=leaves, fans=fans
        )
        if best < 0 or crossings < best:
            coord, best = y, crossings
    flow = layer.astype(float)
    across = coord[:n]
    out: Positions = {}
    if direction == "LR":
        ys = across.max() - across
        for i, nid in enumerate(ids):
            out[nid] = (float(flow[i]), float(ys[i]))
    else:
        ys = flow.max() - flow
        xs = across - across.min()
        for i, nid in enumerate(ids):
            out[nid] = (float(xs[i]), float(ys[i]))
    return out


def _docked_constants(
    graph: Graph, proper: _Proper, preds: list[list[int]]
) -> dict[int, tuple[int, int, int]]:
    """Side leaves to place next to a partner: ``{leaf: (partner, op, operand rank)}``.

    Side leaves are constants, module parameters and buffers (:func:`_side_leaves`). The partner
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
    side = _side_leaves(graph, preds)
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


def _layer_lists(proper: _Proper, keep: np.ndarray, key: np.ndarray) -> list[np.ndarray]:
    """Nodes in ``keep`` grouped by layer, each group sorted by ``key``."""
    import numpy as np

    nodes = np.flatnonzero(keep)
    srt = nodes[np.lexsort((nodes, key[nodes], proper.layer[nodes]))]
    n_layers = int(proper.layer.max()) + 1
    bounds = np.searchsorted(proper.layer[srt], np.arange(n_layers + 1))
    return [srt[bounds[i] : bounds[i + 1]] for i in range(n_layers)]


def _order(
    proper: _Proper,
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

    def __init__(self, proper: _Proper, sa: np.ndarray, sb: np.ndarray) -> None:
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
        return _segment_crossings(self.proper.layer[self.sa], self.pos[self.sa], self.pos[self.sb])

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


def _insert_docked(
    proper: _Proper, order: list[np.ndarray], docked: dict[int, tuple[int, int, int]]
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
    proper: _Proper, partner: int, succ: dict[int, list[int]], pos: np.ndarray
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


def _grouped_cummax(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running maximum that restarts at each group (``group`` is non-decreasing)."""
    import numpy as np

    if len(values) == 0:
        return values
    span = float(values.max() - values.min()) + 1.0
    shifted = values + group * span
    return np.maximum.accumulate(shifted) - group * span


def _straight(proper: _Proper, y: np.ndarray) -> np.ndarray:
    """``y`` with every dummy moved onto the straight line between its edge's end points."""
    import numpy as np

    out = y.copy()
    d = np.arange(proper.n_real, proper.size)
    if len(d):
        t = proper.frac[d]
        out[d] = (1 - t) * y[proper.origin[d]] + t * y[proper.end[d]]
    return out


def _straight_crossings(proper: _Proper, y: np.ndarray) -> int:
    """Crossings of the straight-line drawing whose real nodes are at ``y``."""
    yy = _straight(proper, y)
    return _segment_crossings(proper.layer[proper.seg_a], yy[proper.seg_a], yy[proper.seg_b])


def _coordinates(
    proper: _Proper,
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

    size = proper.size
    flat = np.concatenate(order)
    grp = proper.layer[flat].astype(np.float64)
    counts = np.array([len(nodes) for nodes in order])
    local = np.arange(len(flat)) - np.repeat(np.cumsum(counts) - counts, counts)
    y = np.zeros(size)
    y[flat] = local - np.repeat((counts - 1) / 2.0, counts)
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
    w = np.where(chain, _W_DUMMY, w)
    wsum = np.bincount(sa, weights=w, minlength=size) + np.bincount(sb, weights=w, minlength=size)
    has = wsum > 0
    wsafe = np.where(has, wsum, 1.0)

    def pulled(yy: np.ndarray) -> np.ndarray:
        pull = np.bincount(sa, weights=w * yy[sb], minlength=size) + np.bincount(
            sb, weights=w * yy[sa], minlength=size
        )
        return np.where(has, pull / wsafe, yy)

    glued = np.flatnonzero(offset)

    def _glued(target: np.ndarray) -> np.ndarray:
        # a docked constant wants to sit exactly ``offset`` slots from its partner
        target[glued] = target[anchor[glued]] + offset[glued]
        return target

    # red/black (even/odd layer) updates: plain Jacobi steps oscillate on a layered graph
    parity = proper.layer[flat] % 2
    colours = [parity == 0, parity == 1]
    rounds = 40 if size <= 20_000 else 20 if size <= 200_000 else 10
    for _ in range(rounds):
        for sel in colours:
            nodes = flat[sel]
            if len(nodes) == 0:
                continue
            target = _glued(_straight(proper, pulled(y)))
            y[nodes] = _project(target[nodes], local[sel], grp[sel])
    if refine is None:
        refine = 60 if size <= 20_000 else 10 if size <= 200_000 else 0
    best_y, best_c = y.copy(), _straight_crossings(proper, y)
    node_parity = proper.layer % 2
    stale = 0
    for _ in range(refine):
        if best_c == 0 or stale >= 10:
            break
        for colour in (0, 1):
            target = _glued(_straight(proper, pulled(_straight(proper, y))))
            # layers of the other colour keep their order (their target is their place)
            target = np.where(node_parity == colour, target, y)
            # a docked constant moves with its partner: sort by the anchor's target, keep groups
            a = anchor[flat]
            flat = flat[np.lexsort((offset[flat], a, y[a], target[a], grp))]
            y[flat] = _project(target[flat], local, grp)
        c = _straight_crossings(proper, y)
        if c < best_c:
            best_y, best_c, stale = y.copy(), c, 0
        else:
            stale += 1
    y = _straight(proper, best_y)
    if size <= 20_000:
        level = _level_chains(proper, y, sa[chain], sb[chain], anchor)
        if _straight_crossings(proper, level) <= best_c:
            y = level
    # shift so that the smallest coordinate is 0, then snap to the grid
    y -= y[: proper.n_real].min() if proper.n_real else 0.0
    y = np.round(y / _GRID) * _GRID
    if leaves is not None and size <= 20_000:
        # a leaf docked next to a real operand stays right there (on a line or not)
        y = _clear_lines(proper, y, leaves & ((anchor >= proper.n_real) | (offset == 0)))
    if fans is not None and size <= 20_000:
        y = _lift_fans(proper, y, fans)
    return y, _straight_crossings(proper, y)


def _level_chains(
    proper: _Proper, y: np.ndarray, ca: np.ndarray, cb: np.ndarray, anchor: np.ndarray
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
    ys = _straight(proper, y)
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
    final = _straight(proper, y)
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


def _movable_leaves(proper: _Proper, side: list[bool]) -> np.ndarray:
    """Side leaves (:func:`_side_leaves`) whose edges all end in the very next layer.

    Moving such a leaf across its layer moves no long edge (it starts none), so
    :func:`_clear_lines` may move it off a long edge's line.
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


def _fan_leaves(proper: _Proper, side: list[bool]) -> np.ndarray:
    """Side leaves (:func:`_side_leaves`) that start a long edge: a weight shared by ops in
    several layers, whose edges fan out to all of them (see :func:`_lift_fans`)."""
    import numpy as np

    n = proper.n_real
    ok = np.zeros(proper.size, dtype=bool)
    starts = proper.seg_a[(proper.seg_b >= n) & (proper.seg_a < n)]
    ok[starts] = True
    ok[:n] &= np.array(side, dtype=bool)
    return ok


def _lift_fans(
    proper: _Proper, y: np.ndarray, fans: np.ndarray, clearance: float = _CLEARANCE
) -> np.ndarray:
    """``y`` with each leaf in ``fans`` moved across its layer until its long edges clear nodes.

    The straight lines from one leaf to ops on one row (the uses of a shared weight along a
    recurrent main path) meet that row at a shallow angle, over the nodes just before each op,
    when the leaf sits close to the row. Such a leaf moves to the nearest grid position of its
    layer from where every line of its long edges stays ``clearance`` slots (plus half its
    slope, as in :func:`_clear_lines`) from every real node it passes, the leaf stays one slot
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
        ys = _straight(proper, y)
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
        reach = int(0.5 * float(span.max()) / _GRID)
        ks = np.arange(1, reach + 1) * _GRID
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
            crossings = _straight_crossings(proper, y)
        for q in p[ok].tolist():
            trial = y.copy()
            trial[v] = q
            c = _straight_crossings(proper, trial)
            if c <= crossings:
                y, crossings = trial, c
                break
    return y


def _clear_lines(
    proper: _Proper, y: np.ndarray, leaves: np.ndarray, clearance: float = _CLEARANCE
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
    ys = _straight(proper, y)
    # a steep line crosses a box's width as well: it passes a box's sides half a layer step
    # before and after the box's middle, so it keeps that much more room
    ends = proper.end, proper.origin
    slope = np.abs(y[ends[0]] - y[ends[1]]) / np.maximum(layer[ends[0]] - layer[ends[1]], 1)
    room = clearance + 0.5 * slope
    bad = np.zeros(proper.size, dtype=bool)
    d_layer = layer[n:]
    if not len(d_layer):
        return y
    # leaves on a line: compare each leaf with the dummies of its layer
    cand = np.flatnonzero(leaves)
    if not len(cand):
        return y
    dummies = np.arange(n, proper.size)
    by_layer: dict[int, np.ndarray] = {}
    srt = dummies[np.argsort(d_layer, kind="stable")]
    bounds = np.searchsorted(layer[srt], np.arange(int(layer.max()) + 2))
    for v in cand.tolist():
        li = int(layer[v])
        ds = srt[bounds[li] : bounds[li + 1]]
        if len(ds) and np.any(np.abs(ys[ds] - y[v]) < room[ds] - 1e-9):
            bad[v] = True
            by_layer[li] = ds
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
        step, reach = _GRID, 2.0 * (len(mates) + len(lines)) + 4.0
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


# -- counting crossings ----------------------------------------------------------------------
def _inversions(seq: np.ndarray) -> int:
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


def _segment_crossings(group: np.ndarray, left: np.ndarray, right: np.ndarray) -> int:
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
    return _inversions(dense)


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

    _check_direction(direction)
    pos = _validated_positions(graph, positions)
    if not graph.edges:
        return 0
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
        return 0
    e = np.array(pairs, dtype=np.int64)
    u, v = e[:, 0], e[:, 1]
    flip = node_line[u] > node_line[v]
    u, v = np.where(flip, v, u), np.where(flip, u, v)
    ok = node_line[u] != node_line[v]
    u, v = u[ok], v[ok]
    lu, lv = node_line[u], node_line[v]
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

    q = eps
    y0 = np.round(at(line0) / q)
    y1 = np.round(at(line0 + 1) / q)
    sl = np.round(slope / 1e-9)
    # order just after the left line (ties by slope) and just before the right line
    grp = line0
    srt = np.lexsort((-sl, y1, sl, y0, grp))
    g_s = grp[srt]
    key = np.lexsort((sl[srt] * -1.0, y1[srt], g_s))
    right_rank = np.empty(len(srt), dtype=np.int64)
    gk, yk, sk = g_s[key], y1[srt][key], -sl[srt][key]
    new = np.ones(len(key), dtype=bool)
    new[1:] = (gk[1:] != gk[:-1]) | (yk[1:] != yk[:-1]) | (sk[1:] != sk[:-1])
    right_rank[key] = np.cumsum(new) - 1
    total = _inversions(right_rank)
    # meetings on a line at a point that is not an end point of either edge
    inner = line0 + 1 < lv[edge]
    if inner.any():
        li = line0[inner] + 1
        yi = y1[inner]
        si = sl[inner]
        _, pt_count = np.unique(np.stack([li, yi]), axis=1, return_counts=True)
        _, same_count = np.unique(np.stack([li, yi, si]), axis=1, return_counts=True)
        total += int(
            (pt_count * (pt_count - 1) // 2).sum() - (same_count * (same_count - 1) // 2).sum()
        )
    return int(total)


# -- Graphviz -------------------------------------------------------------------------------------
_INSTALL_HINT = (
    "the Graphviz 'dot' program was not found on PATH; install Graphviz "
    "(Debian/Ubuntu: 'apt-get install graphviz', macOS: 'brew install graphviz', conda: "
    "'conda install graphviz') and the Python package ('pip install graphviz'), or use the "
    "default layout=None (the embedded layered layout), which needs nothing"
)


def _dot_source(graph: Graph, direction: str) -> str:
    ids = [n.id for n in graph.nodes]
    index = {nid: i for i, nid in enumerate(ids)}
    lines = [
        "digraph G {",
        f"  graph [rankdir={direction}, nodesep=0.25, ranksep=0.5, splines=false];",
        '  node [shape=box, width=0.3, height=0.3, fixedsize=true, label=""];',
    ]
    lines.extend(f"  v{i};" for i in range(len(ids)))
    inputs = [index[n.id] for n in graph.inputs.values() if n.id in index]
    if inputs:
        # the graphanim rule "inputs in the first column" holds for dot too
        lines.append("  { rank=min; " + " ".join(f"v{i};" for i in inputs) + " }")
    seen: set[tuple[int, int]] = set()
    for e in graph.edges:
        pair = (index[e.src], index[e.dst])
        if pair[0] != pair[1] and pair not in seen:
            seen.add(pair)
            lines.append(f"  v{pair[0]} -> v{pair[1]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_layout(graph: Graph, *, direction: str = "LR") -> Positions:
    """Positions computed by Graphviz ``dot`` (through the ``graphviz`` package).

    Graphviz sees every node as a 0.3-inch square, the inputs constrained to the first rank, and
    its coordinates are converted to the units of :func:`layered_layout`: ranks become layers
    ``0, 1, ...`` and the cross coordinate is measured in slots (node size plus node spacing).

    Parameters
    ----------
    graph : Graph
        The graph to lay out.
    direction : {"LR", "TB"}
        Flow direction (Graphviz ``rankdir``).

    Returns
    -------
    dict
        ``{node_id: (x, y)}``.

    Raises
    ------
    GraphvizNotFound
        When the ``dot`` program or the ``graphviz`` package is missing (the message says how to
        install them, and that the default ``layout=None`` needs neither).
    RuntimeError
        When ``dot`` fails.
    """
    _check_direction(direction)
    if shutil.which("dot") is None:
        raise GraphvizNotFound(_INSTALL_HINT)
    try:
        import graphviz
    except ImportError as err:
        raise GraphvizNotFound(_INSTALL_HINT) from err
    if not graph.nodes:
        return {}
    source = _dot_source(graph, direction)
    try:
        raw = graphviz.pipe("dot", "plain", source.encode("utf-8"), quiet=True)
    except graphviz.ExecutableNotFound as err:
        raise GraphvizNotFound(_INSTALL_HINT) from err
    except graphviz.CalledProcessError as err:
        raise RuntimeError(f"Graphviz dot failed: {err}") from err
    return _parse_plain(graph, raw.decode("utf-8"), direction)


def _parse_plain(graph: Graph, text: str, direction: str) -> Positions:
    import numpy as np

    n = len(graph.nodes)
    xy = np.full((n, 2), np.nan)
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] == "node" and parts[1].startswith("v"):
            i = int(parts[1][1:])
            xy[i] = (float(parts[2]), float(parts[3]))
    if np.isnan(xy).any():
        raise RuntimeError("Graphviz dot returned no position for some nodes")
    slot = 0.3 + 0.25  # node size + nodesep, in inches (plain output is in inches)
    if direction == "LR":
        rank_axis, cross = xy[:, 0], xy[:, 1]
    else:
        rank_axis, cross = -xy[:, 1], xy[:, 0]
    _, layer = np.unique(np.round(rank_axis, 3), return_inverse=True)
    # dot rounds to whole points, so measure the slot it really used: the tightest gap between
    # two nodes of one rank (it never puts them closer than node size + nodesep)
    srt = np.lexsort((cross, layer))
    gaps = np.diff(cross[srt])[np.diff(layer[srt]) == 0]
    gaps = gaps[gaps > 1e-6]
    if len(gaps):
        slot = float(gaps.min())
    c = cross / slot
    c = np.round((c - c.min()) * 1000) / 1000
    ids = [node.id for node in graph.nodes]
    if direction == "LR":
        return {nid: (float(layer[i]), float(c[i])) for i, nid in enumerate(ids)}
    top = float(layer.max())
    return {nid: (float(c[i]), top - float(layer[i])) for i, nid in enumerate(ids)}
