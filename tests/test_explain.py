"""explain(): path sums equal the gradient, each factor is the op's own derivative; check()."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings

from graphanim import TorchGraph, trackable_function
from graphanim.explain import Explanation

from ._programs import programs
from .test_trace import LECTURE

# Each op differentiated on its own, independently of graphanim's code.
OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "neg": lambda a: -a,
    "sin": torch.sin,
    "cos": torch.cos,
    "exp": torch.exp,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "max": torch.maximum,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
}


def independent_derivative(graph, op, position):
    operands = [
        graph[e.src].value.double().clone().requires_grad_(True) for e in graph.in_edges(op.id)
    ]
    if op.op == "pow":
        out = operands[0] ** op.attrs["exponent"]
    else:
        out = OPS[op.op](*operands)
    (g,) = torch.autograd.grad(out, [operands[position]], allow_unused=True)
    return 0.0 if g is None else float(g)


def assert_explained(graph: TorchGraph, name: str) -> Explanation:
    expl = graph.explain(name)
    total = float(graph.grad(name))
    assert expl.sum is not None
    assert math.isclose(expl.sum, total, rel_tol=1e-12, abs_tol=1e-12), (str(expl), total)
    for term in expl.paths:
        for f in term.factors:
            edge = graph.edges[f.edge]
            op = graph[edge.dst]
            expected = independent_derivative(graph, op, edge.index)
            assert math.isclose(f.value, expected, rel_tol=1e-12, abs_tol=1e-12), (f, expected)
    return expl


def test_branches_text_matches_the_board():
    g = TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])
    g2 = TorchGraph(_e_of, [2.0, 1.0])
    assert str(g2.explain("b")) == "∂e/∂b = ∂e/∂c·∂c/∂b + ∂e/∂d·∂d/∂b = 2·1 + 3·1 = 5"
    assert str(g2.explain("a")) == "∂e/∂a = ∂e/∂c·∂c/∂a = 2·1 = 2"
    assert r"\frac{\partial \mathrm{e}}{\partial \mathrm{b}}" in g2.explain("b")._repr_latex_()
    assert g.explain("b").path_count == 2


def _e_of(a, b):
    c = a + b
    d = b + 1
    e = c * d
    return e


@pytest.mark.parametrize(("func", "args"), LECTURE, ids=lambda v: getattr(v, "__name__", ""))
def test_lecture_explanations_sum_to_the_gradient(func, args):
    g = TorchGraph(func, args)
    for name in g.inputs:
        assert_explained(g, name)


def test_chain_rule_path_lists_each_factor():
    from .test_trace import chain_rule

    g = TorchGraph(chain_rule, [1.0, 2.0, 4.0])
    expl = assert_explained(g, "x")
    (term,) = expl.paths
    assert [f.text for f in term.factors] == ["∂r/∂w", "∂w/∂v", "∂v/∂u", "∂u/∂x"]
    assert [f.value for f in term.factors] == [24.0, 4.0, 1.0, 2.0]


def test_zero_upstream_uses_the_ops_own_derivative():
    # the seed is 0, so no gradient flows; the local derivatives are still known
    g = TorchGraph(lambda x, y: torch.sin(x * y), [1.0, 2.0], grad_outputs=0.0)
    expl = g.explain("x")
    (term,) = expl.paths
    assert term.factors[0].value == pytest.approx(math.cos(2.0))
    assert term.factors[1].value == 2.0
    assert expl.sum == 0.0


def test_many_paths_are_grouped_by_edge():
    def doubling(y):
        for _ in range(30):
            y = y + y * 1.0
        return y

    g = TorchGraph(doubling, [1.0])
    expl = g.explain("y")
    assert expl.grouped and expl.path_count == 2**30
    assert len(expl.paths) == 2
    assert "2^30" in str(expl) or str(2**30) in str(expl)
    assert expl.sum == float(g.grad("y"))


def test_tensor_explanation_names_shapes_and_vjps():
    g = TorchGraph(lambda w, x: (w @ x).tanh().sum(), [[[1.0, 2.0], [3.0, 4.0]], [0.5, -0.5]])
    text = str(g.explain("w"))
    assert "(2×2)" in text and "VJP of matmul" in text


def test_explain_errors():
    g = TorchGraph(_e_of, [2.0, 1.0])
    with pytest.raises(ValueError, match="op"):
        g.explain(g.ops[0].id)
    with pytest.raises(KeyError):
        g.explain("nope")
    with pytest.raises(ValueError, match="backward=True"):
        TorchGraph(_e_of, [2.0, 1.0], backward=False).explain("a")


@settings(max_examples=200, deadline=None)
@given(programs())
def test_random_graphs_explanations(program):
    src, args, seeds, _ = program
    env = {"torch": torch}
    exec(src, env)
    g = TorchGraph(env["prog"], args, seeds)
    for name, node in g.inputs.items():
        if node.grad is not None:
            assert_explained(g, name)


# ------------------------------------------------------------------------- check()


def test_check_agrees_on_lecture_graphs():
    for func, args in LECTURE:
        result = TorchGraph(func, args).check()
        assert result.ok, str(result)
        assert len(result.rows) == len(args)


def test_check_catches_a_wrong_backward():
    @trackable_function
    class BadSquare(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 3 * x  # should be 2x

    g = TorchGraph(lambda x: BadSquare.apply(x), [1.5])
    result = g.check()
    assert not result.ok
    (row,) = result.failures()
    assert row[0] == "x" and row[2] == pytest.approx(4.5) and row[3] == pytest.approx(3.0)
    assert "mismatch" in str(result)


def test_check_tensor_inputs_and_seeds():
    g = TorchGraph(
        lambda a, b: (a * b, (a - b).sum()), [[1.0, 2.0], [3.0, -1.0]], [[1.0, 2.0], 3.0]
    )
    result = g.check()
    assert result.ok, str(result)
    assert [r[1] for r in result.rows] == [(0,), (1,), (0,), (1,)]
