"""Layouts: the embedded layered layout, Graphviz dot, user dicts, and the crossing counter."""

from __future__ import annotations

import itertools
import json
import random
import shutil

import pytest

from graphanim.graph import Edge, Graph, Node
from graphanim.layout import (
    GraphvizNotFound,
    compute_layout,
    count_crossings,
    dot_layout,
    layered_layout,
    op_layers,
)
from graphanim.layout.crossings import inversions

from ._bench import load as load_bench
from ._golden import check_golden

dags = load_bench("dags")
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz 'dot' is not installed"
)


@pytest.fixture(scope="module")
def lecture():
    return dags.lecture_graphs()


def small_graph() -> Graph:
    """``e = (a + b) * (b + 1)`` built by hand: a constant, a branch, two inputs."""
    nodes = [
        Node("n0", "a", "a", "input"),
        Node("n1", "b", "b", "input"),
        Node("n2", "add", "+", "op", op="add"),
        Node("n3", "c", "c", "value"),
        Node("n4", "1", "1", "constant"),
        Node("n5", "add", "+", "op", op="add"),
        Node("n6", "d", "d", "value"),
        Node("n7", "mul", "×", "op", op="mul"),
        Node("n8", "e", "e", "output"),
    ]
    edges = [
        Edge("n0", "n2", index=0),
        Edge("n1", "n2", index=1),
        Edge("n2", "n3"),
        Edge("n1", "n5", index=0),
        Edge("n4", "n5", index=1),
        Edge("n5", "n6"),
        Edge("n3", "n7", index=0),
        Edge("n6", "n7", index=1),
        Edge("n7", "n8"),
    ]
    return Graph(nodes, edges, inputs=["n0", "n1"], outputs=["n8"])


# -- invariants -----------------------------------------------------------------------------------
def check_invariants(graph: Graph, pos: dict, direction: str = "LR") -> None:
    assert list(pos) == [n.id for n in graph.nodes]  # every node, in graph order
    for xy in pos.values():
        assert len(xy) == 2 and all(isinstance(v, float) for v in xy)
    assert len({(round(x, 6), round(y, 6)) for x, y in pos.values()}) == len(pos)  # distinct
    flow = 0 if direction == "LR" else 1
    sign = 1 if direction == "LR" else -1
    for e in graph.edges:
        assert sign * (pos[e.dst][flow] - pos[e.src][flow]) >= 1, e  # layers grow along edges
    # one slot between nodes of a layer, coordinates start at 0
    across = 1 - flow
    layers: dict[float, list[float]] = {}
    for xy in pos.values():
        layers.setdefault(xy[flow], []).append(xy[across])
    for ys in layers.values():
        ys.sort()
        assert all(b - a >= 1 - 1e-9 for a, b in itertools.pairwise(ys))
    assert min(xy[0] for xy in pos.values()) == 0
    assert min(xy[1] for xy in pos.values()) == 0


def _is_side_leaf(graph: Graph, node: Node) -> bool:
    """Constants, parameters and buffers that are not function inputs (the layout docks them)."""
    if graph.in_edges(node.id) or node.id in {n.id for n in graph.inputs.values()}:
        return False
    return node.kind == "constant" or bool(node.attrs.get("parameter"))


def check_constants_docked(graph: Graph, pos: dict, direction: str = "LR") -> int:
    """Every constant sits one layer before the op it feeds, next to that op's other operand.

    Between the constant and the operand there may only be other side leaves (constants,
    parameters) docked there, and the distance is exactly the number of steps (no gap). Returns
    how many constants were checked.
    """
    flow, across = (0, 1) if direction == "LR" else (1, 0)
    checked = 0
    for c in graph.nodes:
        if c.kind != "constant" or not _is_side_leaf(graph, c):
            continue
        op = graph.successors(c.id)[0]
        assert abs(pos[op.id][flow] - pos[c.id][flow]) == 1
        partners = [
            m.id
            for m in graph.predecessors(op.id)
            if m.id != c.id and not _is_side_leaf(graph, m) and pos[m.id][flow] == pos[c.id][flow]
        ]
        if not partners:
            continue
        column = sorted(
            (pos[m.id][across], m.id) for m in graph.nodes if pos[m.id][flow] == pos[c.id][flow]
        )
        ids = [i for _, i in column]
        i, j = ids.index(c.id), ids.index(partners[0])
        between = ids[min(i, j) + 1 : max(i, j)]
        assert all(_is_side_leaf(graph, graph.node(b)) for b in between), (c, between)
        assert abs(pos[partners[0]][across] - pos[c.id][across]) == len(between) + 1
        checked += 1
    return checked


