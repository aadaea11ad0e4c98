"""The op table (graphanim.ops): its entries, and the captions and derivatives built from it."""

from __future__ import annotations

import math
import re

import pytest
import torch

from graphanim import TorchGraph
from graphanim.cli import expression, language
from graphanim.cli.expression import compile_expression
from graphanim.cli.language import ARITY, BINOPS, FUNCTIONS
from graphanim.frames import build_frames
from graphanim.graph import Edge, Graph, Node
from graphanim.ops import OPS, OpInfo, op_info, op_label


def test_the_expression_language_spells_ops_as_the_table_does() -> None:
    spelled = {s for info in OPS.values() for s in info.cli}
    assert set(ARITY) == set(FUNCTIONS) <= spelled  # every function's arity is for a table name
    assert set(BINOPS.values()) <= spelled
    # each name calls a torch function (max and min pick theirs by the number of arguments)
    assert set(expression._torch_functions()) == set(FUNCTIONS) - {"max", "min"}


#: CLI functions whose op capture records under another name (the table's entry is not found
#: by that name: reported, kept as it is so labels do not change).
RECORDED_AS = {"logsigmoid": "log_sigmoid"}


@pytest.mark.parametrize("name", language.UNARY)
def test_a_cli_function_records_the_op_whose_spelling_it_is(name: str) -> None:
    func = compile_expression(f"{name}(x)", {"x": 0.5}).func
    (op,) = TorchGraph(func, [0.5]).ops
    assert op.op == RECORDED_AS.get(name, name)
    assert name in op_info(name).cli


@pytest.mark.parametrize("name", sorted(n for n, i in OPS.items() if i.torch_name))
def test_torch_functions_exist_and_are_what_capture_records(name: str) -> None:
    fn = op_info(name).function
    assert callable(fn)
    unary = name not in ("add", "sub", "mul", "div", "maximum", "minimum", "atan2", "pow",
                         "matmul", "mm", "bmm", "dot")
    if unary and name not in ("max", "min"):
        g = TorchGraph(lambda x: fn(x), [[0.3, 0.6]], backward=False)
        assert g.ops[-1].op == name


UNARY = ["neg", "sin", "cos", "exp", "log", "tanh", "sigmoid", "sqrt", "relu"]
BINARY = ["add", "sub", "mul", "div", "maximum", "atan2"]


def _one_op(op: str, named: bool) -> tuple[TorchGraph, list[torch.Tensor]]:
    """A graph of the single op ``op`` on inputs ``a`` (and ``b``); output ``y`` if ``named``."""
    fn = getattr(torch, op)
    args = [0.7, 1.9] if op in BINARY else [0.7]

    def binary(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        y = fn(a, b)
        return y

    def unary(a: torch.Tensor) -> torch.Tensor:
        y = fn(a)
        return y

    if named:
        g = TorchGraph(binary if op in BINARY else unary, args)
    else:
        g = TorchGraph((lambda a, b: fn(a, b)) if op in BINARY else (lambda a: fn(a)), args)
    xs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in args]
    return g, xs


def _evaluate(formula: str, values: dict[str, float]) -> float:
    """The number a caption's formula (``"1 − y²"``, ``"−a/b²"``, ``"cos(b)"``) stands for."""
    text = formula.replace("−", "-").replace("²", "**2").replace("·", "*")
    functions = {f: getattr(math, f) for f in ("sin", "cos", "exp", "log", "tanh")}
    functions["sigmoid"] = lambda v: 1 / (1 + math.exp(-v))
    result: float = eval(text, {"__builtins__": {}, **functions}, values)
    return result


@pytest.mark.parametrize("named", [False, True])
@pytest.mark.parametrize("op", UNARY + BINARY)
def test_forward_captions_are_the_tables_templates(op: str, named: bool) -> None:
    g, _ = _one_op(op, named)
    (node,) = g.ops
    names = [n.name for n in g.predecessors(node)]
    (out,) = g.successors(node)
    info = op_info(op)
    formula = f"{info.symbol}({', '.join(names)})" if info.caption is None else (
        info.caption.format(*names))
    caption = build_frames(g, "forward")[1].caption
    assert caption.startswith(f"{out.name} = {formula} = ")
    assert (out.name == "y") is named


