"""The explorer's data: per node and edge when each number appears, per frame what it says.

Everything the browser page needs beyond the picture itself is one JSON object built here. Its
size is O(nodes + edges + frames): a node stores the frames at which its value, its gradient or
its "done" state switch on or off, never one entry per frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..backends.svg import mathtext_to_unicode
from ..frames import Frame
from ..graph import Graph, Node, format_number, format_tensor
from ..modules import module_tree

__all__ = ["MAX_LISTED", "explorer_data", "plain_caption", "tensor_summary"]

#: A tensor with at most this many rows and columns (2-D or less) is listed number by number in
#: the inspector; a larger one is summarised (statistics and a heatmap).
MAX_LISTED = 16
#: The side of the largest heatmap grid sent to the page (bigger tensors are average-pooled).
_HEAT_CELLS = 32

def plain_caption(text: str) -> str:
    """Mathtext turned into plain text, the one rule every text output follows (the SVG's
    labels, the explorer's captions): :func:`graphanim.backends.svg.mathtext_to_unicode`.

    Examples
    --------
    >>> plain_caption(r"y = $\\sigma$(w·x) = 0.5")
    'y = σ(w·x) = 0.5'
    """
    return mathtext_to_unicode(text)


def _finite(x: float) -> float | str:
    """A JSON-safe number: NaN and infinities as text (JSON has no literal for them)."""
    if math.isfinite(x):
        return float(format_number(x, 6))
    return format_number(x)


def tensor_summary(t: Any) -> dict[str, Any] | None:
    """What the inspector shows of a value or gradient (``None`` when there is none).

    ``{"text": ...}`` always (alone for one number); ``"rows"`` (every number, a list of rows)
    for tensors of at most :data:`MAX_LISTED` × :data:`MAX_LISTED`; otherwise ``"stats"`` (min,
    mean, max, std, norm, NaN and inf counts over the finite entries) and ``"heat"`` (a grid of
    at most 32 × 32 cells, 0..255 from min to max, for a heatmap).
    """
    if t is None:
        return None
    import torch

    x = t.detach().to("cpu")
    shape = [int(s) for s in x.shape]
    out: dict[str, Any] = {"text": format_tensor(x)}
    if x.numel() == 1:
        return out
    if not (x.is_floating_point() or x.is_complex()):
        x = x.double()
    if x.is_complex():
        x = x.abs()
    x = x.double()
    if x.dim() <= 2 and all(s <= MAX_LISTED for s in shape):
        grid = x.reshape(1, -1) if x.dim() < 2 else x
        out["rows"] = [[_finite(v) for v in row] for row in grid.tolist()]
        return out
    flat = x.reshape(-1)
    finite = flat[torch.isfinite(flat)]
    stats: dict[str, Any] = {
        "nan": int(torch.isnan(flat).sum()),
        "inf": int(torch.isinf(flat).sum()),
        "count": int(flat.numel()),
    }
    if finite.numel():
        stats.update(
            min=_finite(float(finite.min())), mean=_finite(float(finite.mean())),
            max=_finite(float(finite.max())),
            std=_finite(float(finite.std())) if finite.numel() > 1 else 0.0,
            norm=_finite(float(finite.norm())),
        )
    out["stats"] = stats
    out["heat"] = _heat(x, finite)
    return out


def _heat(x: Any, finite: Any) -> list[list[int]]:
    """``x`` as a grid of at most 32 × 32 cells scaled to 0..255 (NaN/inf cells are -1)."""
    import torch

    grid = x.reshape(-1, x.shape[-1]) if x.dim() >= 2 else x.reshape(1, -1)
    rows, cols = grid.shape
    r, c = min(rows, _HEAT_CELLS), min(cols, _HEAT_CELLS)
    bad = ~torch.isfinite(grid)
    clean = torch.where(bad, torch.zeros_like(grid), grid)
    pooled = torch.nn.functional.adaptive_avg_pool2d(clean[None, None], (r, c))[0, 0]
    bad_cells = torch.nn.functional.adaptive_max_pool2d(bad.double()[None, None], (r, c))[0, 0]
    lo = float(finite.min()) if finite.numel() else 0.0
    hi = float(finite.max()) if finite.numel() else 0.0
    span = hi - lo or 1.0
    scaled = ((pooled - lo) / span * 255).round().clamp(0, 255).int()
    scaled = torch.where(bad_cells > 0, torch.full_like(scaled, -1), scaled)
    return [[int(v) for v in row] for row in scaled.tolist()]


class _Tracker:
    """Follows one read-only set through the frames and records where each member switches.

    What a frame shows mostly grows by the step's active ids, so a frame is checked against its
    active ids only, unless its size says something else changed (then it is scanned whole);
    title and hold frames and every change of phase are scanned whole. The result is exact and
    costs O(frames + members) instead of O(frames × nodes) for the usual frames.
    """

    def __init__(self, universe: Sequence[Any]) -> None:
        self.universe = universe
        self.on: set[Any] = set()
        self.toggles: dict[Any, list[int]] = {}

    def _flip(self, key: Any, index: int) -> None:
        self.toggles.setdefault(key, []).append(index)

    def update(self, index: int, shown: Any, candidates: Sequence[Any], whole: bool) -> None:
        if not whole:
            for key in candidates:
                if (key in shown) != (key in self.on):
                    (self.on.discard if key in self.on else self.on.add)(key)
                    self._flip(key, index)
            if len(shown) == len(self.on):
                return
        now = {key for key in self.universe if key in shown}
        for key in sorted(now ^ self.on, key=self._rank):
            self._flip(key, index)
        self.on = now

    def _rank(self, key: Any) -> Any:
        return (str(type(key)), key)


def _node_entry(graph: Graph, node: Node, why: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": node.id, "name": node.name, "kind": node.kind}
    for key, val in (("op", node.op), ("shape", list(node.shape)), ("dtype", node.dtype),
                     ("module", node.attrs.get("module"))):
        if val:
            entry[key] = val
    if not node.is_op:
        for key, t in (("value", node.value), ("grad", node.grad)):
            if t is not None:
                entry[key] = tensor_summary(t)
        if node.id in why:
            entry["why"] = why[node.id]
    else:
        saved = [s for s in dict.fromkeys(node.attrs.get("saved") or ()) if s in graph]
        if saved:
            entry["saved"] = [graph.node(s).name for s in saved]
    return entry


#: A chain-rule text longer than this (a long chain's single path) is left to the page, which
#: shows its last step (what flows back along each use) from the edges' gradients.
_WHY_CHARS = 600


def _explanations(graph: Graph, limit: int) -> dict[str, str]:
    """``explain()``'s chain-rule text per value node that has a gradient, on graphs of at most
    ``limit`` such values (each call walks the whole graph); texts too long to read are left
    out (the page then shows the last step of the chain rule)."""
    from ..explain import explain

    out: dict[str, str] = {}
    values = [n for n in graph.nodes if not n.is_op and n.grad is not None]
    whole = len(values) <= limit
    for node in values:
        text = None
        if whole:
            try:
                text = str(explain(graph, node, max_paths=6))
            except (ValueError, KeyError, RuntimeError):  # a value explain cannot reach
                text = None
        if text and len(text) <= _WHY_CHARS:
            out[node.id] = text
    return out


def _frame_toggles(frames: Sequence[Frame], graph: Graph
                   ) -> tuple[dict[str, dict[str, list[int]]], dict[int, list[int]]]:
    """Per node id: the toggles of its value (``v``), gradient (``g``) and done state (``d``);
    per edge index: the toggles of its gradient."""
    ids = [n.id for n in graph.nodes]
    values, grads, done = _Tracker(ids), _Tracker(ids), _Tracker(ids)
    edge_grads = _Tracker(range(len(graph.edges)))
    edges_into: dict[str, list[int]] = {}
    for i, e in enumerate(graph.edges):
        edges_into.setdefault(e.src, []).append(i)
        edges_into.setdefault(e.dst, []).append(i)
    phase: str | None = None
    before: tuple[str, ...] = ()
    for f in frames:
        whole = f.phase in ("title", "hold") or f.phase != phase
        phase = f.phase
        # a step changes what it touches, and what the step before touched (now done)
        here = (*f.active, *f.ops, *f.saved, *f.sums)
        near = list(dict.fromkeys([*here, *before]))
        before = here
        values.update(f.index, f.values, near, whole)
        grads.update(f.index, f.grads, near, whole)
        done.update(f.index, f.done, near, whole)
        near_edges = list(dict.fromkeys([*f.active_edges,
                                         *(i for n in near for i in edges_into.get(n, ()))]))
        edge_grads.update(f.index, f.edge_grads, near_edges, whole)
    nodes = {nid: {k: t.toggles[nid] for k, t in (("v", values), ("g", grads), ("d", done))
                   if nid in t.toggles} for nid in ids}
    return nodes, edge_grads.toggles


def explorer_data(graph: Graph, frames: Sequence[Frame], *, explain_limit: int = 200
                  ) -> dict[str, Any]:
    """The JSON-ready data of an explorer page for ``graph`` stepped through ``frames``.

    Parameters
    ----------
    graph : Graph
        The captured graph (or a collapsed view of it).
    frames : sequence of Frame
        The animation's frames (:func:`graphanim.frames.build_frames`).
    explain_limit : int
        Graphs with at most this many values that have gradients get ``explain()``'s whole
        chain rule for each; bigger ones get its last step (what flows back along each use).

    Returns
    -------
    dict
        ``nodes`` (name, kind, op, shape, dtype, module, value/grad summaries, saved tensors,
        chain-rule text, and the frames at which value/grad/done switch), ``edges`` (source,
        destination, gradient text and the frames at which it shows), ``frames`` (caption, note,
        phase, active ids and edges, sums that change) and ``modules`` (path, class, op ids).
    """
    why = _explanations(graph, explain_limit)
    node_toggles, edge_toggles = _frame_toggles(frames, graph)
    nodes = []
    for node in graph.nodes:
        entry = _node_entry(graph, node, why)
        entry.update(node_toggles[node.id])
        nodes.append(entry)
    edges = []
    for i, e in enumerate(graph.edges):
        entry = {"src": e.src, "dst": e.dst,
                 "grad": None if e.grad is None else format_tensor(e.grad)}
        if i in edge_toggles:
            entry["g"] = edge_toggles[i]
        edges.append(entry)
    out_frames = []
    last_sums: dict[str, str] = {}
    for f in frames:
        item: dict[str, Any] = {"phase": f.phase, "caption": plain_caption(f.caption)}
        if f.note:
            item["note"] = plain_caption(f.note)
        if f.active:
            item["active"] = list(f.active)
        if f.active_edges:
            item["edges"] = list(f.active_edges)
        if f.saved:
            item["saved"] = list(f.saved)
        changed = {k: v for k, v in f.sums.items() if last_sums.get(k) != v}
        gone = [k for k in last_sums if k not in f.sums]
        if changed or gone:
            item["sums"] = {**changed, **dict.fromkeys(gone, "")}
        last_sums = dict(f.sums)
        out_frames.append(item)
    modules = [
        {"path": info.path, "cls": info.cls, "parent": info.parent, "ops": info.ops}
        for path, info in module_tree(graph).items() if path
    ]
    return {"nodes": nodes, "edges": edges, "frames": out_frames, "modules": modules,
            "outputs": [n.id for n in graph.outputs]}
