"""The embedded layered (Sugiyama-style) layout: its pipeline from the graph to positions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .coordinates import coordinates
from .layering import assign_layers
from .leaves import fan_leaves, movable_leaves
from .ordering import crossing_orders, docked_constants, insert_docked
from .positions import Positions, check_direction
from .proper import Proper
from .structure import adjacency, side_leaves, structure

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

    from ..graph import Graph

__all__ = ["layered_layout"]


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
        ``{node_id: (x, y)}``; units: 1.0 is one layer step and one slot (see
        :mod:`graphanim.layout`).

    Raises
    ------
    ValueError
        For an unknown direction or a graph with a cycle.
    """

    check_direction(direction)
    _check_options(seed, max_sweeps)
    if not graph.nodes:
        return {}
    ids, layer, across = _place(graph, seed, max_sweeps)
    return _oriented(ids, layer.astype(float), across, direction)


def _check_options(seed: Any, max_sweeps: Any) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(
            f"seed must be an integer (it makes the layout reproducible), got {seed!r}"
        )
    if max_sweeps is not None and (not isinstance(max_sweeps, int) or max_sweeps < 0):
        raise ValueError(f"max_sweeps must be a non-negative integer or None, got {max_sweeps!r}")


def _place(
    graph: Graph, seed: int, max_sweeps: int | None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Node ids, their layers and their coordinates across the layers (steps 1 to 5)."""
    import numpy as np

    ids, src, dst, topo = structure(graph)
    n = len(ids)
    preds, succs = adjacency(n, src, dst)
    layer = np.array(assign_layers(graph, preds, succs, topo), dtype=np.int64)
    proper = Proper(n, layer, src, dst)
    docked = docked_constants(graph, proper, preds)
    side = side_leaves(graph, preds)
    leaves = movable_leaves(proper, side)
    fans = fan_leaves(proper, side)
    coord, best = np.zeros(proper.size), -1
    for order in crossing_orders(proper, docked, topo, seed, max_sweeps):
        y, crossings = coordinates(
            proper, *insert_docked(proper, order, docked), leaves=leaves, fans=fans
        )
        if best < 0 or crossings < best:
            coord, best = y, crossings
    return ids, layer, coord[:n]


def _oriented(ids: list[str], flow: np.ndarray, across: np.ndarray, direction: str) -> Positions:
    """Layer and cross coordinates as ``{id: (x, y)}`` in the units of :mod:`graphanim.layout`."""
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
