"""The layout choice: ``None``/``"layered"``, ``"dot"`` or a dict of positions, to positions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .dot import dot_layout
from .layered import layered_layout
from .positions import Positions, check_direction, validated_positions

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..graph import Graph

__all__ = ["LAYOUTS", "compute_layout"]

#: The names ``compute_layout`` accepts (besides a dict of positions).
LAYOUTS = (None, "layered", "dot")


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
        check_direction(direction)
        return validated_positions(graph, layout)
    if layout is None or (isinstance(layout, str) and layout == "layered"):
        return layered_layout(graph, direction=direction, **kwargs)
    if isinstance(layout, str) and layout == "dot":
        return dot_layout(graph, direction=direction, **kwargs)
    raise ValueError(
        f"unknown layout {layout!r} (expected None or 'layered' for the embedded layered layout, "
        "'dot' for Graphviz, or a dict {node_id: (x, y)} of positions)"
    )
