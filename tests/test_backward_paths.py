"""The fast backward path against hooks on every autograd node.

``trace`` normally captures every value's gradient in one ``torch.autograd.grad`` call, hooks
only the ops that feed a value read more than once, and derives the engine's order from the
graph. With ``HOOK_EVERY_NODE`` every node is hooked and the engine itself reports the order it
ran them in and every gradient it passed. Both must give the same graph, number for number.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings

from graphanim import TorchGraph
from graphanim.capture import backward as trace

from ._functions import Sigmoid
from ._programs import programs
from .test_properties import build, programs_with_functions

pytestmark = pytest.mark.skipif(
    not trace._edge_inputs_supported(), reason="torch.autograd.grad takes no GradientEdge"
)


@contextmanager
def hook_every_node() -> Iterator[None]:
    before = trace.HOOK_EVERY_NODE
    trace.HOOK_EVERY_NODE = True
    try:
        yield
    finally:
        trace.HOOK_EVERY_NODE = before


def same_tensor(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and a.dtype == b.dtype and bool(
        torch.equal(a, b) or torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)
    )


def assert_same_graph(func: Callable[..., Any], args: list[Any], seeds: Any = None) -> TorchGraph:
    fast = TorchGraph(func, args, seeds)
    with hook_every_node():
        slow = TorchGraph(func, args, seeds)
    assert [n.id for n in fast.backward_order] == [n.id for n in slow.backward_order]
    assert fast.to_dot() == slow.to_dot()
    assert len(fast.nodes) == len(slow.nodes) and len(fast.edges) == len(slow.edges)
    for a, b in zip(fast.nodes, slow.nodes, strict=True):
        assert same_tensor(a.grad, b.grad), (a, a.grad, b.grad)
    for a, b in zip(fast.edges, slow.edges, strict=True):
        assert same_tensor(a.grad, b.grad), (a, a.grad, b.grad)
    return fast


def test_the_two_paths_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard for the comparisons: the fast path derives the order, the slow one asks the engine."""
    calls = []
    real = trace._engine_order

    def counting(*a: Any) -> Any:
        calls.append(1)
        return real(*a)

    monkeypatch.setattr(trace, "_engine_order", counting)
    f = lambda x: torch.sin(x * 2.0) + 1.0  # noqa: E731
    TorchGraph(f, [0.3])
    assert calls == [1]
    with hook_every_node():
        g = TorchGraph(f, [0.3])
    assert calls == [1] and [n.op for n in g.backward_order] == ["add", "sin", "mul"]


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_programs_same_grads_and_order(program: tuple[str, list[float], list[float],
                                                             list[str]]) -> None:
    src, args, seeds, _ = program
    env: dict[str, Any] = {"torch": torch}
    exec(src, env)
    assert_same_graph(env["prog"], args, seeds)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(programs_with_functions())
def test_random_programs_with_custom_functions(case: dict[str, Any]) -> None:
    assert_same_graph(build(case), case["args"], case["seeds"])


def random_dag(n: int, seed: int) -> Callable[..., Any]:
    rng = random.Random(seed)
    plan = []
    for k in range(n):
        i, j = rng.randrange(3 + k), rng.randrange(3 + k)
        plan.append((rng.choice(["sin", "tanh", "add", "mul", "sub", "square"]), i, j))

    def f(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        vals = [a, b, c]
        for op, i, j in plan:
            x, y = vals[i], vals[j]
            if op in ("sin", "tanh"):
                vals.append(getattr(torch, op)(x))
            elif op == "square":
                vals.append(x * x)
            else:
                vals.append(getattr(torch, op)(x, y))
        return sum(vals[-5:])  # type: ignore[return-value]

    return f


@pytest.mark.parametrize("seed", range(6))
def test_random_dags_with_fan_out(seed: int) -> None:
    g = assert_same_graph(random_dag(120, seed), [0.1, -0.2, 0.3])
    assert len(g.backward_order) > 20


def test_networks_and_multi_output_ops() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))

    def loss(x: torch.Tensor) -> torch.Tensor:
        h = net(x)
        top, _ = h.max(dim=1)
        a, b = h.unbind(dim=1)
        return (top * a).sum() + Sigmoid.apply(b).sum() + h.norm()

    assert_same_graph(loss, [torch.randn(4, 3)])


def test_in_place_ops_and_several_outputs() -> None:
    def f(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x * y
        u = h * 3.0
        h.mul_(2.0)  # h's tensor now stands for a new value; the old one is still shown
        v = h + u
        v[0] = v[1] * 3.0
        return u, v.sum() * u.sum()

    assert_same_graph(f, [[0.5, 1.5, -1.0], [2.0, -1.0, 0.5]],
                      [torch.tensor([1.0, 0.5, -2.0]), 1.0])


def test_an_output_that_is_also_used_gets_its_edge_share_only() -> None:
    """``v0`` is an output (seeded with 1) and feeds ``cos``: the edge carries only cos's part."""
    def f(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v0 = torch.cos(x)
        v1 = torch.cos(v0)
        return v0, v1

    g = assert_same_graph(f, [0.0], [1.0, 1.0])
    x = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    v0 = torch.cos(x)
    (part,) = torch.autograd.grad(torch.cos(v0), [v0])
    (edge,) = g.out_edges("v0")
    assert float(edge.grad) == pytest.approx(float(part), abs=0, rel=1e-15)
    assert float(g.grad("v0")) == pytest.approx(1.0 + float(part), abs=0, rel=1e-15)