# -- layered layout -------------------------------------------------------------------------------
def test_small_graph_positions():
    g = small_graph()
    pos = layered_layout(g)
    check_invariants(g, pos)
    assert pos["n0"][0] == pos["n1"][0] == 0  # inputs in the first column
    assert pos["n8"][0] == max(x for x, _ in pos.values())  # the output in the last
    assert pos["n0"][1] > pos["n1"][1]  # inputs top to bottom in argument order
    assert check_constants_docked(g, pos) == 1
    assert count_crossings(g, pos) == 0


def test_docstring_example_units():
    g = dags.chain(2)
    assert compute_layout(g) == {
        "n0": (0.0, 0.0),
        "n1": (1.0, 0.0),
        "n2": (2.0, 0.0),
        "n3": (3.0, 0.0),
        "n4": (4.0, 0.0),
    }


def test_deterministic_across_runs_and_copies():
    a = layered_layout(dags.random_dag(150, seed=3, p_constant=0.2))
    b = layered_layout(dags.random_dag(150, seed=3, p_constant=0.2))
    assert repr(a) == repr(b)
    g = dags.random_dag(150, seed=3, p_constant=0.2)
    assert layered_layout(g, seed=5) == layered_layout(g, seed=5)


@pytest.mark.parametrize("seed", range(6))
def test_random_dags_invariants(seed):
    g = dags.random_dag(40 + 20 * seed, seed=seed, p_constant=0.3)
    for direction in ("LR", "TB"):
        pos = layered_layout(g, direction=direction)
        check_invariants(g, pos, direction)
        check_constants_docked(g, pos, direction)
        flow = 0 if direction == "LR" else 1
        first = max if direction == "TB" else min
        edge_flow = first(pos[n.id][flow] for n in g.nodes)
        assert all(pos[n.id][flow] == edge_flow for n in g.inputs.values())


def test_lecture_graphs(lecture):
    for name, g in lecture.items():
        for direction in ("LR", "TB"):
            pos = layered_layout(g, direction=direction)
            check_invariants(g, pos, direction)
            check_constants_docked(g, pos, direction)
            assert count_crossings(g, pos, direction=direction) == 0, (name, direction)
        pos = layered_layout(g)
        assert all(pos[n.id][0] == 0 for n in g.inputs.values()), name
        assert pos[g.outputs[0].id][0] == max(x for x, _ in pos.values()), name


def test_lecture_constants_next_to_their_op(lecture):
    checked = sum(check_constants_docked(g, layered_layout(g)) for g in lecture.values())
    assert checked >= 3  # (b + 1), 2 * x, -1.0 * y4 and 1 / y5 have constants with a partner


def test_tb_is_lr_turned(lecture):
    g = lecture["chain_rule"]
    lr, tb = layered_layout(g), layered_layout(g, direction="TB")
    top = max(y for _, y in tb.values())
    right = max(y for _, y in lr.values())
    for nid in lr:
        # LR: x is the layer and the first node of a layer is at the top; TB: layers go down from
        # the top and the first node of a layer is on the left
        assert tb[nid][1] == top - lr[nid][0]
        assert tb[nid][0] == right - lr[nid][1]


def test_parameters_sit_next_to_their_layer(lecture):
    g = lecture["mlp"]
    pos = layered_layout(g)
    for p in g.parameters.values():
        (op,) = g.successors(p.id)
        assert pos[op.id][0] - pos[p.id][0] == 1, p


