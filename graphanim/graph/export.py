"""Exports of a graph: DOT source text and a networkx multigraph."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .text import dot_escape, format_tensor

if TYPE_CHECKING:  # pragma: no cover - typing only
    import networkx as nx

    from .model import Graph

__all__ = ["to_dot", "to_networkx"]

#: Node fields that attributes must not shadow in the networkx export.
_RESERVED = {"name", "label", "kind", "value", "grad", "shape", "op", "dtype"}


def to_networkx(graph: Graph) -> nx.MultiDiGraph:
    """A ``networkx.MultiDiGraph`` with every node and edge field as attributes.

    A multigraph, because one value can feed the same op twice (``x * x``). Nodes are added in
    ``graph.nodes`` order, edges in ``graph.edges`` order.
    """
    import networkx as nx

    g = nx.MultiDiGraph()
    for n in graph.nodes:
        g.add_node(
            n.id,
            name=n.name,
            label=n.label,
            kind=n.kind,
            value=n.value,
            grad=n.grad,
            shape=n.shape,
            op=n.op,
            dtype=n.dtype,
            **{k: v for k, v in n.attrs.items() if k not in _RESERVED},
        )
    for e in graph.edges:
        g.add_edge(e.src, e.dst, key=e.index, grad=e.grad, index=e.index)
    return g

def to_dot(graph: Graph) -> str:
    """DOT source text of the graph (records with name, value and gradient), deterministic."""
    lines = [
        "digraph graphanim {",
        '  graph [rankdir=LR, fontname="Helvetica"];',
        '  node [fontname="Helvetica", fontsize=11];',
    ]
    for n in graph.nodes:
        if n.kind == "op":
            attrs = f'label="{dot_escape(n.op or n.name)}", shape=ellipse'
        else:
            parts = [dot_escape(n.name)]
            if n.value is not None:
                parts.append(dot_escape(format_tensor(n.value)))
            if n.grad is not None:
                parts.append("grad " + dot_escape(format_tensor(n.grad)))
            attrs = f'label="{{{" | ".join(parts)}}}", shape=record, kind="{n.kind}"'
        lines.append(f"  {n.id} [{attrs}];")
    for e in graph.edges:
        label = f' [label="{dot_escape(format_tensor(e.grad))}"]' if e.grad is not None else ""
        lines.append(f"  {e.src} -> {e.dst}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"
