"""What each animation frame shows (active nodes, values, gradients, caption), as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .graph import Edge, Graph, Node, format_number, format_tensor, plain_text

__all__ = ["DIRECTIONS", "PHASES", "Frame", "build_frames"]

#: The directions an animation can play.
DIRECTIONS = ("forward", "backward", "both")
#: The phases a frame can belong to.
PHASES = ("title", "forward", "backward", "hold")


@dataclass(frozen=True)
class Frame:
    """One frame of an animation, as plain data (no drawing).

    Attributes
    ----------
    index : int
        Position of the frame in the animation (0-based).
    phase : str
        ``"title"``, ``"forward"``, ``"backward"`` or ``"hold"``.
    caption : str
        Text shown under the graph: what happens in this step, with numbers (mathtext allowed).
    active : tuple of str
        Node ids highlighted in this step (the op that runs and the values it reads/writes).
    active_edges : tuple of int
        Indexes into ``graph.edges`` highlighted in this step.
    values : frozenset of str
        Ids of value nodes whose forward value is shown.
    grads : frozenset of str
        Ids of value nodes whose gradient is shown.
    edge_grads : frozenset of int
        Indexes into ``graph.edges`` whose gradient contribution is shown.
    done : frozenset of str
        Ids of nodes already processed in this pass (drawn in the "done" style).
    sums : dict
        Node id -> accumulation text shown at a value that sums several contributions
        (``"2 + 3 = 5"``; ``"2 + …"`` while contributions are still missing).
    step : int or None
        Index of the op step within its pass (``None`` for title/hold frames).
    direction : str or None
        The pass this frame belongs to, ``"forward"`` or ``"backward"`` (for a title frame the pass
        it introduces, for the hold frame the last pass shown).
    """

    index: int
    phase: str
    caption: str = ""
    active: tuple[str, ...] = ()
    active_edges: tuple[int, ...] = ()
    values: frozenset[str] = frozenset()
    grads: frozenset[str] = frozenset()
    edge_grads: frozenset[int] = frozenset()
    done: frozenset[str] = frozenset()
    sums: dict[str, str] = field(default_factory=dict)
    step: int | None = None
    direction: str | None = None


# -- captions ---------------------------------------------------------------------------------

#: Op names (torch) shown as an infix operator, with the symbol used in captions.
_INFIX_OPS = {"add": "+", "sub": "−", "mul": "×", "div": "/", "matmul": "@", "mm": "@"}
#: Op labels that already are infix operator symbols.
_INFIX_LABELS = {"+": "+", "-": "−", "−": "−", "×": "×", "*": "×", "·": "·", "/": "/", "÷": "÷",
                 "@": "@"}
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
#: Longest number text put inside a worked-out formula; longer values (tensors) are left out.
_MAX_INLINE = 24
#: Longest value text shown on its own in a caption; longer ones are named by their shape.
_MAX_SHOWN = 60


def _name(node: Node) -> str:
    """A value node's name as safe plain text for a caption."""
    return plain_text(node.name)


def _is_scalar(t: Any) -> bool:
    if t is None:
        return False
    if isinstance(t, (int, float)):
        return True
    numel = getattr(t, "numel", None)
    return callable(numel) and numel() == 1


def _float(t: Any) -> float:
    if isinstance(t, (int, float)):
        return float(t)
    return float(t.reshape(-1)[0].item())


def _num(t: Any) -> str:
    """A value as caption text."""
    return format_tensor(t)


def _shown(t: Any, noun: str = "tensor") -> str:
    """A value as caption text, or its shape when the numbers would not fit on a line."""
    text = _num(t)
    if len(text) <= _MAX_SHOWN:
        return text
    shape = "×".join(str(s) for s in getattr(t, "shape", ())) or "scalar"
    return f"a {shape} {noun}"


def _operand(t: Any) -> str:
    """A value as an operand inside a formula: negative numbers get parentheses."""
    text = _num(t)
    return f"({text})" if text.startswith("-") else text


def _exponent(node: Node) -> Any:
    for key in ("exponent", "exp", "power"):
        if key in node.attrs:
            return node.attrs[key]
    return None


def _power_text(base: str, exponent: Any) -> str:
    if isinstance(exponent, (int, float)) and float(exponent) == int(exponent):
        return f"{base}{str(int(exponent)).translate(_SUPERSCRIPT)}"
    text = format_number(float(exponent)) if isinstance(exponent, (int, float)) else str(exponent)
    return f"{base}^{text}"


