"""Positions as data: flow directions, user-given dicts checked, layers read back from positions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..graph import Graph

__all__ = ["DIRECTIONS", "Positions", "check_direction", "op_layers", "validated_positions"]

Positions = dict[str, tuple[float, float]]

#: Flow directions: ``"LR"`` (inputs left, outputs right) and ``"TB"`` (inputs top).
DIRECTIONS = ("LR", "TB")


def check_direction(direction: Any) -> str:
    if not isinstance(direction, str) or direction not in DIRECTIONS:
        raise ValueError(
            f"unknown direction {direction!r} (expected one of {list(DIRECTIONS)}: 'LR' puts the "
            "inputs on the left, 'TB' at the top)"
        )
    return direction


def _short_list(items: list[str], limit: int = 10) -> str:
    shown = ", ".join(repr(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def validated_positions(graph: Graph, layout: Mapping[Any, Any]) -> Positions:
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


def op_layers(graph: Graph, positions: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    """Op id -> its layer in a layout: the coordinate along the flow, growing with the flow.

    The flow axis is the one along which most edges run (``x`` for an ``"LR"`` layout, ``y`` for
    ``"TB"``) and its sign makes the coordinate grow from the inputs to the outputs, so this
    reads the layers of any layout (layered, Graphviz or a user's dict) from its positions alone.
    Ops without a position are left out.

    Parameters
    ----------
    graph : Graph
        The graph the positions are for.
    positions : mapping
        ``{node_id: (x, y)}``, as returned by :func:`graphanim.layout.compute_layout`.

    Returns
    -------
    dict
        ``{op_id: layer coordinate}`` in ``graph.ops`` order (for ``"TB"``: ``-y``).

    Examples
    --------
    >>> from graphanim.graph import Edge, Graph, Node
    >>> g = Graph([Node("n0", "x", "x", "input"), Node("n1", "sin", "sin", "op", op="sin"),
    ...            Node("n2", "y", "y", "output")], [Edge("n0", "n1"), Edge("n1", "n2")])
    >>> op_layers(g, {"n0": (0.0, 2.0), "n1": (0.0, 1.0), "n2": (0.0, 0.0)})
    {'n1': -1.0}
    """
    edges = [
        (positions[e.src], positions[e.dst])
        for e in graph.edges
        if e.src in positions and e.dst in positions
    ]
    moves = [sum(1 for a, b in edges if abs(b[k] - a[k]) > 1e-9) for k in (0, 1)]
    axis = 0 if moves[0] >= moves[1] else 1
    sign = 1.0 if sum(b[axis] - a[axis] for a, b in edges) >= 0 else -1.0
    return {
        op.id: sign * float(positions[op.id][axis]) for op in graph.ops if op.id in positions
    }
