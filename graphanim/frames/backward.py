"""Backward frames: seeds, then each step's chain rule, gradients arriving and sums completed."""

from __future__ import annotations

from typing import Any

from ..graph import Graph, Node
from .builder import Builder
from .captions import (
    backward_clause,
    few_names,
    is_scalar,
    merge_repeats,
    op_kinds,
    op_text,
    plain_name,
    saved_note,
    shown_text,
    sum_text,
    value_text,
)
from .model import Log, dedup
from .steps import Group

__all__ = ["backward_steps", "backward_title"]


def _node_by_id(graph: Graph, nid: str) -> Node | None:
    """The node with id ``nid`` (never a node merely *named* like an id)."""
    if isinstance(graph, Graph):
        return graph._node_or_none(nid)
    return next((n for n in graph.nodes if n.id == nid), None)


def _terms(b: Builder) -> dict[str, list[tuple[Any, Any]]]:
    """Value id -> the gradient terms it sums: ``(key, gradient)`` with key ``"seed"`` for an
    output's seed, else the edge's id; seed first, then its uses in forward order."""
    g = b.graph
    found: dict[str, list[tuple[Any, Any]]] = {}
    for e in g.edges:
        if e.grad is not None and g.node(e.src).kind != "op":
            found.setdefault(e.src, []).append((id(e), e.grad))
    recorded = g.seeds
    for i, out in enumerate(g.outputs):
        if out.grad is None:
            continue
        if out.id not in found:
            seed = out.grad  # nothing else flows into it: its gradient is the seed
        elif i < len(recorded):
            seed = recorded[i]  # an output also used further: seed + contributions
        else:
            continue
        if seed is not None:
            found.setdefault(out.id, []).insert(0, ("seed", seed))
    return found


def _arrive(b: Builder, vid: str, key: Any) -> bool:
    """Record one term arriving at ``vid``; True when this completes a visible sum."""
    b.arrived.add((vid, key))
    mine = b.expected.get(vid, [])
    terms = [t if (vid, k) in b.arrived else None for k, t in mine]
    node = b.graph.node(vid)
    if len(mine) > 1:
        b.sums[vid] = sum_text(terms, node.grad)
    if all(t is not None for t in terms) and node.grad is not None:
        b.grads.add(vid)
        return len(mine) > 1
    return False


def backward_title(b: Builder, after_forward: bool) -> None:
    g = b.graph
    b.values.update(n.id for n in g.nodes if n.kind != "op" and n.value is not None)
    b.done = Log()
    b.synced = 0
    b.expected = _terms(b)
    b.arrived = set()
    # Seeds: known before any op runs backward.
    seeded = [n for n in g.outputs if any(k == "seed" for k, _ in b.expected.get(n.id, []))]
    for n in seeded:
        _arrive(b, n.id, "seed")
    b.done.update(n.id for n in seeded if n.id in b.grads)
    seeds = {n.id: dict(b.expected[n.id])["seed"] for n in seeded}
    lead = "Now the backward pass" if after_forward else "Backward pass"
    if len(seeded) == 1 and is_scalar(seeds[seeded[0].id]) and seeded[0].id in b.grads:
        y = plain_name(seeded[0])
        caption = f"{lead}: start at the output with ∂{y}/∂{y} = {value_text(seeds[seeded[0].id])}"
    elif seeded:
        listed = ", ".join(f"{plain_name(n)}: {shown_text(seeds[n.id])}" for n in seeded)
        caption = f"{lead}: the outputs start with their seed gradients ({listed})"
    else:
        caption = f"{lead}: gradients flow from the outputs back to the inputs"
    if "backward" in b.step_line:
        caption += "\nthen the chain rule runs back to the inputs"
    else:
        caption += "\nthen the chain rule runs op by op, back to the inputs"
    b.add("title", b.title(caption, "backward"), "backward")


def _backward_op(b: Builder, op: Node) -> tuple[list[str], list[str], list[int], list[str]]:
    """Run one op's backward step: clauses of its caption, active nodes and edges, saved."""
    g = b.graph
    ins = g.in_edges(op)
    outs = g.out_edges(op)
    operands = g.predecessors(op)
    outputs = g.successors(op)
    flowing = [e for e in ins if e.grad is not None]
    clauses = merge_repeats([backward_clause(g, op, e, operands, outputs) for e in flowing])
    completed = [e.src for e in flowing if _arrive(b, e.src, id(e))]
    for vid in dedup(completed):
        clauses.append(
            f"all {len(b.expected[vid])} contributions to {plain_name(g.node(vid))} have "
            f"arrived: {b.sums[vid]}"
        )
    for e in ins + outs:
        if e.grad is not None:
            b.edge_grads.add(b.edge_index[id(e)])
    active = [op.id, *(n.id for n in outputs), *(e.src for e in flowing)]
    edges = [b.edge_index[id(e)] for e in outs + flowing]
    if not clauses:
        clauses.append(f"no gradient flows back through {op_text(op)}")
    saved = [sid for sid in op.attrs.get("saved") or () if _node_by_id(g, sid) is not None]
    return clauses, active, edges, saved


def backward_steps(b: Builder, groups: list[Group]) -> None:
    g = b.graph
    for k, group in enumerate(groups):
        clauses: list[str] = []
        active: list[str] = []
        edges: list[int] = []
        saved: list[str] = []
        reached: list[str] = []
        for op in group.ops:
            cl, act, eds, sv = _backward_op(b, op)
            clauses += cl
            active += act
            edges += eds
            saved += sv
            reached += [plain_name(n) for n in g.predecessors(op)]
        header = group.header()
        note = saved_note(g, group.ops[0]) if len(group.ops) == 1 else ""
        if header is None:
            text = "\n".join(clauses)
        elif len(group.ops) == 1:
            text = header + "\n" + "\n".join(clauses)
        else:
            text = (f"{header}: {len(group.ops)} ops run backward ({op_kinds(group.ops)})\n"
                    f"gradients reach {few_names(reached)}")
            if saved:
                note = f"{len(dedup(saved))} saved values are read"
        act_t = dedup(active)
        b.add("backward", text, "backward", active=act_t, active_edges=tuple(edges),
                 step=k, saved=dedup(saved), note=note,
                 ops=tuple(op.id for op in group.ops))
        for op in group.ops:
            b.done.update([op.id, *(n.id for n in g.successors(op))])
        b.done.update(b.grads.items[b.synced:])
        b.synced = len(b.grads.items)
