"""Seeded synthetic graphs for the benchmarks (and tests): random DAGs, chains, lecture graphs.

Every function returns a :class:`graphanim.graph.Graph` shaped like a captured autograd graph:
value nodes and op nodes alternate (value -> op -> value), node ids are ``"n0", "n1", ...`` in a
topological order, an op with two operands has two in-edges with ``index`` 0 and 1, and every
value that nothing consumes is an ``"output"`` (a captured graph only holds what reaches an output).

Use it from a benchmark script that lives in ``bench/`` (the script's folder is on ``sys.path``)::

    from dags import chain, lecture_graphs, random_dag

    g = random_dag(1000, seed=0)      # 1000 ops, about 2000 + sqrt(1000) nodes
    c = chain(5000)                   # x -> op -> v1 -> op -> v2 ... (10001 nodes)
    for name, lg in lecture_graphs().items(): ...

From elsewhere, load it by path::

    import importlib.util
    spec = importlib.util.spec_from_file_location("dags", "bench/dags.py")
    dags = importlib.util.module_from_spec(spec); spec.loader.exec_module(dags)

``random_dag`` and ``chain`` are pure Python (no torch). With ``values=True`` their value nodes
and edges carry random float64 scalar tensors as values and gradients (numbers to draw, not the
result of a real computation). ``lecture_graphs`` captures the lecture examples with
``graphanim.TorchGraph``, so their values and gradients are PyTorch's own.
"""

from __future__ import annotations

import math
import random
from typing import Any

from graphanim.graph import Edge, Graph, Node

__all__ = ["LECTURE_GRAPHS", "chain", "lecture_graphs", "random_dag"]

# (op name, display label, arity)
_UNARY = (("sin", "sin"), ("exp", "exp"), ("neg", "−"), ("pow", "x²"), ("tanh", "tanh"))
_BINARY = (("add", "+"), ("mul", "×"), ("sub", "−"), ("div", "÷"))


class _Builder:
    """Appends nodes and edges with consecutive ids, value -> op -> value."""

    def __init__(self, rng: random.Random | None) -> None:
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.inputs: list[str] = []
        self.rng = rng  # None: no values

    def _scalar(self) -> Any:
        if self.rng is None:
            return None
        import torch

        return torch.tensor(round(self.rng.uniform(-3.0, 3.0), 6), dtype=torch.float64)

    def value(self, name: str, kind: str) -> str:
        nid = f"n{len(self.nodes)}"
        self.nodes.append(
            Node(nid, name, name, kind, value=self._scalar(), grad=self._scalar(), dtype="float64")
        )
        if kind == "input":
            self.inputs.append(nid)
        return nid

    def op(self, op: str, label: str, operands: list[str], out_name: str) -> str:
        oid = f"n{len(self.nodes)}"
        self.nodes.append(Node(oid, op, label, "op", op=op))
        for i, src in enumerate(operands):
            self.edges.append(Edge(src, oid, grad=self._scalar(), index=i))
        vid = self.value(out_name, "value")
        self.edges.append(Edge(oid, vid, grad=self._scalar(), index=0))
        return vid

    def build(self) -> Graph:
        used = {e.src for e in self.edges}
        outputs = []
        for n in self.nodes:
            if n.kind == "value" and n.id not in used:
                n.kind = "output"
                outputs.append(n.id)
        ops = [n.id for n in self.nodes if n.kind == "op"]
        return Graph(self.nodes, self.edges, self.inputs, outputs, backward_order=ops[::-1])


def random_dag(
    n_ops: int,
    seed: int = 0,
    *,
    n_inputs: int | None = None,
    window: int | None = None,
    p_constant: float = 0.0,
    values: bool = False,
) -> Graph:
    """A random computation graph with ``n_ops`` ops.

    Each op has one or two operands (probability 1/2 each), distinct earlier values chosen
    uniformly (among the last ``window`` values when ``window`` is given), and one output value.
    Unary ops are ``sin, exp, neg, pow, tanh``, binary ones ``add, mul, sub, div``.

    Parameters
    ----------
    n_ops : int
        Number of op nodes (the graph has ``2 * n_ops + n_inputs`` nodes, plus constants).
    seed : int
        Seed of the private random generator: same arguments, same graph.
    n_inputs : int, optional
        Number of inputs ``x0, x1, ...``; default ``max(2, isqrt(n_ops))``.
    window : int, optional
        Draw operands among the ``window`` most recent values only (locality, like real code);
        default: among all earlier values.
    p_constant : float
        Probability that a binary op's second operand is a fresh ``"constant"`` node instead.
    values : bool
        Give value nodes and edges random float64 scalar tensors as values and gradients.
    """
    if n_ops < 0:
        raise ValueError(f"n_ops must be >= 0, got {n_ops}")
    rng = random.Random(seed)
    b = _Builder(random.Random(seed + 1) if values else None)
    n_in = max(2, math.isqrt(n_ops)) if n_inputs is None else n_inputs
    if n_in < 1:
        raise ValueError(f"n_inputs must be >= 1, got {n_in}")
    pool = [b.value(f"x{i}", "input") for i in range(n_in)]
    for k in range(n_ops):
        lo = 0 if window is None else max(0, len(pool) - window)
        binary = rng.random() < 0.5 and len(pool) - lo >= 2
        if binary:
            op, label = _BINARY[rng.randrange(len(_BINARY))]
            if rng.random() < p_constant:
                const = b.value(str(rng.randint(1, 9)), "constant")
                operands = [pool[rng.randrange(lo, len(pool))], const]
            else:
                i, j = rng.sample(range(lo, len(pool)), 2)
                operands = [pool[i], pool[j]]
        else:
            op, label = _UNARY[rng.randrange(len(_UNARY))]
            operands = [pool[rng.randrange(lo, len(pool))]]
        pool.append(b.op(op, label, operands, f"v{k}"))
    return b.build()