def _infix_symbol(op: Node) -> str | None:
    if op.label in _INFIX_LABELS:
        return _INFIX_LABELS[op.label]
    if op.op in _INFIX_OPS and op.label in (op.op, op.name):
        return _INFIX_OPS[op.op]
    return None


def _op_text(op: Node) -> str:
    """The op's display label for a caption (mathtext kept as given)."""
    return op.label or plain_text(op.op or op.name)


def _formula(op: Node, operands: list[Node], values: bool) -> str | None:
    """``a + b`` (names) or ``2 + 1`` (``values=True``); ``None`` if values are too long."""
    if values:
        texts = []
        for n in operands:
            if n.value is None:
                return None
            t = _num(n.value)
            if len(t) > _MAX_INLINE:
                return None
            texts.append(_operand(n.value) if len(operands) > 1 else t)
    else:
        texts = [_name(n) for n in operands]
    symbol = _infix_symbol(op)
    exponent = _exponent(op)
    if symbol is not None and len(texts) == 2:
        return f"{texts[0]} {symbol} {texts[1]}"
    if op.op in ("neg", "negative") and len(texts) == 1:
        return f"−({texts[0]})" if values else f"−{texts[0]}"
    if op.op == "pow" and len(texts) == 2:
        return f"{texts[0]}^{texts[1]}"
    if op.op == "pow" and len(texts) == 1 and exponent is not None:
        base = texts[0] if not values or not texts[0].startswith("-") else f"({texts[0]})"
        return _power_text(base, exponent)
    return f"{_op_text(op)}({', '.join(texts)})"


def _forward_caption(graph: Graph, op: Node) -> str:
    operands = graph.predecessors(op)
    outputs = graph.successors(op)
    lhs = ", ".join(_name(n) for n in outputs) or _op_text(op)
    parts = [lhs, _formula(op, operands, values=False)]
    with_values = _formula(op, operands, values=True)
    if with_values is not None and with_values != parts[-1]:
        parts.append(with_values)
    result = [n for n in outputs if n.value is not None]
    if result:
        parts.append(", ".join(_shown(n.value) for n in result))
    return " = ".join(p for p in parts if p)


def _local_expr(op: Node, operands: list[Node], output: Node, index: int) -> str | None:
    """The local derivative d(output)/d(operand ``index``) as a formula over names, for the few
    built-in ops where it is standard; ``None`` otherwise (the number alone is shown)."""
    name = [_name(n) for n in operands]
    if op.attrs.get("alpha", 1) != 1:
        return None
    kind = op.op
    if kind == "add":
        return "1"
    if kind == "sub" and len(name) == 2:
        return "1" if index == 0 else "−1"
    if kind == "mul" and len(name) == 2:
        return name[1 - index]
    if kind == "div" and len(name) == 2:
        return f"1/{name[1]}" if index == 0 else f"−{name[0]}/{name[1]}²"
    if kind in ("neg", "negative"):
        return "−1"
    # The output by name when it has one of its own, else written out (``tanh(x)``).
    call = f"{kind}({name[0]})" if name else ""
    y = _name(output) if output.name not in (kind, op.name) else call
    if kind == "exp":
        return call if y == call else f"{call} = {y}"
    if kind == "sin":
        return f"cos({name[0]})"
    if kind == "cos":
        return f"−sin({name[0]})"
    if kind == "log":
        return f"1/{name[0]}"
    if kind == "tanh":
        return f"1 − {y}²"
    if kind == "sigmoid":
        return f"{y}·(1 − {y})"
    if kind == "pow" and len(name) == 1:
        k = _exponent(op)
        if isinstance(k, (int, float)) and float(k) == int(k):
            k = int(k)
            if k == 2:
                return f"2·{name[0]}"
            if k == 1:
                return "1"
            return f"{k}·{_power_text(name[0], k - 1)}"
    return None