def test_chain_of_20000_nodes_no_recursion_error():
    g = dags.chain(10_000)
    assert len(g.nodes) == 20_001
    pos = layered_layout(g)
    assert [pos[n.id] for n in g.nodes[:3]] == [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0)]
    assert pos[g.nodes[-1].id] == (20_000.0, 0.0)


def test_non_topological_node_order_and_parallel_edges():
    nodes = [
        Node("n2", "sq", "mul", "op", op="mul"),
        Node("n3", "y", "y", "output"),
        Node("n0", "x", "x", "input"),
    ]
    # x * x: two edges from x into the same op
    edges = [Edge("n0", "n2", index=0), Edge("n0", "n2", index=1), Edge("n2", "n3")]
    g = Graph(nodes, edges, inputs=["n0"], outputs=["n3"])
    pos = layered_layout(g)
    assert pos == {"n2": (1.0, 0.0), "n3": (2.0, 0.0), "n0": (0.0, 0.0)}
    assert count_crossings(g, pos) == 0


def test_empty_single_and_edgeless_graphs():
    assert layered_layout(Graph()) == {}
    one = Graph([Node("n0", "x", "x", "input")], [], inputs=["n0"])
    assert layered_layout(one) == {"n0": (0.0, 0.0)}
    two = Graph([Node("n0", "x", "x", "input"), Node("n1", "y", "y", "input")], [], ["n0", "n1"])
    assert layered_layout(two) == {"n0": (0.0, 1.0), "n1": (0.0, 0.0)}


def test_cycle_is_a_clear_error():
    nodes = [Node("n0", "a", "a", "value"), Node("n1", "f", "f", "op", op="f")]
    g = Graph(nodes, [Edge("n0", "n1"), Edge("n1", "n0")])
    with pytest.raises(ValueError, match="cycle"):
        layered_layout(g)


def test_bad_arguments():
    g = small_graph()
    with pytest.raises(ValueError, match=r"unknown direction 'RL'.*'LR', 'TB'"):
        layered_layout(g, direction="RL")
    with pytest.raises(ValueError, match="max_sweeps"):
        layered_layout(g, max_sweeps=-1)
    with pytest.raises(ValueError, match="seed must be an integer"):
        layered_layout(g, seed=None)  # type: ignore[arg-type]
    # no sweeps at all is allowed and still gives a valid layout
    check_invariants(g, layered_layout(g, max_sweeps=0))


# -- compute_layout dispatch and dict validation --------------------------------------------------
def test_dispatch():
    g = small_graph()
    assert compute_layout(g) == layered_layout(g)
    assert compute_layout(g, "layered", direction="TB") == layered_layout(g, direction="TB")
    assert compute_layout(g, None, seed=1, max_sweeps=3) == layered_layout(g, seed=1, max_sweeps=3)


@pytest.mark.parametrize("bad", ["spring", "DOT", 42, ["n0"]])
def test_unknown_layout_lists_choices(bad):
    with pytest.raises(ValueError) as info:
        compute_layout(small_graph(), bad)
    msg = str(info.value)
    assert repr(bad) in msg
    for choice in ("None", "'layered'", "'dot'", "dict"):
        assert choice in msg


def test_dict_layout_is_validated_and_normalised():
    g = small_graph()
    given = {n.id: (i, 2 * i) for i, n in enumerate(g.nodes)}
    out = compute_layout(g, given)
    assert out == {nid: (float(x), float(y)) for nid, (x, y) in given.items()}
    assert all(isinstance(v, float) for xy in out.values() for v in xy)
    import numpy as np

    as_arrays = {nid: np.array(xy, dtype=np.float32) for nid, xy in given.items()}
    assert compute_layout(g, as_arrays) == out


def test_dict_layout_missing_and_unknown_ids():
    g = small_graph()
    pos = {n.id: (0.0, float(i)) for i, n in enumerate(g.nodes)}
    del pos["n3"], pos["n7"]
    with pytest.raises(ValueError, match=r"no position for node ids 'n3', 'n7'"):
        compute_layout(g, pos)
    pos.update({"n3": (1, 1), "n7": (2, 2), "zz": (0, 0)})
    with pytest.raises(ValueError, match=r"unknown node ids 'zz'"):
        compute_layout(g, pos)
    by_name = {n.name: (0, i) for i, n in enumerate(g.nodes)}
    with pytest.raises(ValueError, match="keys are node ids"):
        compute_layout(g, by_name)


