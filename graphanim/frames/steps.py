"""The steps of a pass: one op, one layer or one module run per frame, merged under the cap."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..graph import Graph, Node, plain_text
from .model import AUTO_OP_LIMIT, STEPS

__all__ = ["UNIT_PLURAL", "Group", "auto_step", "cap_groups", "check_step", "pass_groups"]

#: How a caption counts each kind of step.
UNIT_PLURAL = {"op": "ops", "layer": "layers", "module": "module steps"}


@dataclass
class Group:
    """The ops one step (frame) of a pass runs: one op, one layer, one module run, or several
    consecutive ones of those when the frame cap merges them."""

    ops: list[Node]
    unit: str  # "op", "layer" or "module"
    first: int  # 1-based number of the first unit (layers: in flow order)
    last: int
    total: int  # units in the pass
    names: list[str] = field(default_factory=list)  # module steps: "path (Class)" per run

    def header(self) -> str | None:
        lo, hi = min(self.first, self.last), max(self.first, self.last)
        if self.unit == "op":
            return None if lo == hi else f"Ops {lo}–{hi} of {self.total}"
        if self.unit == "layer":
            if lo == hi:
                return f"Layer {lo} of {self.total}"
            return f"Layers {lo}–{hi} of {self.total}"
        if len(self.names) == 1:
            return self.names[0]
        return f"{self.names[0]} … {self.names[-1]} ({len(self.names)} module steps)"


def _merge(groups: list[Group]) -> Group:
    return Group([op for g in groups for op in g.ops], groups[0].unit, groups[0].first,
                  groups[-1].last, groups[0].total, [n for g in groups for n in g.names])


def _op_depths(graph: Graph) -> dict[str, float]:
    """Op id -> longest-path depth from the inputs (a layering when no layout is given)."""
    depth: dict[str, float] = {}
    produced_by: dict[str, str] = {}
    for op in graph.ops:
        d = 0.0
        for e in graph.in_edges(op):
            src_op = produced_by.get(e.src)
            if src_op is not None:
                d = max(d, depth[src_op] + 1.0)
        depth[op.id] = d
        for e in graph.out_edges(op):
            produced_by[e.dst] = op.id
    return depth


def _module_label(graph: Graph, path: str) -> str:
    cls = graph.modules.get(path)
    if not path:
        return f"the root module ({cls})" if cls else "outside any module"
    return f"{plain_text(path)} ({cls})" if cls else plain_text(path)


def pass_groups(graph: Graph, ops: list[Node], step: str, layers: Mapping[str, float] | None,
            backward: bool) -> list[Group]:
    """The steps of one pass over ``ops`` (in the order the pass runs them)."""
    if step == "op":
        return [Group([op], "op", k + 1, k + 1, len(ops)) for k, op in enumerate(ops)]
    if step == "module":
        # one step per run of ops in one module call: two calls of one module (a recurrent
        # cell, a ReLU used twice) are two steps
        runs: list[tuple[tuple[str, Any], list[Node]]] = []
        for op in ops:
            key = (str(op.attrs.get("module") or ""), op.attrs.get("module_call"))
            if runs and runs[-1][0] == key:
                runs[-1][1].append(op)
            else:
                runs.append((key, [op]))
        calls_of: dict[str, set[Any]] = {}  # path -> its calls
        for (path, call), _ in runs:
            if call is not None:
                calls_of.setdefault(path, set()).add(call)
        # path -> call -> its place among that path's calls (call numbers grow in call order)
        rank = {path: {c: i for i, c in enumerate(sorted(held), 1)}
                for path, held in calls_of.items() if len(held) > 1}
        groups = []
        for k, ((path, call), members) in enumerate(runs):
            label = _module_label(graph, path)
            places = rank.get(path)
            if places is not None and call is not None:
                label += f", call {places[call]} of {len(places)}"
            groups.append(Group(members, "module", k + 1, k + 1, len(runs), [label]))
        return groups
    keys = dict(layers) if layers is not None else _op_depths(graph)
    by_key: dict[float, list[Node]] = {}
    for op in ops:
        by_key.setdefault(round(float(keys.get(op.id, 0.0)), 6), []).append(op)
    order = sorted(by_key)
    number = {k: i + 1 for i, k in enumerate(order)}
    if backward:
        order.reverse()
    return [Group(by_key[k], "layer", number[k], number[k], len(number)) for k in order]


def cap_groups(groups: list[Group], chunk: int) -> list[Group]:
    if chunk <= 1:
        return groups
    return [_merge(groups[i:i + chunk]) for i in range(0, len(groups), chunk)]


def check_step(step: Any, max_frames: Any) -> None:
    if step is not None and (not isinstance(step, str) or step not in STEPS):
        raise ValueError(
            f"unknown step {step!r} (expected None for automatic, or one of "
            f"{', '.join(map(repr, STEPS))})"
        )
    if max_frames is not None and (
        isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 5
    ):
        raise ValueError(
            f"max_frames must be an integer of at least 5, or None for no cap; got {max_frames!r}"
        )


def auto_step(graph: Graph) -> str:
    ops = graph.ops
    if len(ops) <= AUTO_OP_LIMIT:
        return "op"
    if any(op.attrs.get("module") for op in ops):
        return "module"
    return "layer"
