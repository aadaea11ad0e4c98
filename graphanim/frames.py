"""What each animation frame shows (active nodes, values, gradients, caption), as data."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from .explain import local_derivative
from .graph import Edge, Graph, Node, format_number, format_tensor, plain_text

__all__ = [
    "AUTO_OP_LIMIT",
    "DIRECTIONS",
    "MAX_FRAMES",
    "PHASES",
    "STEPS",
    "Frame",
    "FrameCapWarning",
    "build_frames",
    "local_label",
    "saved_note",
]

#: The directions an animation can play.
DIRECTIONS = ("forward", "backward", "both")
#: The phases a frame can belong to.
PHASES = ("title", "forward", "backward", "hold")
#: What one step (frame) of a pass shows: one op, all ops of one layout layer, or one run of ops
#: inside one ``nn.Module``.
STEPS = ("op", "layer", "module")
#: ``step=None`` steps op by op up to this many ops, by module or layer above it.
AUTO_OP_LIMIT = 300
#: Default cap on the number of frames of an animation.
MAX_FRAMES = 500


class FrameCapWarning(UserWarning):
    """An animation would have more frames than ``max_frames``: several steps share a frame."""


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
    values : set of str
        Ids of value nodes whose forward value is shown.
    grads : set of str
        Ids of value nodes whose gradient is shown.
    edge_grads : set of int
        Indexes into ``graph.edges`` whose gradient contribution is shown.
    done : set of str
        Ids of nodes already processed in this pass (drawn in the "done" style).

        ``values``, ``grads``, ``edge_grads`` and ``done`` are read-only sets: frozensets, or for
        frames built together, views of one shared record of what was added in which order (so an
        animation of a huge graph does not hold a copy of every set per frame). They compare equal
        to the frozensets of the same elements.
    sums : dict
        Node id -> accumulation text shown at a value that sums several contributions
        (``"2 + 3 = 5"``; ``"2 + …"`` while contributions are still missing).
    step : int or None
        Index of the op step within its pass (``None`` for title/hold frames).
    direction : str or None
        The pass this frame belongs to, ``"forward"`` or ``"backward"`` (for a title frame the pass
        it introduces, for the hold frame the last pass shown).
    saved : tuple of str
        Backward steps: ids of the value nodes the op's backward reads (the tensors autograd saved
        for it, ``Node.attrs["saved"]``), highlighted while the step runs.
    note : str
        A second caption line about the saved tensors (``"sin′ uses the saved input x"``), drawn
        under the caption in the colour of the saved-tensor highlight.
    ops : tuple of str
        Ids of the op nodes this step runs (one, or several when stepping by layer or module).
    """

    index: int
    phase: str
    caption: str = ""
    active: tuple[str, ...] = ()
    active_edges: tuple[int, ...] = ()
    values: AbstractSet[str] = frozenset()
    grads: AbstractSet[str] = frozenset()
    edge_grads: AbstractSet[int] = frozenset()
    done: AbstractSet[str] = frozenset()
    sums: dict[str, str] = field(default_factory=dict)
    step: int | None = None
    direction: str | None = None
    saved: tuple[str, ...] = ()
    note: str = ""
    ops: tuple[str, ...] = ()


class _FrameSet(AbstractSet):  # type: ignore[type-arg]
    """A read-only set: the first ``n`` entries of a shared, append-only log, minus ``skip``."""

    __slots__ = ("_items", "_n", "_rank", "_skip")

    def __init__(self, items: list[Any], rank: dict[Any, int], n: int,
                 skip: frozenset[Any] = frozenset()) -> None:
        self._items, self._rank, self._n, self._skip = items, rank, n, skip

    def __contains__(self, x: object) -> bool:
        r = self._rank.get(x)
        return r is not None and r < self._n and x not in self._skip

    def __len__(self) -> int:
        return self._n - len(self._skip)

    def __iter__(self) -> Iterator[Any]:
        skip = self._skip
        return (x for x in itertools.islice(self._items, self._n) if x not in skip)

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> frozenset[Any]:
        return frozenset(it)

    __hash__ = AbstractSet._hash

    def __repr__(self) -> str:
        return f"FrameSet({sorted(self, key=str)!r})"


