"""The ``nn.Module`` side of a graph: module tree, calls, collapsing (see
:mod:`graphanim.graph.calls` and :mod:`graphanim.graph.collapse`, where they live)."""

from __future__ import annotations

from .graph.calls import (
    DEFAULT_MAX_OPS,
    DEPTH_CHOICES,
    ModuleInfo,
    call_chains,
    module_level,
    module_tree,
)
from .graph.collapse import CollapsedGraph, at_depth, auto_depth, collapse

__all__ = [
    "DEFAULT_MAX_OPS",
    "DEPTH_CHOICES",
    "CollapsedGraph",
    "ModuleInfo",
    "at_depth",
    "auto_depth",
    "call_chains",
    "collapse",
    "module_level",
    "module_tree",
]