def chain(n_ops: int, *, values: bool = False) -> Graph:
    """A chain ``x -> sin -> v0 -> exp -> v1 -> ...`` of ``n_ops`` unary ops.

    It has ``2 * n_ops + 1`` nodes; with ``values=True`` values and gradients are random numbers.
    """
    if n_ops < 0:
        raise ValueError(f"n_ops must be >= 0, got {n_ops}")
    b = _Builder(random.Random(1) if values else None)
    cur = b.value("x", "input")
    for k in range(n_ops):
        op, label = _UNARY[k % len(_UNARY)]
        cur = b.op(op, label, [cur], f"v{k}")
    return b.build()


#: Names of the graphs :func:`lecture_graphs` returns, in order, with what they compute.
LECTURE_GRAPHS = {
    "chain_rule": "r = ((x²+y)·z)² at x=1, y=2, z=4",
    "branch": "e = (a+b)(b+1) at a=2, b=1",
    "neuron": "1/(-max(exp(x0*w0 + x1*w1), w2)) at x0=4, w0=1, x1=-2, w1=2, w2=0.5",
    "sin": "sin(a*x + c) at x=2, a=3, c=4",
    "linear": "2*x + y at x=1, y=2",
    "sigmoid": "a custom trackable sigmoid Function of a*x + b",
    "mlp": "a 2-3-1 MLP (sigmoid activations, squared-error loss); the data x is a constant",
}


def lecture_graphs() -> dict[str, Graph]:
    """The lecture examples captured with :class:`graphanim.TorchGraph` (imports torch).

    Keys and meaning are :data:`LECTURE_GRAPHS`.
    """
    import torch

    from graphanim import TorchGraph, trackable_function

    def chain_rule(x, y, z):  # type: ignore[no-untyped-def]
        u = x**2
        v = u + y
        w = z * v
        r = w**2
        return r

    def branch(a, b):  # type: ignore[no-untyped-def]
        c = a + b
        d = b + 1
        e = c * d
        return e

    def neuron(x0, w0, x1, w1, w2):  # type: ignore[no-untyped-def]
        y0 = x0 * w0
        y1 = x1 * w1
        y2 = y0 + y1
        y3 = torch.exp(y2)
        y4 = torch.max(y3, w2)
        y5 = -1.0 * y4
        y6 = 1 / y5
        return y6

    def sine(x, a, c):  # type: ignore[no-untyped-def]
        y = torch.sin(a * x + c)
        return y

    def linear(x, y):  # type: ignore[no-untyped-def]
        return 2 * x + y

    @trackable_function
    class Sigmoid(torch.autograd.Function):
        name = r"$\sigma$"

        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            y = 1 / (1 + torch.exp(-x))
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad_output):  # type: ignore[no-untyped-def]
            (y,) = ctx.saved_tensors
            return y * (1 - y) * grad_output

    def sigmoid(x, a, b):  # type: ignore[no-untyped-def]
        z = a * x + b
        s = Sigmoid.apply(z)
        return s

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 3), torch.nn.Sigmoid(), torch.nn.Linear(3, 1), torch.nn.Sigmoid()
    ).double()

    def mlp(x, target):  # type: ignore[no-untyped-def]
        out = net(x)
        loss = ((out - target) ** 2).mean()
        return loss

    return {
        "chain_rule": TorchGraph(chain_rule, [1.0, 2.0, 4.0]),
        "branch": TorchGraph(branch, [2.0, 1.0]),
        "neuron": TorchGraph(neuron, [4.0, 1.0, -2.0, 2.0, 0.5]),
        "sin": TorchGraph(sine, [2.0, 3.0, 4.0]),
        "linear": TorchGraph(linear, [1.0, 2.0]),
        "sigmoid": TorchGraph(sigmoid, [0.5, 2.0, -1.0]),
        "mlp": TorchGraph(mlp, [torch.tensor([[0.5, -1.0]], dtype=torch.float64), [[1.0]]]),
    }