class _Log:
    """What is shown so far, in the order it was added; frames take cheap snapshots of it."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.rank: dict[Any, int] = {}

    def add(self, x: Any) -> None:
        if x not in self.rank:
            self.rank[x] = len(self.items)
            self.items.append(x)

    def update(self, xs: Iterable[Any]) -> None:
        for x in xs:
            self.add(x)

    def __contains__(self, x: object) -> bool:
        return x in self.rank

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def snapshot(self, skip: Iterable[Any] = ()) -> _FrameSet:
        drop = frozenset(x for x in skip if x in self.rank)
        return _FrameSet(self.items, self.rank, len(self.items), drop)


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


def _operand_position(graph: Graph, op: Node, edge: Edge) -> int:
    """The position of ``edge`` among the op's in-edges (its operand index)."""
    for i, e in enumerate(graph.in_edges(op)):
        if e is edge:
            return i
    return edge.index


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
    local = local_derivative(graph, op, _operand_position(graph, op, edge))
    if local is None:
        return f"{x} receives {_operand(upstream)} × ∂{y}/∂{x} = {received}"
    local_text = format_number(local)
    expr = _local_expr(op, operands, out, edge.index)
    derivative = f"∂{y}/∂{x}"
    if expr is not None and expr.replace("−", "-") != local_text:
        derivative += f" = {expr}"
    derivative += f" = {local_text}"
    local_operand = f"({local_text})" if local_text.startswith("-") else local_text
    return f"{derivative}, so {x} receives {_operand(upstream)} × {local_operand} = {received}"


def local_label(graph: Graph, edge: Edge) -> str | None:
    """The local-derivative factor shown on an operand edge next to its gradient: ``"×2 →"``.

    Read next to the edge's gradient it says *upstream gradient × local derivative → gradient on
    this edge* (``×2 → 6``: the op's output receives 3, ∂out/∂operand = 2, 6 flows back along the
    edge). The number is :func:`graphanim.explain.local_derivative` of the op with respect to this
    operand; ``None`` for edges out of an op, edges without a gradient and tensor-valued edges
    (where no scalar local derivative exists).

    Examples
    --------
    >>> from graphanim import TorchGraph
    >>> g = TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])
    >>> [local_label(g, e) for e in g.edges if e.dst == g.outputs[0].id]
    [None]
    >>> sorted(t for e in g.edges if (t := local_label(g, e)) is not None)
    ['×1 →', '×1 →', '×1 →', '×2 →', '×3 →']
    """
    if edge.grad is None or not _is_scalar(edge.grad):
        return None
    op = graph.node(edge.dst)
    if op.kind != "op":
        return None
    local = local_derivative(graph, op, _operand_position(graph, op, edge))
    if local is None:
        return None
    text = format_number(local)
    return f"×({text}) →" if text.startswith("-") else f"×{text} →"


def _op_prime(op: Node) -> str:
    """How a caption names the op's derivative: ``sin′``, ``$\\sigma'$``, ``the backward of ×``."""
    label = op.label or op.op or op.name
    if label.startswith("$") and label.endswith("$") and len(label) > 2:
        return label[:-1] + "'$"
    if label.replace("_", "").isalnum():
        return f"{label}′"
    return f"the backward of {label}"


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def saved_note(graph: Graph, op: Node) -> str:
    """What the op's backward reads from the forward pass: ``"sin′ uses the saved input x"``,
    ``"tanh′ uses its saved output c"``; ``""`` when it saved nothing (``add``)."""
    saved = [sid for sid in dict.fromkeys(op.attrs.get("saved") or ()) if sid in graph]
    if not saved:
        return ""
    operands = {n.id for n in graph.predecessors(op)}
    outputs = {n.id for n in graph.successors(op)}
    ins = [_name(graph.node(s)) for s in saved if s in operands]
    outs = [_name(graph.node(s)) for s in saved if s in outputs and s not in operands]
    other = [_name(graph.node(s)) for s in saved if s not in operands and s not in outputs]
    parts = []
    if ins:
        parts.append(f"the saved input{'s' if len(ins) > 1 else ''} {_and(ins)}")
    if outs:
        parts.append(f"its saved output{'s' if len(outs) > 1 else ''} "
                     f"{_and(outs)}")
    if other:
        parts.append(f"the saved value{'s' if len(other) > 1 else ''} {_and(other)}")
    return f"{_op_prime(op)} uses {' and '.join(parts)}"


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