@pytest.mark.parametrize(
    "value", ["ab", (1.0,), (1, 2, 3), (float("nan"), 0), (0, float("inf")), 5, (True, 1), None]
)
def test_dict_layout_bad_values(value):
    g = small_graph()
    pos = {n.id: (0.0, float(i)) for i, n in enumerate(g.nodes)}
    pos["n4"] = value
    with pytest.raises(ValueError, match=r"'n4'.*\(x, y\) pairs|pairs of finite numbers.*'n4'"):
        compute_layout(g, pos)


def test_dict_layout_rejects_options():
    g = small_graph()
    with pytest.raises(TypeError, match="seed"):
        compute_layout(g, {n.id: (0, i) for i, n in enumerate(g.nodes)}, seed=1)


# -- Graphviz -------------------------------------------------------------------------------------
def test_graphviz_not_found_message(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    g = small_graph()
    for call in (lambda: dot_layout(g), lambda: compute_layout(g, "dot")):
        with pytest.raises(GraphvizNotFound) as info:
            call()
        msg = str(info.value)
        for hint in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz"):
            assert hint in msg
        assert "layout=None" in msg and "needs nothing" in msg
    assert issubclass(GraphvizNotFound, RuntimeError)


@pytest.mark.graphviz
@needs_dot
def test_dot_layout_units_and_invariants(lecture):
    for name, g in lecture.items():
        for direction in ("LR", "TB"):
            pos = dot_layout(g, direction=direction)
            check_invariants(g, pos, direction)
            assert count_crossings(g, pos, direction=direction) == 0, name
        pos = dot_layout(g)
        assert all(pos[n.id][0] == 0 for n in g.inputs.values())  # inputs in the first rank
    pos = compute_layout(lecture["branch"], "dot")
    assert sorted({x for x, _ in pos.values()}) == [0.0, 1.0, 2.0, 3.0, 4.0]


@pytest.mark.graphviz
@needs_dot
def test_layered_crossings_close_to_dot():
    g = dags.random_dag(100, seed=0)
    ours = count_crossings(g, layered_layout(g))
    theirs = count_crossings(g, dot_layout(g))
    assert ours <= 1.25 * theirs


# -- counting crossings ---------------------------------------------------------------------------
def _graph(n: int, edges: list[tuple[int, int]]) -> Graph:
    nodes = [Node(f"n{i}", f"v{i}", f"v{i}", "value") for i in range(n)]
    return Graph(nodes, [Edge(f"n{a}", f"n{b}") for a, b in edges])


def _pos(points: list[tuple[float, float]]) -> dict:
    return {f"n{i}": p for i, p in enumerate(points)}


def test_count_crossings_basic_cases():
    # an X: 0 -> 3 and 1 -> 2 with 0 above 1 and 3 below 2
    x = _graph(4, [(0, 3), (1, 2)])
    assert count_crossings(x, _pos([(0, 1), (0, 0), (1, 1), (1, 0)])) == 1
    assert count_crossings(x, _pos([(0, 1), (0, 0), (1, 0), (1, 1)])) == 0
    # edges sharing an end node never cross
    fan = _graph(3, [(0, 1), (0, 2)])
    assert count_crossings(fan, _pos([(0, 0), (1, 1), (1, -1)])) == 0
    # a long edge is judged by its straight line: 0 -> 2 (layers 0..2) against 3 -> 4 (1..2)
    long = _graph(5, [(0, 2), (3, 4)])
    assert count_crossings(long, _pos([(0, 0), (9, 9), (2, 4), (1, 3), (2, 1)])) == 1
    assert count_crossings(long, _pos([(0, 0), (9, 9), (2, 1), (1, 3), (2, 4)])) == 0
    # two long edges that meet exactly on a layer line (not at a node) cross once
    meet = _graph(5, [(0, 1), (2, 3)])
    pts = [(0, 0), (2, 2), (0, 2), (2, 0), (1, 5)]
    assert count_crossings(meet, _pos(pts)) == 1
    # parallel edges count once, edges within a layer are ignored
    par = Graph(
        [Node(f"n{i}", "v", "v", "value") for i in range(4)],
        [Edge("n0", "n3"), Edge("n0", "n3", index=1), Edge("n1", "n2"), Edge("n1", "n0")],
    )
    assert count_crossings(par, _pos([(0, 1), (0, 0), (1, 1), (1, 0)])) == 1


def test_count_crossings_tb_and_validation():
    x = _graph(4, [(0, 3), (1, 2)])
    tb = _pos([(0, 1), (1, 1), (0, 0), (1, 0)])
    assert count_crossings(x, tb, direction="TB") == 1
    with pytest.raises(ValueError, match="no position"):
        count_crossings(x, {"n0": (0, 0)})


def _segments_cross(p, q, r, s) -> bool:
    def orient(a, b, c):
        v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        return (v > 0) - (v < 0)

    return orient(p, q, r) * orient(p, q, s) < 0 and orient(r, s, p) * orient(r, s, q) < 0


@pytest.mark.parametrize("seed", range(8))
def test_count_crossings_matches_brute_force(seed):
    rng = random.Random(seed)
    n = 30
    if seed % 2:
        # whole numbers: edges meet on layer lines, pass through nodes, overlap
        pts = rng.sample([(float(x), float(y)) for x in range(6) for y in range(8)], n)
    else:
        pts = [(float(rng.randrange(6)), rng.uniform(0, 10)) for _ in range(n)]
    edges = []
    while len(edges) < 40:
        a, b = rng.randrange(n), rng.randrange(n)
        if pts[a][0] != pts[b][0] and (a, b) not in edges and (b, a) not in edges:
            edges.append((a, b))
    g = _graph(n, edges)
    expected = 0
    for (a, b), (c, d) in itertools.combinations(edges, 2):
        if len({a, b, c, d}) == 4 and _segments_cross(pts[a], pts[b], pts[c], pts[d]):
            expected += 1
    assert count_crossings(g, _pos(pts)) == expected


def test_inversions_matches_brute_force():
    rng = random.Random(0)
    for n in (0, 1, 2, 7, 64, 100):
        seq = [rng.randrange(10) for _ in range(n)]
        expected = sum(1 for i, j in itertools.combinations(range(n), 2) if seq[i] > seq[j])
        import numpy as np

        assert inversions(np.array(seq, dtype=np.int64)) == expected


# -- captured networks: straight main path, side parameters docked ------------------------------
def _mlp_graph():
    torch = pytest.importorskip("torch")
    from graphanim import TorchGraph

    torch.manual_seed(0)
    nn = torch.nn
    net = nn.Sequential(
        nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1)
    ).double()
    x = torch.randn(2, 3, dtype=torch.float64)
    y = torch.randn(2, 1, dtype=torch.float64)
    return TorchGraph(lambda x, y: ((net(x) - y) ** 2).mean(), [x, y])


