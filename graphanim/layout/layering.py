"""Layers of the layered layout: inputs first, edges short, module parameters next to their op."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .structure import parameter_flags

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..graph import Graph

__all__ = ["assign_layers"]

# Graphs up to this many nodes get the layering with the shortest total edge length.
_SIMPLEX_SIZE = 6_000


def assign_layers(
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
    params = parameter_flags(graph)
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
    input_ids = {node.id for node in graph.inputs.values()}
    first = {v for v in range(n) if layer[v] == 0 and graph.nodes[v].id in input_ids}
    if first and any(params[v] and layer[v] == 0 for v in range(n)):
        # a module's weights next to the inputs would put the inputs inside the module's box:
        # give the inputs a column of their own
        layer = [x if v in first else x + 1 for v, x in enumerate(layer)]
    return layer


def _module_gaps(
    graph: Graph, preds: list[list[int]], attached: list[bool]
) -> set[tuple[int, int]]:
    """Edges ``u -> op`` to draw two layers long: ``u`` comes from another module than ``op`` and
    ``op`` has docked parameters, which then get a column of their own inside ``op``'s module box
    instead of sharing ``u``'s column (and overlapping the box ``u`` belongs to)."""
    nodes = graph.nodes
    params = parameter_flags(graph)
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
