"""The graph as arrays for the layered layout: indexes, edges, a topological order, side leaves."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

    from ..graph import Graph

__all__ = ["adjacency", "parameter_flags", "side_leaves", "structure"]


def structure(graph: Graph) -> tuple[list[str], np.ndarray, np.ndarray, list[int]]:
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


def adjacency(n: int, src: np.ndarray, dst: np.ndarray) -> tuple[list[list[int]], list[list[int]]]:
    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    for s, d in zip(src.tolist(), dst.tolist()):
        preds[d].append(s)
        succs[s].append(d)
    return preds, succs


def parameter_flags(graph: Graph) -> list[bool]:
    """Which nodes are module parameters (``graph.parameters`` or ``attrs["parameter"]``)."""
    param_ids = {node.id for node in graph.parameters.values()}
    return [
        node.id in param_ids or bool(node.attrs.get("parameter"))
        for node in graph.nodes
    ]


def side_leaves(graph: Graph, preds: list[list[int]]) -> list[bool]:
    """Sources that are side operands: constants, parameters and buffers, not function inputs.

    A function argument is on the main data path even when it is recorded as a constant (a tensor
    that does not require grad), so it is never a side leaf.
    """
    input_ids = {node.id for node in graph.inputs.values()}
    params = parameter_flags(graph)
    return [
        not preds[i] and node.id not in input_ids and (node.kind == "constant" or params[i])
        for i, node in enumerate(graph.nodes)
    ]