def _residual_net(*blocks: tuple[int, int, int, bool]):
    """Residual blocks ``(c_in, c_out, stride, projection)`` in a row, captured as ``net(x).sum()``:
    conv-bn-relu-conv-bn plus the skip (``x`` itself, or a 1x1 conv when ``projection``)."""
    torch = pytest.importorskip("torch")
    from graphanim import TorchGraph

    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int, projection: bool) -> None:
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout)
            self.c2, self.b2 = nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout)
            self.proj = nn.Conv2d(cin, cout, 1, stride) if projection else None

        def forward(self, x):  # type: ignore[no-untyped-def]
            h = torch.relu(self.b1(self.c1(x)))
            skip = x if self.proj is None else self.proj(x)
            return torch.relu(self.b2(self.c2(h)) + skip)

    torch.manual_seed(0)
    net = nn.Sequential(*(Block(*b) for b in blocks)).double()
    x = torch.randn(1, blocks[0][0], 8, 8, dtype=torch.float64)
    return TorchGraph(lambda x: net(x).sum(), [x])


def _residual_graph():
    torch = pytest.importorskip("torch")
    from graphanim import TorchGraph

    nn = torch.nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2)
            self.c2, self.b2 = nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2)

        def forward(self, x):  # type: ignore[no-untyped-def]
            h = torch.relu(self.b1(self.c1(x)))
            return torch.relu(self.b2(self.c2(h)) + x)

    torch.manual_seed(0)
    net = Block().double()
    return TorchGraph(lambda x: net(x).sum(), [torch.randn(1, 2, 8, 8, dtype=torch.float64)])


