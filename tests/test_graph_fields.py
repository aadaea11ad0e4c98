"""Graph is complete: every field a capture records exists on any Graph, with a default."""

from __future__ import annotations

import torch

from graphanim import Graph, TorchGraph
from graphanim.graph import Edge, Node
from graphanim.modules import CollapsedGraph, collapse


def _hand_built(grad: float | None) -> Graph:
    g = None if grad is None else torch.tensor(grad)
    x = Node("n0", "x", "x", "input", torch.tensor(2.0), g)
    op = Node("n1", "neg", "−x", "op", op="neg")
    y = Node("n2", "y", "y", "output", torch.tensor(-2.0))
    return Graph([x, op, y], [Edge("n0", "n1"), Edge("n1", "n2")], ["n0"], ["n2"])


def test_a_hand_built_graph_has_every_capture_field() -> None:
    g = _hand_built(None)
    assert g.seeds == [] and g.modules == {} and g.module_calls == {} and g._rng_state is None
    assert g.has_backward is False  # no gradient anywhere
    assert _hand_built(-1.0).has_backward is True
    g.has_backward = True
    assert g.has_backward is True


def test_the_capture_says_whether_it_ran_the_backward_pass() -> None:
    f = lambda a, b: (a * b).sin()  # noqa: E731
    with_bwd = TorchGraph(f, [2.0, 3.0])
    without = TorchGraph(f, [2.0, 3.0], backward=False)
    assert with_bwd.has_backward and not without.has_backward
    assert "has_backward" not in vars(with_bwd)  # one definition: the Graph property
    assert len(with_bwd.seeds) == 1 and without.seeds == [None]
    expected = 3.0 * torch.cos(torch.tensor(6.0, dtype=torch.float64))
    assert float(with_bwd.grad("a")) == float(expected)


def test_collapsed_graphs_keep_the_fields() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh()).double()
    g = TorchGraph(lambda x: net(x).sum(), [[1.0, 2.0]])
    c = collapse(g, 0)
    assert isinstance(c, CollapsedGraph) and c.source is g and c.depth == 0
    assert c.has_backward and c.seeds == g.seeds and "net" in c.modules
    bare = CollapsedGraph()
    assert bare.source is None and bare.depth == 0 and bare.has_backward is False
