"""Caption text of the frames: formulas worked out with numbers, the chain rule, sums, notes."""

from __future__ import annotations

import string
from typing import Any

from ..explain import local_derivative
from ..graph import Edge, Graph, Node, format_number, format_tensor, plain_text
from ..ops import OPS, op_info, superscript

__all__ = [
    "MAX_INLINE",
    "and_list",
    "backward_clause",
    "few_names",
    "forward_caption",
    "is_scalar",
    "local_label",
    "merge_repeats",
    "op_kinds",
    "op_text",
    "plain_name",
    "saved_note",
    "shown_text",
    "sum_text",
    "value_text",
]

#: Other spellings of infix operators a custom op's label may use, with the caption's symbol.
_LABEL_ALIASES = {"-": "−", "*": "×", "·": "·", "/": "/"}
#: Op labels that are infix operator symbols: the table's, and their aliases.
_INFIX_LABELS = {
    **{info.infix: info.infix for info in OPS.values() if info.infix is not None},
    **_LABEL_ALIASES,
}
#: Longest number text put inside a worked-out formula; longer values (tensors) are left out.
MAX_INLINE = 24
#: Longest value text shown on its own in a caption; longer ones are named by their shape.
_MAX_SHOWN = 60


def plain_name(node: Node) -> str:
    """A value node's name as safe plain text for a caption."""
    return plain_text(node.name)


def is_scalar(t: Any) -> bool:
    if t is None:
        return False
    if isinstance(t, (int, float)):
        return True
    numel = getattr(t, "numel", None)
    return callable(numel) and numel() == 1


def value_text(t: Any) -> str:
    """A value as caption text."""
    return format_tensor(t)


def shown_text(t: Any, noun: str = "tensor") -> str:
    """A value as caption text, or its shape when the numbers would not fit on a line."""
    text = value_text(t)
    if len(text) <= _MAX_SHOWN:
        return text
    shape = "×".join(str(s) for s in getattr(t, "shape", ())) or "scalar"
    return f"a {shape} {noun}"


def _operand(t: Any) -> str:
    """A value as an operand inside a formula: negative numbers get parentheses."""
    text = value_text(t)
    return f"({text})" if text.startswith("-") else text


def _exponent(node: Node) -> Any:
    for key in ("exponent", "exp", "power"):
        if key in node.attrs:
            return node.attrs[key]
    return None


def _power_text(base: str, exponent: Any) -> str:
    if isinstance(exponent, (int, float)) and float(exponent) == int(exponent):
        return f"{base}{superscript(str(int(exponent)))}"
    text = format_number(float(exponent)) if isinstance(exponent, (int, float)) else str(exponent)
    return f"{base}^{text}"


def _infix_symbol(op: Node) -> str | None:
    if op.label in _INFIX_LABELS:
        return _INFIX_LABELS[op.label]
    if op.label in (op.op, op.name):
        return op_info(op.op).name_infix
    return None


def _arity(template: str) -> int:
    """How many operands a template formats: ``"{0} @ {1}"`` is 2."""
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f and f.isdigit()}
    return max((int(f) + 1 for f in fields), default=0)


def _fill(template: str, names: list[str], y: str) -> str:
    """A derivative template over names; a part equal to the one before it is dropped."""
    parts = template.format(*names, y=y).split(" = ")
    return " = ".join(p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1])


def op_text(op: Node) -> str:
    """The op's display label for a caption (mathtext kept as given)."""
    return op.label or plain_text(op.op or op.name)


def _formula(op: Node, operands: list[Node], values: bool) -> str | None:
    """``a + b`` (names) or ``2 + 1`` (``values=True``); ``None`` if values are too long."""
    if values:
        texts = []
        for n in operands:
            if n.value is None:
                return None
            t = value_text(n.value)
            if len(t) > MAX_INLINE:
                return None
            texts.append(_operand(n.value) if len(operands) > 1 else t)
    else:
        texts = [plain_name(n) for n in operands]
    symbol = _infix_symbol(op)
    if symbol is not None and len(texts) == 2:
        return f"{texts[0]} {symbol} {texts[1]}"
    info = op_info(op.op)
    template = info.caption
    # infix templates are written by the label's symbol above; the others whatever the label
    if template is not None and info.infix is None and _arity(template) == len(texts):
        if values and len(texts) == 1:
            texts = [f"({texts[0]})"]  # −(2), not −2
        return template.format(*texts)
    exponent = _exponent(op)
    if info.power and len(texts) == 1 and exponent is not None:
        base = texts[0] if not values or not texts[0].startswith("-") else f"({texts[0]})"
        return _power_text(base, exponent)
    return f"{op_text(op)}({', '.join(texts)})"


def forward_caption(graph: Graph, op: Node) -> str:
    operands = graph.predecessors(op)
    outputs = graph.successors(op)
    lhs = ", ".join(plain_name(n) for n in outputs) or op_text(op)
    parts = [lhs, _formula(op, operands, values=False)]
    with_values = _formula(op, operands, values=True)
    if with_values is not None and with_values != parts[-1]:
        parts.append(with_values)
    result = [n for n in outputs if n.value is not None]
    if result:
        parts.append(", ".join(shown_text(n.value) for n in result))
    return " = ".join(p for p in parts if p)