def _transformer_graph():
    torch = pytest.importorskip("torch")
    from graphanim import TorchGraph

    torch.manual_seed(2)
    layer = torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True).train()
    x = torch.randn(2, 4, 16, requires_grad=True)
    return TorchGraph(lambda x: layer(x).pow(2).mean(), [x])


@pytest.mark.parametrize("direction", ["LR", "TB"])
def test_mlp_main_chain_is_straight_and_parameters_docked(direction):
    g = _mlp_graph()
    pos = layered_layout(g, direction=direction)
    check_invariants(g, pos, direction)
    assert count_crossings(g, pos, direction=direction) == 0
    flow, across = (0, 1) if direction == "LR" else (1, 0)
    chain = [n for n in g.nodes if n.kind == "op" and n.op in ("linear", "relu")]
    assert len(chain) == 5
    chain_values = [g.successors(op.id)[0] for op in chain]
    x = g.inputs["x"]
    line = {pos[v.id][across] for v in [x, *chain, *chain_values[:-1]]}
    assert len(line) == 1, sorted(line)  # input, activations and ops on one straight line
    # the last output meets the target y in `-` (two data operands): it may sit one slot aside
    assert abs(pos[chain_values[-1].id][across] - pos[chain[-1].id][across]) <= 1
    for p in g.parameters.values():
        (op,) = g.successors(p.id)
        assert abs(pos[op.id][flow] - pos[p.id][flow]) == 1, p.name  # one layer before its op
        assert abs(pos[p.id][across] - pos[op.id][across]) == 1, p.name  # right next to the line
    for op in chain[::2]:  # each Linear: weight on one side, bias on the other
        w, b = (pos[m.id][across] - pos[op.id][across] for m in g.predecessors(op.id)[1:])
        assert w == -b != 0


def _edges_through_nodes(graph, pos, tol=0.3):
    hits = []
    for e in graph.edges:
        (x0, y0), (x1, y1) = pos[e.src], pos[e.dst]
        for n in graph.nodes:
            px, py = pos[n.id]
            if n.id in (e.src, e.dst) or not min(x0, x1) < px < max(x0, x1):
                continue
            if abs(y0 + (px - x0) / (x1 - x0) * (y1 - y0) - py) < tol:
                hits.append((e.src, e.dst, n.id))
    return hits


def test_residual_block_straight_and_docked():
    g = _residual_graph()
    pos = layered_layout(g)
    check_invariants(g, pos)
    assert count_crossings(g, pos) == 0
    # batch_norm -> relu -> conv2d -> batch_norm and their results on one line up to the add
    # (the first conv2d may sit half a slot off: its input x also feeds the residual edge)
    ops = [n for n in g.nodes if n.kind == "op" and n.op in ("batch_norm", "relu", "conv2d")][1:5]
    main = ops + [g.successors(op.id)[0] for op in ops]
    assert len({pos[n.id][1] for n in main}) == 1, [pos[n.id] for n in main]
    # the input gets a column of its own, outside the first module's box
    x = g.inputs["x"]
    assert pos[x.id][0] == 0 and all(pos[p.id][0] >= 1 for p in g.parameters.values())
    for p in g.parameters.values():
        (op,) = g.successors(p.id)
        assert pos[op.id][0] - pos[p.id][0] == 1, p.name


