"""An animation frame as changes to the static picture: per node and edge id, the look it takes
(style, which texts show, highlights), and the caption, as plain data. An animation is one
picture and, per frame, the short list of what differs from the frame before; the raster
compositor redraws exactly those."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..graph import Graph

__all__ = ["Change", "EdgeState", "FrameState", "NodeState", "apply_changes", "changes",
           "first_state", "frame_state"]


class NodeState(NamedTuple):
    """How a node looks in a frame (a tuple: built and compared for every node of every frame)."""

    style: str  # "normal", "active", "done-forward", "done-backward"
    value: bool  # its value text (and heatmap) shows
    grad: bool  # its gradient text shows
    sum: str | None  # the accumulation under it ("2 + 3 = 5"), if any
    saved: bool  # its value is a saved tensor of the active backward step


class EdgeState(NamedTuple):
    """How an edge looks in a frame."""

    active: bool  # drawn thick in the pass colour
    grad: bool  # its gradient label shows
    direction: str | None  # the pass of an active edge ("forward", "backward")


@dataclass(frozen=True)
class FrameState:
    """Everything that can change between frames."""

    nodes: tuple[NodeState, ...]  # in graph order
    edges: tuple[EdgeState, ...]
    caption: tuple[str, str]  # caption and note
    phase: str  # "Forward pass", "Backward pass" or ""
    direction: str  # the frame's pass


@dataclass(frozen=True)
class Change:
    """One element taking a new look: ``kind`` is ``"node"`` (``id`` the node id), ``"edge"``
    (``id`` ``"e<k>"`` for edge ``k``), ``"caption"`` or ``"phase"``; ``state`` its new
    :class:`NodeState` / :class:`EdgeState`, the ``(caption, note)`` pair or the phase text."""

    kind: str
    id: str
    state: Any


#: builds a state tuple without the named tuple's Python-level constructor: every frame makes
#: one per node and edge
_new = tuple.__new__


def first_state(graph: Graph, roles: Sequence[str]) -> FrameState:
    """The look before any frame: plain nodes with only the constants' values, nothing active."""
    nodes = tuple(NodeState("normal", role == "constant", False, None, False) for role in roles)
    edges = (EdgeState(False, False, None),) * len(graph.edges)
    return FrameState(nodes, edges, ("", ""), "", "forward")


def frame_state(graph: Graph, roles: Sequence[str], frame: Any) -> FrameState:
    """The look of every node and edge in ``frame`` (a :class:`graphanim.frames.Frame`);
    ``roles`` are the nodes' roles in graph order (a constant always shows its value)."""
    direction = getattr(frame, "direction", None) or (
        "backward" if frame.phase == "backward" else "forward")
    active = set(frame.active)
    saved = set(getattr(frame, "saved", ()))
    nodes = []
    for n, role in zip(graph.nodes, roles):
        nid = n.id
        if nid in active:
            style = "active"
        elif nid in frame.done:
            style = "done-" + direction
        else:
            style = "normal"
        nodes.append(_new(NodeState, (style, nid in frame.values or role == "constant",
                                      nid in frame.grads, frame.sums.get(nid), nid in saved)))
    act_edges = set(frame.active_edges)
    edges = tuple(_new(EdgeState, (k in act_edges, k in frame.edge_grads,
                                   direction if k in act_edges else None))
                  for k in range(len(graph.edges)))
    phase = "" if frame.phase == "title" else {
        "forward": "Forward pass", "backward": "Backward pass"}.get(direction, "")
    return FrameState(tuple(nodes), edges, (frame.caption, getattr(frame, "note", "")), phase,
                      direction)


def changes(graph: Graph, old: FrameState, new: FrameState) -> list[Change]:
    """What differs from ``old`` to ``new``: nodes in graph order, then edges, the caption and
    the phase."""
    out = [Change("node", n.id, b)
           for n, a, b in zip(graph.nodes, old.nodes, new.nodes) if a != b]
    out += [Change("edge", f"e{k}", b)
            for k, (a, b) in enumerate(zip(old.edges, new.edges)) if a != b]
    if old.caption != new.caption:
        out.append(Change("caption", "caption", new.caption))
    if old.phase != new.phase:
        out.append(Change("phase", "phase", new.phase))
    return out


def apply_changes(graph: Graph, state: FrameState, todo: Sequence[Change], direction: str,
                  index: Mapping[str, int] | None = None) -> FrameState:
    """``state`` with the changes ``todo`` made (the inverse of :func:`changes`); ``index``
    maps node ids to their position in ``graph.nodes`` (made here when not given)."""
    nodes, edges = list(state.nodes), list(state.edges)
    caption, phase = state.caption, state.phase
    if index is None:
        index = {n.id: i for i, n in enumerate(graph.nodes)}
    for ch in todo:
        if ch.kind == "node":
            nodes[index[ch.id]] = ch.state
        elif ch.kind == "edge":
            edges[int(ch.id[1:])] = ch.state
        elif ch.kind == "caption":
            caption = ch.state
        else:
            phase = ch.state
    return FrameState(tuple(nodes), tuple(edges), caption, phase, direction)
