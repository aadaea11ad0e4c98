"""Forward frames: a title with the inputs, then each step's ops computing their outputs."""

from __future__ import annotations

from ..graph import Node
from .builder import Builder
from .captions import MAX_INLINE, few_names, forward_caption, op_kinds, plain_name, value_text
from .model import dedup
from .steps import Group

__all__ = ["forward_steps", "forward_title"]


def forward_title(b: Builder) -> None:
    g = b.graph
    b.values.update(n.id for n in b.leaves if n.value is not None)
    b.done.update(n.id for n in b.leaves)
    named = [n for n in g.inputs.values() if n.value is not None]
    if named and len(named) <= 6 and all(len(value_text(n.value)) <= MAX_INLINE for n in named):
        given = ", ".join(f"{plain_name(n)} = {value_text(n.value)}" for n in named)
        caption = f"Forward pass: start from {given}\nthen each op computes its output in turn"
    else:
        caption = "Forward pass: values flow from the inputs to the outputs, op by op"
    if "forward" in b.step_line:
        caption = "Forward pass: values flow from the inputs to the outputs"
    b.add("title", b.title(caption, "forward"), "forward")


def _forward_op(b: Builder, op: Node) -> tuple[str, list[str], list[int]]:
    g = b.graph
    ins, outs = g.in_edges(op), g.out_edges(op)
    outputs = g.successors(op)
    b.values.update(n.id for n in outputs if n.value is not None)
    active = [op.id, *(e.src for e in ins), *(n.id for n in outputs)]
    edges = [b.edge_index[id(e)] for e in ins + outs]
    return forward_caption(g, op), active, edges


def forward_steps(b: Builder, groups: list[Group]) -> None:
    g = b.graph
    for k, group in enumerate(groups):
        captions: list[str] = []
        active: list[str] = []
        edges: list[int] = []
        for op in group.ops:
            caption, act, eds = _forward_op(b, op)
            captions.append(caption)
            active += act
            edges += eds
        header = group.header()
        if header is None:
            text = captions[0]
        elif len(group.ops) == 1:
            text = f"{header}\n{captions[0]}"
        else:
            outs = [plain_name(n) for op in group.ops for n in g.successors(op)]
            text = (f"{header}: {len(group.ops)} ops ({op_kinds(group.ops)})\n"
                    f"values appear for {few_names(outs)}")
        act_t = dedup(active)
        b.add("forward", text, "forward", active=act_t, active_edges=tuple(edges),
                 step=k, ops=tuple(op.id for op in group.ops))
        b.done.update(act_t)
