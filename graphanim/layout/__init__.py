"""Node positions: the embedded layered (Sugiyama-style) layout, the Graphviz one, user dicts.

Every layout is a pure function ``graph -> {node_id: (x, y)}``: the same graph gives the same
positions on every machine, and one layout serves every picture and every animation frame.

Units (shared by all layouts, so that the renderer can scale them): ``1.0`` is one layer step along
the flow (horizontally for ``direction="LR"``, vertically for ``"TB"``) and one slot across it;
two nodes of the same layer are at least one slot apart. Coordinates start at 0. For ``"LR"`` the
inputs are at ``x = 0`` and the flow runs to growing ``x``; within a layer the first node in order
is at the top (largest ``y``). For ``"TB"`` the inputs are at the top (largest ``y``), the flow runs
to decreasing ``y`` and the first node in order is on the left.

One job per module: :mod:`~graphanim.layout.compute` (the layout choice),
:mod:`~graphanim.layout.positions` (directions, user dicts, layers read from positions),
:mod:`~graphanim.layout.layered` (the embedded layout's pipeline) with its steps
:mod:`~graphanim.layout.structure` (the graph as arrays), :mod:`~graphanim.layout.layering`
(layers, module-aware), :mod:`~graphanim.layout.proper` (dummy nodes),
:mod:`~graphanim.layout.ordering` (crossing reduction, docked constants),
:mod:`~graphanim.layout.coordinates` (placement across the layers) and
:mod:`~graphanim.layout.leaves` (side leaves kept off long edges);
:mod:`~graphanim.layout.crossings` (the crossing counter) and :mod:`~graphanim.layout.dot`
(Graphviz).
"""

from __future__ import annotations

from .compute import LAYOUTS, compute_layout
from .crossings import count_crossings
from .dot import GraphvizNotFound, dot_layout
from .layered import layered_layout
from .positions import DIRECTIONS, Positions, op_layers

__all__ = [
    "DIRECTIONS",
    "LAYOUTS",
    "GraphvizNotFound",
    "Positions",
    "compute_layout",
    "count_crossings",
    "dot_layout",
    "layered_layout",
    "op_layers",
]
