"""Module boxes by geometry: sibling boxes never overlap, nested boxes nest, and no node of another
module lies on a box, on real networks (an MLP with a loss, residual CNN blocks, a Sequential
inside a Module, a ReLU module called twice), in both directions, plain and with everything."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from graphanim import TorchGraph, render
from graphanim.graph import Edge, Graph, Node
from graphanim.scene.boxes import box_chains


def _mlp():
    """README's MLP: Sequential(Linear, Tanh, Linear), mean-squared error against ``target``."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))

    def loss_of(x, target):
        return nn.functional.mse_loss(model(x), target)

    torch.manual_seed(1)
    return TorchGraph(loss_of, [torch.randn(5, 3), torch.randn(5, 1)])


class _Block(nn.Module):
    """conv -> relu -> conv, plus the block's input (a skip connection)."""

    def __init__(self, shared_relu: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 2, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(2, 2, 3, padding=1)
        self.shared_relu = shared_relu

    def forward(self, x):
        out = self.conv2(self.relu(self.conv1(x))) + x
        # torchvision's basic block calls its one ReLU module again after the sum
        return self.relu(out) if self.shared_relu else out


class _ResidualNet(nn.Module):
    def __init__(self, shared_relu: bool = False) -> None:
        super().__init__()
        self.block1 = _Block(shared_relu)
        self.block2 = _Block(shared_relu)

    def forward(self, x):
        return self.block2(self.block1(x))


def _residual(shared_relu: bool = True):
    torch.manual_seed(2)
    net = _ResidualNet(shared_relu)
    return TorchGraph(lambda x: net(x).pow(2).mean(), [torch.randn(1, 2, 4, 4)])


class _Nested(nn.Module):
    """A Sequential inside a Module, with work of the Module's own between its children."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(3, 4)
        self.body = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4))
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        return self.head(self.body(h) + h)


def _nested():
    torch.manual_seed(3)
    model = _Nested()

    def loss_of(x, target):
        return nn.functional.mse_loss(model(x), target)

    return TorchGraph(loss_of, [torch.randn(2, 3), torch.randn(2, 1)])


class _Cell(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ih = nn.Linear(2, 3)

    def forward(self, x, h):
        return torch.tanh(self.ih(x) + h)


class _RNN(nn.Module):
    """One cell applied at each of three time steps, the calls back to back."""

    def __init__(self) -> None:
        super().__init__()
        self.cell = _Cell()

    def forward(self, xs):
        steps = xs.unbind(0)
        h = torch.zeros(xs.shape[1], 3)
        for x in steps:
            h = self.cell(x, h)
        return h


def _rnn():
    torch.manual_seed(4)
    rnn = _RNN()
    return TorchGraph(lambda xs: rnn(xs).pow(2).sum(), [torch.randn(3, 2, 2, requires_grad=True)])


class _ActTwice(nn.Module):
    """One Tanh module called twice back to back, then once more after a Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.act = nn.Tanh()

    def forward(self, x):
        return self.act(self.lin(self.act(self.act(x))))


def _twice():
    torch.manual_seed(5)
    net = nn.Sequential(_ActTwice(), nn.Linear(2, 1))
    return TorchGraph(lambda x: net(x).sum(), [torch.randn(3, 2, requires_grad=True)])


NETS = {"mlp": _mlp, "residual": _residual, "nested": _nested, "rnn": _rnn, "twice": _twice}


def _box_keys(graph) -> dict[str, list[str]]:
    """Node id -> the boxes that must hold it, outermost first, worked out here from the record
    (not by the renderer): a box per module call, ``path`` for the first and ``path-callN`` for
    the N-th call of the module (the calls capture numbered, ``graph.module_calls``; in a graph
    without them, the N-th run of consecutive ops in the module); an op in the calls it ran in
    (a collapsed node in those around it), a value in its op's, a parameter in its owner's (and
    its ancestors') calls that hold every op reading it."""
    out: dict[str, list[str]] = {}
    calls = getattr(graph, "module_calls", None) or {}
    if calls:
        nth: dict[int, int] = {}
        for number, (path, _) in sorted(calls.items()):
            nth[number] = 1 + sum(1 for k in nth if calls[k][0] == path)
        for op in graph.ops:
            start = op.attrs.get("parent_call" if op.attrs.get("collapsed") else "module_call")
            chain = []
            while start is not None:
                chain.insert(0, start)
                start = calls[start][1]
            out[op.id] = [calls[k][0] if nth[k] == 1 else f"{calls[k][0]}-call{nth[k]}"
                          for k in chain if calls[k][0] in graph.modules and calls[k][0]]
    runs: dict[str, int] = {}
    prev: list[str] = []
    for op in graph.ops if not calls else ():
        path = op.attrs.get("module") or ""
        parts = path.split(".") if path else []
        chain = [".".join(parts[:k]) for k in range(1, len(parts) + 1)]
        chain = [p for p in chain if p in graph.modules]
        for p in chain:
            if p not in prev:
                runs[p] = runs.get(p, 0) + 1
        prev = chain
        out[op.id] = [p if runs[p] == 1 else f"{p}-call{runs[p]}" for p in chain]
    for e in graph.edges:
        if graph.node(e.src).kind == "op" and e.dst not in out:
            out[e.dst] = out[e.src]
    for n in graph.nodes:
        if n.attrs.get("parameter"):
            owner = n.name.rsplit(".", 1)[0]
            readers = [out[r.id] for r in graph.successors(n.id)]
            common = [k for k in readers[0] if all(k in r for r in readers)]
            out[n.id] = [k for k in common
                         if owner == _path_of(k) or owner.startswith(_path_of(k) + ".")]
        elif n.kind == "constant" and n.id not in {v.id for v in graph.inputs.values()}:
            readers = [out[r.id] for r in graph.successors(n.id)]
            if readers and all(r == readers[0] for r in readers):
                out[n.id] = readers[0]  # the RNN's first state, read by the cell's first call
    return out


def _drawn(graph, **kw):
    """Drawn module boxes {gid suffix: extents} and node shapes {id: extents}, display pixels."""
    fig = render.plot(graph, **kw)
    ax = fig.axes[0]
    boxes = {p.get_gid()[len("graphanim-module-"):]: p.get_path().transformed(ax.transData)
             .get_extents() for p in ax.patches
             if (p.get_gid() or "").startswith("graphanim-module-")}
    (coll,) = [c for c in ax.collections if c.get_gid() == "graphanim-nodes"]
    nodes = {n.id: p.transformed(ax.transData).get_extents()
             for n, p in zip(graph.nodes, coll.get_paths())}
    return boxes, nodes


def _apart(a, b, gap=1.0) -> bool:
    """Rectangles ``a`` and ``b`` are at least ``gap`` pixels apart on some axis."""
    return (a.x1 + gap <= b.x0 or b.x1 + gap <= a.x0
            or a.y1 + gap <= b.y0 or b.y1 + gap <= a.y0)


def _inside(a, b) -> bool:
    return b.x0 <= a.x0 and a.x1 <= b.x1 and b.y0 <= a.y0 and a.y1 <= b.y1


def _path_of(key: str) -> str:
    return key.split("-call", 1)[0]


def _check(graph, boxes, nodes, *, members=None):
    """Every box holds its members' shapes, nests inside its parent's box, keeps clear of its
    siblings, and no other node touches it. ``members``: box key -> node ids (default: from
    :func:`_box_keys`)."""
    if members is None:
        keys = _box_keys(graph)
        members = {k: {nid for nid, chain in keys.items() if k in chain} for k in boxes}
    assert boxes
    problems = []
    for key, rect in boxes.items():
        for nid, shape in nodes.items():
            if nid in members[key]:
                if not _inside(shape, rect):
                    problems.append(f"{graph.node(nid).name} ({nid}) sticks out of {key}")
            elif not _apart(shape, rect):
                problems.append(f"{graph.node(nid).name} ({nid}) lies on {key}")
    for a, b in itertools.combinations(boxes, 2):
        if members[a] <= members[b] or members[b] <= members[a]:
            inner, outer = (a, b) if members[a] <= members[b] else (b, a)
            if not _inside(boxes[inner], boxes[outer]):
                problems.append(f"{inner} is not nested inside {outer}")
        elif not _apart(boxes[a], boxes[b]):
            problems.append(f"{a} overlaps {b}")
    assert problems == []


@pytest.mark.parametrize("with_all", [False, True])
@pytest.mark.parametrize("direction", ["LR", "TB"])
@pytest.mark.parametrize("name", sorted(NETS))
def test_module_boxes_keep_apart(name, direction, with_all):
    g = NETS[name]()
    boxes, nodes = _drawn(g, with_all=with_all, direction=direction)
    expected = {"mlp": {"model", "model.0", "model.1", "model.2"},
                "residual": {"net"} | {f"net.block{i}{s}" for i in (1, 2)
                                       for s in ("", ".conv1", ".relu", ".conv2", ".relu-call2")},
                "nested": {"model", "model.stem", "model.body", "model.head"}
                | {f"model.body.{i}" for i in range(3)},
                "rnn": {"rnn"} | {f"rnn.cell{s}{c}" for s in ("", ".ih")
                                  for c in ("", "-call2", "-call3")},
                "twice": {"net", "net.0", "net.0.lin", "net.1", "net.0.act", "net.0.act-call2",
                          "net.0.act-call3"}}[name]
    _check(g, boxes, nodes)
    assert set(boxes) == expected


def test_mlp_target_and_tanh_stay_out_of_the_second_linear():
    """The README picture: the loss's ``target`` and the Tanh's output record used to lie on the
    ``model.2: Linear`` box."""
    g = _mlp()
    boxes, nodes = _drawn(g, with_all=True)
    target = next(n.id for n in g.nodes if n.name == "target")
    tanh_out = next(n.id for n in g.nodes if n.name == "tanh" and n.kind != "op")
    for key in ("model", "model.2"):
        assert _apart(nodes[target], boxes[key])
    assert _apart(nodes[tanh_out], boxes["model.2"])
    assert _apart(boxes["model.1"], boxes["model.2"])


def test_a_module_called_twice_gets_a_box_per_call():
    """The block's one ReLU module runs twice with the second conv between: one box per call
    (the bounding box of both would hold the second conv's box), each holding its relu op and
    result; with a ReLU module per call the boxes are the same, named after each module."""
    shared = _residual(shared_relu=True)
    boxes, nodes = _drawn(shared, with_all=True)
    keys = _box_keys(shared)
    for i in (1, 2):
        for key in (f"net.block{i}.relu", f"net.block{i}.relu-call2"):
            held = [shared.node(nid) for nid, chain in keys.items() if chain[-1:] == [key]]
            assert sorted(n.kind for n in held) == ["op", "value"]
            assert all(_inside(nodes[n.id], boxes[key]) for n in held)
    _check(shared, boxes, nodes)
    plain = _residual(shared_relu=False)
    boxes, nodes = _drawn(plain, with_all=True)
    assert not any("-call" in key for key in boxes)
    _check(plain, boxes, nodes)


def test_a_module_called_back_to_back_gets_a_box_per_call():
    """The Tanh module called twice in a row, and the RNN cell at each time step: a box per call,
    each holding only that call's ops and values; the cell's weights, read by every call, sit in
    the RNN's box outside the cells' boxes."""
    g = _twice()
    boxes, nodes = _drawn(g, with_all=True)
    tanhs = [op for op in g.ops if op.attrs.get("module") == "net.0.act"]
    assert len(tanhs) == 3
    for op, key in zip(tanhs, ("net.0.act", "net.0.act-call2", "net.0.act-call3")):
        out = g.successors(op.id)[0]
        assert _inside(nodes[op.id], boxes[key]) and _inside(nodes[out.id], boxes[key])
        others = [o for o in tanhs if o is not op]
        assert all(_apart(nodes[o.id], boxes[key]) for o in others)
    rnn = _rnn()
    boxes, nodes = _drawn(rnn)
    for name in ("rnn.cell.ih.weight", "rnn.cell.ih.bias"):
        p = rnn.parameters[name].id
        assert _inside(nodes[p], boxes["rnn"])
        assert all(_apart(nodes[p], boxes[k]) for k in boxes if k.startswith("rnn.cell"))
    _check(rnn, boxes, nodes)


class _Stack(nn.Module):
    """Layers in a ModuleList the parent calls in turn (the list never runs forward)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.layers[0](torch.tanh(x))


def _stack():
    torch.manual_seed(6)
    stack = _Stack()
    return TorchGraph(lambda x: stack(x).sum(), [torch.randn(2, requires_grad=True)])


@pytest.mark.parametrize("name", [*sorted(NETS), "stack"])
def test_boxes_group_the_ops_as_collapse_does(name):
    """The ops a box at level L holds are the members of one node of ``collapse(graph, L - 1)``,
    and every such node has its box: on the captured graph and on collapsed ones."""
    from graphanim.modules import collapse, module_level

    g = _stack() if name == "stack" else NETS[name]()
    deepest = max(module_level(op.attrs.get("module") or "") for op in g.ops)
    for shown in [g] + [collapse(g, d) for d in range(1, deepest)]:
        chains = box_chains(shown)
        top = deepest if shown is g else shown.depth
        for level in range(1, top + 1):
            held: dict[tuple[str, int], set[str]] = {}
            for op in shown.ops:
                for key in chains.get(op.id, ()):
                    if module_level(key[0]) == level:
                        held.setdefault(key, set()).add(op.id)
            # members are ids of g: map them to the nodes shown (collapsed ones stand for some)
            where = {m: op.id for op in shown.ops for m in op.attrs.get("members", [op.id])}
            expected = [{where[m] for m in op.attrs["members"]}
                        for op in collapse(shown, level - 1).ops if op.attrs.get("collapsed")]
            assert sorted(map(sorted, held.values())) == sorted(map(sorted, expected)), level


def test_collapsed_calls_sit_in_their_parents_boxes():
    g = _rnn()
    from graphanim.modules import collapse

    one = collapse(g, 1)  # three cell nodes in the RNN's box, the shared weights beside them
    boxes, nodes = _drawn(one, with_all=True)
    assert set(boxes) == {"rnn"}
    _check(one, boxes, nodes)
    two = collapse(g, 2)
    boxes, nodes = _drawn(two, with_all=True)
    assert set(boxes) == {"rnn", "rnn.cell", "rnn.cell-call2", "rnn.cell-call3"}
    _check(two, boxes, nodes)


def test_module_pictures_are_deterministic():
    assert render.to_png_bytes(_residual(), with_all=True) == render.to_png_bytes(
        _residual(), with_all=True)


# -- hand-built graphs and positions: the moves that clear a box ---------------------------------


def _hand(nodes, edges, modules):
    """nodes: (name, kind, module or None); ids n0, n1, ...; edges: (src, dst) by index."""
    ns = []
    for i, (name, kind, module) in enumerate(nodes):
        attrs = {"module": module} if kind == "op" and module else {}
        if kind == "parameter":
            kind, attrs = "input", {"parameter": True}
        value = None if kind == "op" else torch.tensor(1.0, dtype=torch.float64)
        ns.append(Node(f"n{i}", name, name, kind, value=value, op=name if kind == "op" else None,
                       attrs=attrs))
    seen: dict[int, int] = {}
    es = []
    for s, d in edges:
        es.append(Edge(f"n{s}", f"n{d}", None, seen.get(d, 0)))
        seen[d] = seen.get(d, 0) + 1
    g = Graph(ns, es, inputs=[n.id for n in ns if n.kind == "input"],
              outputs=[n.id for n in ns if n.kind == "output"],
              parameters=[n.id for n in ns if n.attrs.get("parameter")])
    g.modules = modules
    return g


def test_a_node_that_reads_from_and_feeds_a_box_moves_across_it():
    """The op ``r`` and its value, outside module ``m``, sit in the box's row between its
    parameter and its op; they read from layer 0 and feed the box, so they cannot leave its
    layers: they move to a slot of their own above or below the box."""
    g = _hand([("x", "input", None), ("m.w", "parameter", None), ("r", "op", None),
               ("rv", "value", None), ("mul", "op", "m"), ("y", "output", None)],
              [(0, 2), (2, 3), (3, 4), (1, 4), (4, 5)], {"m": "Scale"})
    pos = {"n0": (0.0, 0.0), "n1": (0.0, 2.0), "n2": (1.0, 2.0), "n3": (2.0, 2.0),
           "n4": (3.0, 2.0), "n5": (4.0, 2.0)}
    for with_all in (False, True):
        boxes, nodes = _drawn(g, with_all=with_all, layout=pos)
        assert set(boxes) == {"m"}
        _check(g, boxes, nodes)


def test_crossing_sibling_boxes_are_parted():
    """Box ``a`` spans a row, box ``b`` a column through it, neither holding a node of the other:
    the smaller one moves across the other."""
    g = _hand([("x", "input", None), ("y", "input", None), ("fa", "op", "a"),
               ("va", "output", None), ("fb", "op", "b"), ("vb", "output", None)],
              [(0, 2), (2, 3), (1, 4), (4, 5)], {"a": "A", "b": "B"})
    pos = {"n0": (-1.0, 1.0), "n1": (0.0, 0.0), "n2": (0.0, 1.0), "n3": (3.0, 1.0),
           "n4": (1.0, 0.0), "n5": (2.0, 2.0)}
    boxes, nodes = _drawn(g, layout=pos)
    assert set(boxes) == {"a", "b"}
    _check(g, boxes, nodes)


# -- edges by geometry: no drawn edge passes through a node that is not one of its ends ----------


def _edges_through_shapes(graph, **kw) -> list[str]:
    """Drawn edges (straight segments) that meet the drawn shape of a node other than their ends."""
    from matplotlib.path import Path as MPath

    fig = render.plot(graph, **kw)
    ax = fig.axes[0]
    (coll,) = [c for c in ax.collections if c.get_gid() == "graphanim-nodes"]
    shapes = [p.transformed(ax.transData) for p in coll.get_paths()]
    (lines,) = [a for a in ax.get_children() if a.get_gid() == "graphanim-edges"]
    ends = lines.get_path().transformed(lines.get_transform()).vertices.reshape(-1, 2, 2)
    assert len(ends) == len(graph.edges)
    hits = []
    for e, seg in zip(graph.edges, ends):
        line = MPath(seg)
        for n, shape in zip(graph.nodes, shapes):
            if n.id in (e.src, e.dst) or not shape.get_extents().overlaps(line.get_extents()):
                continue
            if shape.intersects_path(line, filled=True):
                hits.append(f"{graph.node(e.src).name} -> {graph.node(e.dst).name} over {n.name}")
    return hits


@pytest.mark.parametrize("direction", ["LR", "TB"])
def test_residual_block_edges_miss_the_node_shapes(direction):
    """conv-bn-relu-conv-bn + x: the skip edge and the module inputs drawn two layers long pass
    beside the weights docked there, and the edges of stacked side operands (a batch norm's
    weight above its running mean) turn past the boxes between them and their op."""
    from .test_layout import _residual_graph

    g = _residual_graph()
    for with_all in (False, True):
        assert _edges_through_shapes(g, with_all=with_all, direction=direction) == []


@pytest.mark.parametrize("blocks", [
    [(2, 2, 1, False), (2, 2, 1, False)],
    [(2, 3, 2, True), (3, 3, 1, False)],
], ids=["two blocks", "1x1 conv skip, then a plain block"])
def test_residual_networks_edges_miss_the_node_shapes(blocks):
    from .test_layout import _residual_net

    assert _edges_through_shapes(_residual_net(*blocks)) == []