def _flow_first(pos: dict, direction: str) -> dict:
    """Positions turned so that the flow runs along growing x (what _edges_through_nodes reads)."""
    return pos if direction == "LR" else {k: (-y, x) for k, (x, y) in pos.items()}


@pytest.mark.parametrize("direction", ["LR", "TB"])
def test_residual_block_edges_avoid_nodes(direction):
    # x -> conv2d is drawn two layers long (the module's weights get their own column) and x
    # also feeds the add: the weight and bias docked around that long edge go on the side away
    # from the skip edge, and leaves that a straight long edge would pass over move off its line
    g = _residual_graph()
    pos = layered_layout(g, direction=direction)
    assert _edges_through_nodes(g, _flow_first(pos, direction)) == []
    # the layout keeps half a slot between a long edge's line and a node it passes
    assert _edges_through_nodes(g, _flow_first(pos, direction), tol=0.5) == []


RESIDUAL_NETS = {
    "two blocks": [(2, 2, 1, False), (2, 2, 1, False)],
    "1x1 conv skip": [(2, 3, 1, True)],
    "strided 1x1 conv skip, then a plain block": [(2, 3, 2, True), (3, 3, 1, False)],
}


@pytest.mark.parametrize("name", list(RESIDUAL_NETS))
def test_residual_networks_edges_avoid_nodes(name):
    g = _residual_net(*RESIDUAL_NETS[name])
    for direction in ("LR", "TB"):
        pos = layered_layout(g, direction=direction)
        check_invariants(g, pos, direction)
        check_constants_docked(g, pos, direction)
        assert count_crossings(g, pos, direction=direction) == 0, direction
        assert _edges_through_nodes(g, _flow_first(pos, direction), tol=0.5) == [], direction
        flow = 0 if direction == "LR" else 1
        for p in g.parameters.values():
            (op,) = g.successors(p.id)
            assert abs(pos[op.id][flow] - pos[p.id][flow]) == 1, p.name
    assert layered_layout(g) == layered_layout(g)  # deterministic


def test_transformer_layer_edges_avoid_nodes():
    # the two residual connections of an encoder layer skip over docked weights and biases
    g = _transformer_graph()
    pos = layered_layout(g)
    check_invariants(g, pos)
    assert count_crossings(g, pos) == 0
    assert _edges_through_nodes(g, pos, tol=0.5) == []


# -- shared parameters: one module called several times -----------------------------------------
def _recurrent_graph(steps: int):
    """``h = tanh(cell(h))`` ``steps`` times, one ``nn.Linear`` (weight and bias shared)."""
    torch = pytest.importorskip("torch")
    from graphanim import TorchGraph

    torch.manual_seed(0)
    cell = torch.nn.Linear(2, 2)

    def f(x):  # type: ignore[no-untyped-def]
        h = x
        for _ in range(steps):
            h = torch.tanh(cell(h))
        return h.sum()

    return TorchGraph(f, [torch.tensor([0.5, -1.0])])


def _tied_graph():
    """One ``nn.Linear`` applied twice (tied weights): ``lin(relu(lin(x))).sum()``."""
    torch = pytest.importorskip("torch")
    from graphanim import TorchGraph

    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 3)
    return TorchGraph(lambda x: lin(torch.relu(lin(x))).sum(), [torch.randn(3)])


def _main_path(graph) -> list:
    """The nodes from the input ``x`` to the output, through ops and the values they make."""
    path = [graph.inputs["x"]]
    while graph.successors(path[-1].id):
        (nxt,) = graph.successors(path[-1].id)  # every node on the path feeds one op or value
        path.append(nxt)
    assert path[-1].id == graph.outputs[0].id
    return path


SHARED_PARAMETERS = {
    "recurrent cell, 3 steps": lambda: _recurrent_graph(3),
    "recurrent cell, 6 steps": lambda: _recurrent_graph(6),
    "tied weights": _tied_graph,
}