def _backward_clause(
    graph: Graph, op: Node, edge: Edge, operands: list[Node], outputs: list[Node]
) -> str:
    src = graph.node(edge.src)
    x = _name(src)
    received = _shown(edge.grad, "gradient")
    if len(outputs) != 1 or outputs[0].grad is None:
        return f"{x} receives {received}"
    out = outputs[0]
    y = _name(out)
    upstream = out.grad
    if not (_is_scalar(upstream) and _is_scalar(edge.grad) and _is_scalar(src.value)):
        return f"{x} receives {received} (chain rule through {_op_text(op)})"
    g_up = _float(upstream)
    if g_up == 0:
        return f"{x} receives {_operand(upstream)} × ∂{y}/∂{x} = {received}"
    local = _float(edge.grad) / g_up
    local_text = format_number(local)
    expr = _local_expr(op, operands, out, edge.index)
    derivative = f"∂{y}/∂{x}"
    if expr is not None and expr.replace("−", "-") != local_text:
        derivative += f" = {expr}"
    derivative += f" = {local_text}"
    local_operand = f"({local_text})" if local_text.startswith("-") else local_text
    return f"{derivative}, so {x} receives {_num(upstream)} × {local_operand} = {received}"


def _merge_repeats(clauses: list[str]) -> list[str]:
    """One line per distinct clause; a value used twice by one op (``x * x``) says so once."""
    counts: dict[str, int] = {}
    for c in clauses:
        counts[c] = counts.get(c, 0) + 1
    return [c if n == 1 else f"{c} (once for each of its {n} uses)" for c, n in counts.items()]


def _sum_text(terms: list[Any], total: Any) -> str:
    """``"2 + 3 = 5"``; missing terms (``None``) show as ``…`` and leave the total out."""
    complete = all(t is not None for t in terms)
    texts = ["…" if t is None else _num(t) for t in terms]
    if any(len(t) > _MAX_INLINE for t in texts):
        arrived = sum(t is not None for t in terms)
        if complete:
            return f"sum of {len(texts)} contributions = {_num(total)}"
        return f"{arrived} of {len(texts)} contributions arrived"
    body = " + ".join(
        _operand(t) if i and t is not None else text
        for i, (t, text) in enumerate(zip(terms, texts, strict=True))
    )
    return f"{body} = {_num(total)}" if complete else body


# -- frames -----------------------------------------------------------------------------------


def _has_backward(graph: Graph) -> bool:
    recorded = getattr(graph, "has_backward", None)
    if recorded is not None:
        return bool(recorded)
    return bool(graph.backward_order) or any(n.grad is not None for n in graph.nodes)


def _dedup(ids: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ids))