@pytest.mark.parametrize("named", [False, True])
@pytest.mark.parametrize("op", UNARY + BINARY)
def test_backward_captions_use_the_table_and_torchs_local_derivatives(
    op: str, named: bool
) -> None:
    """Each ∂y/∂x in a backward caption: the table's template over the names, then the number
    torch.autograd computes for the op alone."""
    g, xs = _one_op(op, named)
    (node,) = g.ops
    names = [n.name for n in g.predecessors(node)]
    (out,) = g.successors(node)
    y = out.name if named else f"{op}({names[0]})"
    caption = build_frames(g, "backward")[1].caption
    templates = op_info(op).derivative
    for i, x in enumerate(names):
        match = re.search(rf"∂{out.name}/∂{x} = (?:(.+) = )?(\S+), so {x} receives", caption)
        assert match is not None, caption
        expr, number = match.groups()
        (torch_local,) = torch.autograd.grad(getattr(torch, op)(*xs), xs[i])
        assert float(number) == pytest.approx(torch_local.item(), rel=1e-3, abs=1e-4)
        if templates is None:
            assert expr is None
            continue
        expected = " = ".join(dict.fromkeys(templates[i].format(*names, y=y).split(" = ")))
        values = {n: v.item() for n, v in zip(names, xs, strict=True)}
        if named:  # unnamed, the output is written as the call (tanh(a)) and evaluated so
            values[out.name] = out.value.item()
        assert _evaluate(expected.split(" = ")[0], values) == pytest.approx(torch_local.item())
        if expected.replace("−", "-") == number:
            expected = None  # a constant derivative is written once, as its number
        assert expr == expected


def test_a_constant_exponent_is_written_as_a_power() -> None:
    assert op_info("pow").power and not op_info("mul").power
    g = TorchGraph(lambda x: x**3, [0.5])
    assert build_frames(g, "forward")[1].caption.startswith("pow = x³ = 0.5³ = ")
    caption = build_frames(g, "backward")[1].caption
    assert caption.startswith("∂pow/∂x = 3·x² = 0.75, so")  # d(x³)/dx = 3·0.5²


@pytest.mark.parametrize(("op", "formula"), [
    ("div", "a / b"), ("mul", "a × b"), ("sub", "a − b"), ("mm", "a @ b"), ("bmm", "bmm(a, b)"),
    ("negative", "−a"), ("pow", "a^b"), ("atan2", "atan2(a, b)"),
])
def test_ops_labelled_by_their_name_are_captioned_by_the_table(op: str, formula: str) -> None:
    """A hand-built graph whose op is labelled by its name (not its symbol)."""
    arity = 1 if op == "negative" else 2
    leaves = [Node(f"n{i}", n, n, "input", value=torch.tensor(2.0)) for i, n in enumerate("ab")]
    out = Node("n6", "y", "y", "output", value=torch.tensor(1.0))
    nodes = [*leaves[:arity], Node("n5", op, op, "op", op=op), out]
    edges = [Edge(n.id, "n5") for n in nodes[:arity]] + [Edge("n5", "n6")]
    g = Graph(nodes, edges, inputs=[n.id for n in nodes[:arity]], outputs=["n6"])
    assert op_info(op).name_infix == (formula[2] if formula[1] == " " else None)
    assert build_frames(g, "forward")[1].caption.startswith(f"y = {formula} = ")


def test_unknown_ops_get_an_entry_from_their_name_and_labels_stay() -> None:
    info = op_info("my$op")
    assert isinstance(info, OpInfo) and info.symbol == r"my\$op" and info.derivative is None
    assert info.function is None and info.cli == ()
    assert [op_label(o) for o in ("mul", "sin", "maximum", "relu", "pow")] == [
        "×", "sin", "max", "ReLU", "xʸ"]
    assert op_label("pow", {"exponent": 2}) == "x²" and op_label("pow", {"exponent": 2.5}) == "x²·⁵"
    with pytest.raises(AttributeError):
        info.symbol = "x"  # type: ignore[misc]
