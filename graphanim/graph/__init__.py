"""The graph model (:mod:`.model`), the text of names and numbers (:mod:`.text`) and the
exports (:mod:`.export`): no torch, no matplotlib."""

from __future__ import annotations

from .export import to_dot, to_networkx
from .model import NODE_KINDS, Edge, Graph, Node, Packer
from .text import dot_escape, format_number, format_tensor, plain_text, valid_text

__all__ = [
    "NODE_KINDS",
    "Edge",
    "Graph",
    "Node",
    "Packer",
    "dot_escape",
    "format_number",
    "format_tensor",
    "plain_text",
    "to_dot",
    "to_networkx",
    "valid_text",
]