class _Builder:
    """Accumulates frames while walking the passes; state only grows (what is shown stays)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.frames: list[Frame] = []
        self.edge_index = {id(e): i for i, e in enumerate(graph.edges)}
        self.values: set[str] = set()
        self.grads: set[str] = set()
        self.edge_grads: set[int] = set()
        self.done: set[str] = set()
        self.sums: dict[str, str] = {}
        self.expected: dict[str, list[tuple[Any, Any]]] = {}
        self.arrived: set[tuple[str, Any]] = set()
        self.leaves = [n for n in graph.nodes if n.kind != "op" and not graph.in_edges(n)]

    def add(self, phase: str, caption: str, pass_: str, *, active: tuple[str, ...] = (),
            active_edges: tuple[int, ...] = (), step: int | None = None) -> None:
        self.frames.append(
            Frame(
                index=len(self.frames),
                phase=phase,
                caption=caption,
                active=active,
                active_edges=active_edges,
                values=frozenset(self.values),
                grads=frozenset(self.grads),
                edge_grads=frozenset(self.edge_grads),
                done=frozenset(self.done - set(active)),
                sums=dict(self.sums),
                step=step,
                direction=pass_,
            )
        )

    # -- forward ------------------------------------------------------------------------------
    def forward_title(self) -> None:
        g = self.graph
        self.values.update(n.id for n in self.leaves if n.value is not None)
        self.done.update(n.id for n in self.leaves)
        named = [n for n in g.inputs.values() if n.value is not None]
        if named and len(named) <= 6 and all(len(_num(n.value)) <= _MAX_INLINE for n in named):
            given = ", ".join(f"{_name(n)} = {_num(n.value)}" for n in named)
            caption = f"Forward pass: start from {given}\nthen each op computes its output in turn"
        else:
            caption = "Forward pass: values flow from the inputs to the outputs, op by op"
        self.add("title", caption, "forward")

    def forward(self) -> None:
        g = self.graph
        for k, op in enumerate(g.ops):
            ins, outs = g.in_edges(op), g.out_edges(op)
            outputs = g.successors(op)
            self.values.update(n.id for n in outputs if n.value is not None)
            active = _dedup([op.id, *(e.src for e in ins), *(n.id for n in outputs)])
            edges = tuple(self.edge_index[id(e)] for e in ins + outs)
            self.add("forward", _forward_caption(g, op), "forward", active=active,
                     active_edges=edges, step=k)
            self.done.update(active)

    # -- backward -----------------------------------------------------------------------------
    def _terms(self) -> dict[str, list[tuple[Any, Any]]]:
        """Value id -> the gradient terms it sums: ``(key, gradient)`` with key ``"seed"`` for an
        output's seed, else the edge's id; seed first, then its uses in forward order."""
        g = self.graph
        found: dict[str, list[tuple[Any, Any]]] = {}
        for e in g.edges:
            if e.grad is not None and g.node(e.src).kind != "op":
                found.setdefault(e.src, []).append((id(e), e.grad))
        recorded = getattr(g, "seeds", None)
        for i, out in enumerate(g.outputs):
            if out.grad is None:
                continue
            if out.id not in found:
                seed = out.grad  # nothing else flows into it: its gradient is the seed
            elif isinstance(recorded, (list, tuple)) and i < len(recorded):
                seed = recorded[i]  # an output also used further: seed + contributions
            else:
                continue
            if seed is not None:
                found.setdefault(out.id, []).insert(0, ("seed", seed))
        return found

    def _arrive(self, vid: str, key: Any) -> bool:
        """Record one term arriving at ``vid``; True when this completes a visible sum."""
        self.arrived.add((vid, key))
        mine = self.expected.get(vid, [])
        terms = [t if (vid, k) in self.arrived else None for k, t in mine]
        node = self.graph.node(vid)
        if len(mine) > 1:
            self.sums[vid] = _sum_text(terms, node.grad)
        if all(t is not None for t in terms) and node.grad is not None:
            self.grads.add(vid)
            return len(mine) > 1
        return False

    def backward_title(self, after_forward: bool) -> None:
        g = self.graph
        self.values.update(n.id for n in g.nodes if n.kind != "op" and n.value is not None)
        self.done.clear()
        self.expected = self._terms()
        self.arrived = set()
        # Seeds: known before any op runs backward.
        seeded = [n for n in g.outputs if any(k == "seed" for k, _ in self.expected.get(n.id, []))]
        for n in seeded:
            self._arrive(n.id, "seed")
        self.done.update(n.id for n in seeded if n.id in self.grads)
        seeds = {n.id: dict(self.expected[n.id])["seed"] for n in seeded}
        lead = "Now the backward pass" if after_forward else "Backward pass"
        if len(seeded) == 1 and _is_scalar(seeds[seeded[0].id]) and seeded[0].id in self.grads:
            y = _name(seeded[0])
            caption = f"{lead}: start at the output with ∂{y}/∂{y} = {_num(seeds[seeded[0].id])}"
        elif seeded:
            listed = ", ".join(f"{_name(n)}: {_shown(seeds[n.id])}" for n in seeded)
            caption = f"{lead}: the outputs start with their seed gradients ({listed})"
        else:
            caption = f"{lead}: gradients flow from the outputs back to the inputs"
        caption += "\nthen the chain rule runs op by op, back to the inputs"
        self.add("title", caption, "backward")

    def backward(self) -> None:
        g = self.graph
        for k, op in enumerate(g.backward_order):
            ins = g.in_edges(op)
            outs = g.out_edges(op)
            operands = g.predecessors(op)
            outputs = g.successors(op)
            flowing = [e for e in ins if e.grad is not None]
            clauses = _merge_repeats(
                [_backward_clause(g, op, e, operands, outputs) for e in flowing]
            )
            completed = [e.src for e in flowing if self._arrive(e.src, id(e))]
            for vid in _dedup(completed):
                clauses.append(
                    f"all {len(self.expected[vid])} contributions to {_name(g.node(vid))} have "
                    f"arrived: {self.sums[vid]}"
                )
            for e in ins + outs:
                if e.grad is not None:
                    self.edge_grads.add(self.edge_index[id(e)])
            active = _dedup([op.id, *(n.id for n in outputs), *(e.src for e in flowing)])
            edges = tuple(self.edge_index[id(e)] for e in outs + flowing)
            if not clauses:
                clauses.append(f"no gradient flows back through {_op_text(op)}")
            self.add("backward", "\n".join(clauses), "backward", active=active,
                     active_edges=edges, step=k)
            self.done.update([op.id, *(n.id for n in outputs)])
            self.done.update(self.grads)

    # -- hold ---------------------------------------------------------------------------------
    def hold(self, direction: str) -> None:
        g = self.graph
        parts: list[str] = []
        results = [n for n in g.outputs if n.value is not None]
        if results and all(len(_num(n.value)) <= _MAX_INLINE for n in results):
            parts.append(", ".join(f"{_name(n)} = {_num(n.value)}" for n in results))
        if direction != "forward":
            leaves = [n for n in g.inputs.values() if n.grad is not None]
            short = all(len(_num(n.grad)) <= _MAX_INLINE for n in leaves)
            if leaves and len(leaves) <= 6 and short:
                y = _name(g.outputs[0]) if len(g.outputs) == 1 else None
                grads = ", ".join(
                    (f"∂{y}/∂{_name(n)}" if y else f"grad {_name(n)}") + f" = {_num(n.grad)}"
                    for n in leaves
                )
                parts.append(grads)
            lead = "Backward pass done" if direction == "backward" else "Done"
        else:
            lead = "Forward pass done"
        self.done.update(n.id for n in g.nodes)
        caption = f"{lead}: {chr(10).join(parts)}" if parts else lead
        self.add("hold", caption, "forward" if direction == "forward" else "backward")


def build_frames(graph: Graph, direction: str = "forward") -> list[Frame]:
    """The frames of an animation of ``graph``, as plain data.

    A title frame comes first, then one frame per op (forward: ``graph.ops`` in execution order;
    backward: ``graph.backward_order``, the autograd engine's order), then a hold frame with the
    complete picture. ``"both"`` plays the forward pass, a title for the backward pass, then the
    backward pass. What is shown only grows from frame to frame.

    Forward step: the op is active and its output value appears; the caption works it out
    (``"c = a + b = 2 + 1 = 3"``). Backward step: the op is active and the gradient arrives on each
    input edge with its number (``Edge.grad``); the caption spells out the chain rule with the
    local derivative taken from the recorded data (edge gradient ÷ upstream gradient, for scalars):
    ``"∂e/∂c = d = 2, so c receives 1 × 2 = 2"``. A value used by several ops shows its partial
    sum in :attr:`Frame.sums` (``"2 + …"``) and the full sum (``"2 + 3 = 5"``) once every
    contribution has arrived; only then does its gradient become visible.

    Parameters
    ----------
    graph : Graph
        The captured graph (values and, for ``"backward"``/``"both"``, gradients recorded).
    direction : {"forward", "backward", "both"}
        Which pass(es) to show.

    Returns
    -------
    list of Frame

    Raises
    ------
    ValueError
        For an unknown ``direction``, or a backward direction on a graph captured without its
        backward pass.

    Examples
    --------
    >>> from graphanim.graph import Edge, Graph, Node
    >>> g = Graph([Node("n0", "a", "a", "input", value=2.0), Node("n1", "neg", "−", "op", op="neg"),
    ...            Node("n2", "b", "b", "output", value=-2.0)],
    ...           [Edge("n0", "n1"), Edge("n1", "n2")], inputs=["n0"], outputs=["n2"])
    >>> [f.phase for f in build_frames(g, "forward")]
    ['title', 'forward', 'hold']
    """
    if not isinstance(direction, str) or direction not in DIRECTIONS:
        raise ValueError(
            f"unknown direction {direction!r} (expected one of {', '.join(map(repr, DIRECTIONS))})"
        )
    if direction != "forward" and not _has_backward(graph):
        raise ValueError(
            f"direction {direction!r} needs the backward pass, but this graph was captured "
            "without it; capture with TorchGraph(func, args, backward=True) or use "
            "direction='forward'"
        )
    b = _Builder(graph)
    if direction in ("forward", "both"):
        b.forward_title()
        b.forward()
    if direction in ("backward", "both"):
        b.backward_title(after_forward=direction == "both")
        b.backward()
    b.hold(direction)
    return b.frames
