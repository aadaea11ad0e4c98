"""The frame builder: what is shown so far while the passes are walked, and the hold frame."""

from __future__ import annotations

from typing import Any

from ..graph import Graph
from .captions import MAX_INLINE, plain_name, value_text
from .model import Frame, Log

__all__ = ["Builder"]


class Builder:
    """Accumulates frames while walking the passes; state only grows (what is shown stays).

    The passes are functions of it: :mod:`~graphanim.frames.forward` and
    :mod:`~graphanim.frames.backward`.
    """

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.frames: list[Frame] = []
        self.edge_index = {id(e): i for i, e in enumerate(graph.edges)}
        self.values = Log()
        self.grads = Log()
        self.edge_grads = Log()
        self.done = Log()
        self.synced = 0  # grads already copied into done
        self.sums: dict[str, str] = {}
        self.expected: dict[str, list[tuple[Any, Any]]] = {}
        self.arrived: set[tuple[str, Any]] = set()
        self.leaves = [n for n in graph.nodes if n.kind != "op" and not graph.in_edges(n)]
        self.step_line: dict[str, str] = {}  # pass -> how it steps, for the title caption

    def add(self, phase: str, caption: str, pass_: str, *, active: tuple[str, ...] = (),
            active_edges: tuple[int, ...] = (), step: int | None = None,
            saved: tuple[str, ...] = (), note: str = "", ops: tuple[str, ...] = ()) -> None:
        self.frames.append(
            Frame(
                index=len(self.frames),
                phase=phase,
                caption=caption,
                active=active,
                active_edges=active_edges,
                values=self.values.snapshot(),
                grads=self.grads.snapshot(),
                edge_grads=self.edge_grads.snapshot(),
                done=self.done.snapshot(skip=active),
                sums=dict(self.sums),
                step=step,
                direction=pass_,
                saved=saved,
                note=note,
                ops=ops,
            )
        )

    def title(self, caption: str, pass_: str) -> str:
        line = self.step_line.get(pass_)
        return f"{caption}\n{line}" if line else caption

    def hold(self, direction: str) -> None:
        g = self.graph
        parts: list[str] = []
        results = [n for n in g.outputs if n.value is not None]
        if results and all(len(value_text(n.value)) <= MAX_INLINE for n in results):
            parts.append(", ".join(f"{plain_name(n)} = {value_text(n.value)}" for n in results))
        if direction != "forward":
            leaves = [n for n in g.inputs.values() if n.grad is not None]
            short = all(len(value_text(n.grad)) <= MAX_INLINE for n in leaves)
            if leaves and len(leaves) <= 6 and short:
                y = plain_name(g.outputs[0]) if len(g.outputs) == 1 else None
                grads = ", ".join(
                    (f"∂{y}/∂{plain_name(n)}" if y else f"grad {plain_name(n)}")
                    + f" = {value_text(n.grad)}"
                    for n in leaves
                )
                parts.append(grads)
            lead = "Backward pass done" if direction == "backward" else "Done"
        else:
            lead = "Forward pass done"
        self.done.update(n.id for n in g.nodes)
        caption = f"{lead}: {chr(10).join(parts)}" if parts else lead
        self.add("hold", caption, "forward" if direction == "forward" else "backward")
