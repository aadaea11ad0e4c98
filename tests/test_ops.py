"""The op table (graphanim.ops) against what the other modules know about ops."""

from __future__ import annotations

import pytest
import torch

from graphanim import TorchGraph
from graphanim.frames import captions
from graphanim.expr import FUNCTIONS
from graphanim.ops import OPS, OpInfo, op_info, op_label


def test_every_function_of_the_expression_language_has_an_entry() -> None:
    spelled = {s for info in OPS.values() for s in info.cli}
    assert set(FUNCTIONS) <= spelled
    assert {"+", "-", "*", "/", "**", "@"} <= spelled


@pytest.mark.parametrize("name", sorted(n for n, i in OPS.items() if i.torch_name))
def test_torch_functions_exist_and_are_what_capture_records(name: str) -> None:
    fn = op_info(name).function
    assert callable(fn)
    unary = name not in ("add", "sub", "mul", "div", "maximum", "minimum", "atan2", "pow",
                         "matmul", "mm", "bmm", "dot")
    if unary and name not in ("max", "min"):
        g = TorchGraph(lambda x: fn(x), [[0.3, 0.6]], backward=False)
        assert g.ops[-1].op == name


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "neg", "sin", "cos", "log", "tanh",
                                "sigmoid"])
def test_derivative_templates_are_the_captions_local_derivatives(op: str) -> None:
    binary = op in ("add", "sub", "mul", "div")
    fn = getattr(torch, op)
    g = TorchGraph((lambda a, b: fn(a, b)) if binary else (lambda a: fn(a)),
                   [0.5, 2.0] if binary else [0.5])
    node = g.ops[0]
    operands, (out,) = g.predecessors(node), g.successors(node)
    names = [n.name for n in operands]
    y = out.name if out.name not in (op, node.name) else f"{op}({names[0]})"
    for i in range(len(operands)):
        expected = captions._local_expr(node, operands, out, i)
        assert op_info(op).derivative[i].format(*names, y=y) == expected


def test_infix_captions_match_the_animation() -> None:
    for name, symbol in captions._INFIX_OPS.items():
        info = op_info(name)
        assert (info.caption is not None and info.caption.format("a", "b") == f"a {symbol} b") or (
            name == "div" and info.infix == "÷"  # captions write division as a slash
        )


def test_unknown_ops_get_an_entry_from_their_name_and_labels_stay() -> None:
    info = op_info("my$op")
    assert isinstance(info, OpInfo) and info.symbol == r"my\$op" and info.derivative is None
    assert info.function is None and info.cli == ()
    assert [op_label(o) for o in ("mul", "sin", "maximum", "relu", "pow")] == [
        "×", "sin", "max", "ReLU", "xʸ"]
    assert op_label("pow", {"exponent": 2}) == "x²" and op_label("pow", {"exponent": 2.5}) == "x²·⁵"
    with pytest.raises(AttributeError):
        info.symbol = "x"  # type: ignore[misc]