def _local_expr(op: Node, operands: list[Node], output: Node, index: int) -> str | None:
    """The local derivative d(output)/d(operand ``index``) as a formula over names, from the op
    table's templates; ``None`` where the table has none (the number alone is shown)."""
    name = [plain_name(n) for n in operands]
    if op.attrs.get("alpha", 1) != 1:
        return None
    kind = op.op
    info = op_info(kind)
    if info.power and len(name) == 1:
        return _power_derivative(name[0], _exponent(op))
    templates = info.derivative
    if templates is None or len(templates) != len(name) or not 0 <= index < len(name):
        return None
    # The output by name when it has one of its own, else written out (``tanh(x)``).
    call = f"{kind}({name[0]})" if name else ""
    y = plain_name(output) if output.name not in (kind, op.name) else call
    return _fill(templates[index], name, y)


def _power_derivative(base: str, exponent: Any) -> str | None:
    """d(baseᵏ)/d(base) for a constant integer ``k``: ``2·x``, ``1``, ``3·x²``."""
    if not isinstance(exponent, (int, float)) or float(exponent) != int(exponent):
        return None
    k = int(exponent)
    if k == 2:
        return f"2·{base}"
    if k == 1:
        return "1"
    return f"{k}·{_power_text(base, k - 1)}"


def _operand_position(graph: Graph, op: Node, edge: Edge) -> int:
    """The position of ``edge`` among the op's in-edges (its operand index)."""
    for i, e in enumerate(graph.in_edges(op)):
        if e is edge:
            return i
    return edge.index


def backward_clause(
    graph: Graph, op: Node, edge: Edge, operands: list[Node], outputs: list[Node]
) -> str:
    src = graph.node(edge.src)
    x = plain_name(src)
    received = shown_text(edge.grad, "gradient")
    if len(outputs) != 1 or outputs[0].grad is None:
        return f"{x} receives {received}"
    out = outputs[0]
    y = plain_name(out)
    upstream = out.grad
    if not (is_scalar(upstream) and is_scalar(edge.grad) and is_scalar(src.value)):
        return f"{x} receives {received} (chain rule through {op_text(op)})"
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
    if edge.grad is None or not is_scalar(edge.grad):
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


def and_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def saved_note(graph: Graph, op: Node) -> str:
    """What the op's backward reads from the forward pass: ``"sin′ uses the saved input x"``,
    ``"tanh′ uses its saved output c"``; ``""`` when it saved nothing (``add``)."""
    saved = [sid for sid in dict.fromkeys(op.attrs.get("saved") or ()) if sid in graph]
    if not saved:
        return ""
    operands = {n.id for n in graph.predecessors(op)}
    outputs = {n.id for n in graph.successors(op)}
    ins = [plain_name(graph.node(s)) for s in saved if s in operands]
    outs = [plain_name(graph.node(s)) for s in saved if s in outputs and s not in operands]
    other = [plain_name(graph.node(s)) for s in saved if s not in operands and s not in outputs]
    parts = []
    if ins:
        parts.append(f"the saved input{'s' if len(ins) > 1 else ''} {and_list(ins)}")
    if outs:
        parts.append(f"its saved output{'s' if len(outs) > 1 else ''} "
                     f"{and_list(outs)}")
    if other:
        parts.append(f"the saved value{'s' if len(other) > 1 else ''} {and_list(other)}")
    return f"{_op_prime(op)} uses {' and '.join(parts)}"


def merge_repeats(clauses: list[str]) -> list[str]:
    """One line per distinct clause; a value used twice by one op (``x * x``) says so once."""
    counts: dict[str, int] = {}
    for c in clauses:
        counts[c] = counts.get(c, 0) + 1
    return [c if n == 1 else f"{c} (once for each of its {n} uses)" for c, n in counts.items()]


def sum_text(terms: list[Any], total: Any) -> str:
    """``"2 + 3 = 5"``; missing terms (``None``) show as ``…`` and leave the total out."""
    complete = all(t is not None for t in terms)
    texts = ["…" if t is None else value_text(t) for t in terms]
    if any(len(t) > MAX_INLINE for t in texts):
        arrived = sum(t is not None for t in terms)
        if complete:
            return f"sum of {len(texts)} contributions = {value_text(total)}"
        return f"{arrived} of {len(texts)} contributions arrived"
    body = " + ".join(
        _operand(t) if i and t is not None else text
        for i, (t, text) in enumerate(zip(terms, texts, strict=True))
    )
    return f"{body} = {value_text(total)}" if complete else body


def op_kinds(ops: list[Node]) -> str:
    counts: dict[str, int] = {}
    for op in ops:
        key = plain_text(op.op or op.name)
        counts[key] = counts.get(key, 0) + 1
    items = [f"{n} {k}" for k, n in counts.items()]
    return ", ".join(items[:4]) + (", …" if len(items) > 4 else "")


def few_names(names: list[str], limit: int = 4) -> str:
    names = list(dict.fromkeys(names))
    if len(names) <= limit:
        return and_list(names) if names else ""
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