def _node_by_id(graph: Graph, nid: str) -> Node | None:
    """The node with id ``nid`` (never a node merely *named* like an id)."""
    if isinstance(graph, Graph):
        return graph._node_or_none(nid)
    return next((n for n in graph.nodes if n.id == nid), None)


@dataclass
class _Group:
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


def _merge(groups: list[_Group]) -> _Group:
    return _Group([op for g in groups for op in g.ops], groups[0].unit, groups[0].first,
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
    cls = (getattr(graph, "modules", None) or {}).get(path)
    if not path:
        return f"the root module ({cls})" if cls else "outside any module"
    return f"{plain_text(path)} ({cls})" if cls else plain_text(path)


def _groups(graph: Graph, ops: list[Node], step: str, layers: Mapping[str, float] | None,
            backward: bool) -> list[_Group]:
    """The steps of one pass over ``ops`` (in the order the pass runs them)."""
    if step == "op":
        return [_Group([op], "op", k + 1, k + 1, len(ops)) for k, op in enumerate(ops)]
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
            groups.append(_Group(members, "module", k + 1, k + 1, len(runs), [label]))
        return groups
    keys = dict(layers) if layers is not None else _op_depths(graph)
    by_key: dict[float, list[Node]] = {}
    for op in ops:
        by_key.setdefault(round(float(keys.get(op.id, 0.0)), 6), []).append(op)
    order = sorted(by_key)
    number = {k: i + 1 for i, k in enumerate(order)}
    if backward:
        order.reverse()
    return [_Group(by_key[k], "layer", number[k], number[k], len(number)) for k in order]


def _cap(groups: list[_Group], chunk: int) -> list[_Group]:
    if chunk <= 1:
        return groups
    return [_merge(groups[i:i + chunk]) for i in range(0, len(groups), chunk)]


def _kinds(ops: list[Node]) -> str:
    counts: dict[str, int] = {}
    for op in ops:
        key = plain_text(op.op or op.name)
        counts[key] = counts.get(key, 0) + 1
    items = [f"{n} {k}" for k, n in counts.items()]
    return ", ".join(items[:4]) + (", …" if len(items) > 4 else "")


def _few(names: list[str], limit: int = 4) -> str:
    names = list(dict.fromkeys(names))
    if len(names) <= limit:
        return _and(names) if names else ""
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


class _Builder:
    """Accumulates frames while walking the passes; state only grows (what is shown stays)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.frames: list[Frame] = []
        self.edge_index = {id(e): i for i, e in enumerate(graph.edges)}
        self.values = _Log()
        self.grads = _Log()
        self.edge_grads = _Log()
        self.done = _Log()
        self._synced = 0  # grads already copied into done
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

    def _title(self, caption: str, pass_: str) -> str:
        line = self.step_line.get(pass_)
        return f"{caption}\n{line}" if line else caption

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
        if "forward" in self.step_line:
            caption = "Forward pass: values flow from the inputs to the outputs"
        self.add("title", self._title(caption, "forward"), "forward")

    def _forward_op(self, op: Node) -> tuple[str, list[str], list[int]]:
        g = self.graph
        ins, outs = g.in_edges(op), g.out_edges(op)
        outputs = g.successors(op)
        self.values.update(n.id for n in outputs if n.value is not None)
        active = [op.id, *(e.src for e in ins), *(n.id for n in outputs)]
        edges = [self.edge_index[id(e)] for e in ins + outs]
        return _forward_caption(g, op), active, edges

    def forward(self, groups: list[_Group]) -> None:
        g = self.graph
        for k, group in enumerate(groups):
            captions: list[str] = []
            active: list[str] = []
            edges: list[int] = []
            for op in group.ops:
                caption, act, eds = self._forward_op(op)
                captions.append(caption)
                active += act
                edges += eds
            header = group.header()
            if header is None:
                text = captions[0]
            elif len(group.ops) == 1:
                text = f"{header}\n{captions[0]}"
            else:
                outs = [_name(n) for op in group.ops for n in g.successors(op)]
                text = (f"{header}: {len(group.ops)} ops ({_kinds(group.ops)})\n"
                        f"values appear for {_few(outs)}")
            act_t = _dedup(active)
            self.add("forward", text, "forward", active=act_t, active_edges=tuple(edges),
                     step=k, ops=tuple(op.id for op in group.ops))
            self.done.update(act_t)

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
        self.done = _Log()
        self._synced = 0
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
        if "backward" in self.step_line:
            caption += "\nthen the chain rule runs back to the inputs"
        else:
            caption += "\nthen the chain rule runs op by op, back to the inputs"
        self.add("title", self._title(caption, "backward"), "backward")

    def _backward_op(self, op: Node) -> tuple[list[str], list[str], list[int], list[str]]:
        """Run one op's backward step: clauses of its caption, active nodes and edges, saved."""
        g = self.graph
        ins = g.in_edges(op)
        outs = g.out_edges(op)
        operands = g.predecessors(op)
        outputs = g.successors(op)
        flowing = [e for e in ins if e.grad is not None]
        clauses = _merge_repeats([_backward_clause(g, op, e, operands, outputs) for e in flowing])
        completed = [e.src for e in flowing if self._arrive(e.src, id(e))]
        for vid in _dedup(completed):
            clauses.append(
                f"all {len(self.expected[vid])} contributions to {_name(g.node(vid))} have "
                f"arrived: {self.sums[vid]}"
            )
        for e in ins + outs:
            if e.grad is not None:
                self.edge_grads.add(self.edge_index[id(e)])
        active = [op.id, *(n.id for n in outputs), *(e.src for e in flowing)]
        edges = [self.edge_index[id(e)] for e in outs + flowing]
        if not clauses:
            clauses.append(f"no gradient flows back through {_op_text(op)}")
        saved = [sid for sid in op.attrs.get("saved") or () if _node_by_id(g, sid) is not None]
        return clauses, active, edges, saved

    def backward(self, groups: list[_Group]) -> None:
        g = self.graph
        for k, group in enumerate(groups):
            clauses: list[str] = []
            active: list[str] = []
            edges: list[int] = []
            saved: list[str] = []
            reached: list[str] = []
            for op in group.ops:
                cl, act, eds, sv = self._backward_op(op)
                clauses += cl
                active += act
                edges += eds
                saved += sv
                reached += [_name(n) for n in g.predecessors(op)]
            header = group.header()
            note = saved_note(g, group.ops[0]) if len(group.ops) == 1 else ""
            if header is None:
                text = "\n".join(clauses)
            elif len(group.ops) == 1:
                text = header + "\n" + "\n".join(clauses)
            else:
                text = (f"{header}: {len(group.ops)} ops run backward ({_kinds(group.ops)})\n"
                        f"gradients reach {_few(reached)}")
                if saved:
                    note = f"{len(_dedup(saved))} saved values are read"
            act_t = _dedup(active)
            self.add("backward", text, "backward", active=act_t, active_edges=tuple(edges),
                     step=k, saved=_dedup(saved), note=note,
                     ops=tuple(op.id for op in group.ops))
            for op in group.ops:
                self.done.update([op.id, *(n.id for n in g.successors(op))])
            self.done.update(self.grads.items[self._synced:])
            self._synced = len(self.grads.items)

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


def _check_step(step: Any, max_frames: Any) -> None:
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


def _auto_step(graph: Graph) -> str:
    ops = graph.ops
    if len(ops) <= AUTO_OP_LIMIT:
        return "op"
    if any(op.attrs.get("module") for op in ops):
        return "module"
    return "layer"


_UNIT_PLURAL = {"op": "ops", "layer": "layers", "module": "module steps"}


def build_frames(
    graph: Graph,
    direction: str = "forward",
    *,
    step: str | None = None,
    layers: Mapping[str, float] | None = None,
    max_frames: int | None = MAX_FRAMES,
) -> list[Frame]:
    """The frames of an animation of ``graph``, as plain data.

    A title frame comes first, then one frame per step (forward: ``graph.ops`` in execution order;
    backward: ``graph.backward_order``, the autograd engine's order), then a hold frame with the
    complete picture. ``"both"`` plays the forward pass, a title for the backward pass, then the
    backward pass. What is shown only grows from frame to frame.

    Forward step: the op is active and its output value appears; the caption works it out
    (``"c = a + b = 2 + 1 = 3"``). Backward step: the op is active and the gradient arrives on each
    input edge with its number (``Edge.grad``); the caption spells out the chain rule with the
    local derivative of :func:`graphanim.explain.local_derivative` (edge gradient ÷ upstream
    gradient, for scalars): ``"∂e/∂c = d = 2, so c receives 1 × 2 = 2"``. The values the op's
    backward reads (its saved tensors) are listed in :attr:`Frame.saved` and named in
    :attr:`Frame.note` (``"sin′ uses the saved input x"``). A value used by several ops shows its
    partial sum in :attr:`Frame.sums` (``"2 + …"``) and the full sum (``"2 + 3 = 5"``) once every
    contribution has arrived; only then does its gradient become visible.

    Large graphs step through several ops per frame: ``step="layer"`` runs all ops of one layout
    layer per frame (forward: layer 1 first; backward: the last layer first), ``step="module"``
    one run of consecutive ops inside the same call of an ``nn.Module`` (``Node.attrs["module"]``
    and ``["module_call"]``); the caption starts with the layer or module (``"Layer 3 of 12: 4 ops
    (2 add, 2 mul)"``, ``"cell (Linear), call 2 of 3"`` for a module called 3 times). When a
    pass would still need more frames than ``max_frames`` allows, consecutive steps share a frame
    and a :class:`FrameCapWarning` says so.

    Parameters
    ----------
    graph : Graph
        The captured graph (values and, for ``"backward"``/``"both"``, gradients recorded).
    direction : {"forward", "backward", "both"}
        Which pass(es) to show.
    step : {None, "op", "layer", "module"}
        What one frame runs. ``None``: ``"op"`` up to :data:`AUTO_OP_LIMIT` (300) ops, above that
        ``"module"`` when ops ran inside modules, else ``"layer"``.
    layers : mapping, optional
        Op id -> layer coordinate (growing along the flow), used by ``step="layer"``; default:
        the longest-path depth of each op from the inputs. :class:`~graphanim.animation.Animation`
        passes the layers of its layout.
    max_frames : int or None, default 500
        Most frames in all (titles and the hold frame included); ``None``: no cap.

    Returns
    -------
    list of Frame

    Raises
    ------
    ValueError
        For an unknown ``direction`` or ``step``, a ``max_frames`` below 5, or a backward
        direction on a graph captured without its backward pass.

    Warns
    -----
    FrameCapWarning
        When the cap makes several steps share a frame (the message names the option to change).

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
    _check_step(step, max_frames)
    if direction != "forward" and not _has_backward(graph):
        raise ValueError(
            f"direction {direction!r} needs the backward pass, but this graph was captured "
            "without it; capture with TorchGraph(func, args, backward=True) or use "
            "direction='forward'"
        )
    mode = step or _auto_step(graph)
    passes: dict[str, list[_Group]] = {}
    if direction in ("forward", "both"):
        passes["forward"] = _groups(graph, graph.ops, mode, layers, backward=False)
    if direction in ("backward", "both"):
        passes["backward"] = _groups(graph, graph.backward_order, mode, layers, backward=True)
    fixed = len(passes) + 1  # a title per pass and the hold frame
    wanted = sum(len(gs) for gs in passes.values())
    chunk = 1
    if max_frames is not None and wanted + fixed > max_frames:
        room = max_frames - fixed
        chunk = max(1, math.ceil(wanted / room))
        while sum(math.ceil(len(gs) / chunk) for gs in passes.values()) > room:
            chunk += 1
        unit = _UNIT_PLURAL[mode]
        warnings.warn(
            f"animating {len(graph.ops)} ops one {mode} per frame would take {wanted + fixed} "
            f"frames, more than max_frames={max_frames}: each frame now runs {chunk} consecutive "
            f"{unit} (the caption says which); pass max_frames=None for one {mode} per frame"
            + ("" if mode != "op" else ", or step='layer' or step='module' for fewer steps"),
            FrameCapWarning,
            stacklevel=2,
        )
    b = _Builder(graph)
    for pass_, gs in passes.items():
        n_ops = sum(len(g.ops) for g in gs)
        if mode == "op" and chunk == 1:
            continue
        one = "one module step" if mode == "module" else f"one {mode}"
        per = f"{chunk} {_UNIT_PLURAL[mode]}" if chunk > 1 else one
        b.step_line[pass_] = f"({n_ops} ops in {len(gs)} {_UNIT_PLURAL[mode]}: {per} per frame)"
        passes[pass_] = _cap(gs, chunk)
    if "forward" in passes:
        b.forward_title()
        b.forward(passes["forward"])
    if "backward" in passes:
        b.backward_title(after_forward=direction == "both")
        b.backward(passes["backward"])
    b.hold(direction)
    return b.frames