@pytest.mark.parametrize("name", list(SHARED_PARAMETERS))
def test_shared_parameters_keep_the_main_path_straight(name):
    # a weight and a bias feeding ops in several layers sit on either side of one straight main
    # path (no staircase), their lines reaching every use without crossing anything
    g = SHARED_PARAMETERS[name]()
    path = _main_path(g)
    assert len(path) >= 9
    for direction in ("LR", "TB"):
        pos = layered_layout(g, direction=direction)
        check_invariants(g, pos, direction)
        assert count_crossings(g, pos, direction=direction) == 0, direction
        across = 1 if direction == "LR" else 0
        line = [pos[n.id][across] for n in path]
        assert max(line) - min(line) <= 0.5, (direction, line)
        # each parameter wholly on one side of the path, the two on opposite sides
        sides = {p.name: pos[p.id][across] - line[0] for p in g.parameters.values()}
        assert len(sides) == 2 and all(abs(d) >= 1 for d in sides.values()), sides
        assert min(sides.values()) < 0 < max(sides.values()), sides
        # the shallow lines to the later uses keep half a slot from the nodes they pass
        assert _edges_through_nodes(g, _flow_first(pos, direction), tol=0.5) == [], direction
    assert layered_layout(g) == layered_layout(g)  # deterministic
    assert count_crossings(g, g.layout()) == 0


# -- golden positions: the refactored layout gives exactly what the reviewed one gave -----------
def _positions_text(graphs: dict[str, Graph], directions: tuple[str, ...]) -> str:
    """One JSON document, one node per line: ``"name/direction": [[id, x, y], ...]`` plus the
    crossing count of each layout (floats written exactly, so equal text is equal positions)."""
    blocks = []
    for name, g in graphs.items():
        for direction in directions:
            pos = layered_layout(g, direction=direction)
            crossings = count_crossings(g, pos, direction=direction)
            rows = ",\n".join(json.dumps([nid, x, y]) for nid, (x, y) in pos.items())
            blocks.append(
                f"{json.dumps(f'{name}/{direction}')}: "
                f"{{\"crossings\": {crossings}, \"positions\": [\n{rows}\n]}}"
            )
    text = "{\n" + ",\n".join(blocks) + "\n}\n"
    json.loads(text)  # the file stays valid JSON
    return text


def test_golden_lecture_and_module_graphs(lecture):
    graphs = dict(lecture)
    graphs.update(
        {
            "mlp 3-4-4-1": _mlp_graph(),
            "residual block": _residual_graph(),
            "residual net, projection": _residual_net((2, 2, 1, False), (2, 4, 2, True)),
            "recurrent cell, 3 steps": _recurrent_graph(3),
            "tied weights": _tied_graph(),
            "random DAG 100 ops, 30% constants": dags.random_dag(100, 0, p_constant=0.3),
        }
    )
    check_golden("layout_lecture.json", _positions_text(graphs, ("LR", "TB")))


def test_golden_dag_1000_ops():
    graphs = {"random DAG 1000 ops": dags.random_dag(1000, seed=0)}
    check_golden("layout_dag1000.json", _positions_text(graphs, ("LR",)))


@pytest.mark.parametrize("direction", ["LR", "TB"])
def test_op_layers_read_the_flow_coordinate(lecture, direction):
    for g in lecture.values():
        pos = layered_layout(g, direction=direction)
        layers = op_layers(g, pos)
        assert list(layers) == [op.id for op in g.ops]
        flow = [pos[op.id][0] if direction == "LR" else -pos[op.id][1] for op in g.ops]
        assert list(layers.values()) == flow
        # along every op -> value edge the layer grows
        assert all(
            layers[e.src] < layers[e.dst] for e in g.edges if e.src in layers and e.dst in layers
        )


def test_op_layers_of_a_mirrored_dict_layout(lecture):
    g = lecture["branch"]
    pos = layered_layout(g)
    mirrored = {nid: (-x, y) for nid, (x, y) in pos.items()}  # inputs on the right
    assert op_layers(g, mirrored) == {op.id: -mirrored[op.id][0] for op in g.ops}
    assert op_layers(g, {g.nodes[0].id: (0.0, 0.0)}) == {}  # ops without positions left out
