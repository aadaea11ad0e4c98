"""Module trees and collapsing on real networks: an MLP, a ResNet-like CNN, a transformer layer.

Every gradient a collapsed module shows is checked against PyTorch: in a separate plain run, a
forward pre-hook gives each module call its own alias of its input (``x.view_as(x)``), used only
inside that call, so ``torch.autograd.grad(loss, alias)`` is exactly the gradient the module
sends back to its input.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from PIL import Image
from torch import nn

from graphanim import TorchGraph
from graphanim.graph import Edge, Graph, Node
from graphanim.modules import (
    CollapsedGraph,
    at_depth,
    auto_depth,
    collapse,
    module_level,
    module_tree,
)

# -- the three networks ---------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block: one ReLU module, called twice."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNetLike(nn.Module):
    """ResNet-18's layout (stem, 4 stages of 2 basic blocks, pool, fc) with few channels."""

    def __init__(self, width: int = 4, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        cin = width
        for i in range(4):
            cout = width * 2**i
            stride = 1 if i == 0 else 2
            setattr(
                self,
                f"layer{i + 1}",
                nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout)),
            )
            cin = cout
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class Net:
    """A network, its loss function (the one captured), arguments and module prefix."""

    def __init__(self, name: str, module: nn.Module, func: Any, args: list[Any]) -> None:
        self.name = name
        self.module = module
        self.func = func
        self.args = args

    @property
    def modules(self) -> dict[str, nn.Module]:
        # paths as capture names them: prefixed with the closure variable holding the module
        return dict(self.module.named_modules(prefix=self.name))


def make_mlp() -> Net:
    torch.manual_seed(0)
    sizes = [10, 20, 30, 40, 1]
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    mlp = nn.Sequential(*layers[:-1])
    x = torch.randn(100, 10, requires_grad=True)
    y = torch.randn(100, 1)

    def loss(x: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(mlp(x), y)

    return Net("mlp", mlp, loss, [x])


def make_resnet() -> Net:
    torch.manual_seed(1)
    resnet = ResNetLike()
    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    target = torch.tensor([3])

    def loss(x: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(resnet(x), target)

    return Net("resnet", resnet, loss, [x])


def make_transformer() -> Net:
    torch.manual_seed(2)
    # train mode with dropout 0: deterministic, and autograd records every op (in eval mode
    # PyTorch may take its fused fast path when no gradient is needed)
    encoder = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, batch_first=True).train()
    x = torch.randn(4, 16, 64, requires_grad=True)

    def loss(x: torch.Tensor) -> torch.Tensor:
        return encoder(x).pow(2).mean()

    return Net("encoder", encoder, loss, [x])


NETS = {"mlp": make_mlp, "resnet": make_resnet, "transformer": make_transformer}


@pytest.fixture(scope="module", params=list(NETS))
def net(request: pytest.FixtureRequest) -> tuple[Net, TorchGraph, dict[str, Any]]:
    """A network, its captured graph and a plain reference run (module calls, gradients)."""
    n = NETS[request.param]()
    graph = TorchGraph(n.func, n.args)
    return n, graph, reference(n)


def reference(n: Net) -> dict[str, Any]:
    """Plain forward + backward: per module call its input, output and the gradient it sends
    to its input; the parameter gradients."""
    calls: dict[str, list[dict[str, Any]]] = {path: [] for path in n.modules}
    handles = []

    def pre(path: str) -> Any:
        def hook(mod: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
            aliases: dict[int, torch.Tensor] = {}
            new = []
            for a in args:
                if isinstance(a, torch.Tensor) and a.requires_grad:
                    if id(a) not in aliases:
                        aliases[id(a)] = a.view_as(a)
                    a = aliases[id(a)]
                new.append(a)
            calls[path].append({"inputs": list(aliases.values())})
            return tuple(new)

        return hook

    def post(path: str) -> Any:
        def hook(mod: nn.Module, args: Any, out: Any) -> None:
            out = out[0] if isinstance(out, tuple) else out
            calls[path][-1]["output"] = out

        return hook

    for path, m in n.modules.items():
        handles.append(m.register_forward_pre_hook(pre(path)))
        handles.append(m.register_forward_hook(post(path)))
    try:
        leaves = [a for a in n.args if isinstance(a, torch.Tensor) and a.requires_grad]
        loss = n.func(*(a.detach().requires_grad_(a.requires_grad) for a in n.args))
    finally:
        for h in handles:
            h.remove()
    params = dict(n.module.named_parameters(prefix=n.name))
    aliases = [t for cs in calls.values() for c in cs for t in c["inputs"]]
    grads = torch.autograd.grad(loss, list(params.values()) + aliases, allow_unused=True)
    param_grads = dict(zip(params, grads[: len(params)]))
    alias_grads = {id(t): g for t, g in zip(aliases, grads[len(params) :])}
    for cs in calls.values():
        for c in cs:
            c["grads"] = [alias_grads[id(t)] for t in c["inputs"]]
    assert leaves  # the networks take an input that requires grad
    return {"calls": calls, "param_grads": param_grads, "loss": loss.detach()}


def close(a: Any, b: Any) -> bool:
    return (
        a is not None
        and b is not None
        and torch.allclose(a.double(), b.detach().double(), rtol=1e-4, atol=1e-6)
    )


# -- module paths ---------------------------------------------------------------------------------


def test_module_paths_recorded(net: tuple[Net, TorchGraph, dict[str, Any]]) -> None:
    n, g, _ = net
    expected = {path: type(m).__name__ for path, m in n.modules.items()}
    if n.name == "encoder":
        # dropout with p=0 returns its input, so no op runs inside the Dropout modules; and
        # MultiheadAttention reads out_proj's weight without calling the module
        expected = {p: c for p, c in expected.items() if "dropout" not in p and "out_proj" not in p}
    assert g.modules == expected
    on_ops = {op.attrs.get("module") for op in g.ops}
    assert None in on_ops  # the loss is computed outside the network
    assert on_ops - {None} <= set(g.modules)
    leaf_modules = {p for p in expected if not any(q.startswith(p + ".") for q in expected)}
    assert leaf_modules <= on_ops  # every innermost module ran an op that is in the graph


def test_module_tree(net: tuple[Net, TorchGraph, dict[str, Any]]) -> None:
    n, g, _ = net
    tree = module_tree(g)
    assert next(iter(tree)) == ""
    assert set(tree) == {""} | set(g.modules)
    assert tree[""].ops == [op.id for op in g.ops]
    for path, info in tree.items():
        assert info.level == module_level(path)
        for child in info.children:
            assert tree[child].parent == path
            assert set(tree[child].ops) <= set(info.ops)
        if path:
            assert info.cls == g.modules[path]
            assert list(tree).index(info.parent) < list(tree).index(path)  # type: ignore[arg-type]
    top = tree[n.name]
    assert sorted(top.parameters) == sorted(dict(n.module.named_parameters(prefix=n.name)))
    assert top.parameters == list(g.parameters)  # both in order of first use
    assert [g.node(i).name for i in top.inputs] == ["x"]
    (out,) = top.outputs
    assert g.node(out).shape == tuple(n.module(n.args[0]).shape)


# -- collapsing: gradients and values against PyTorch --------------------------------------------


def test_collapsed_gradients_match_pytorch(net: tuple[Net, TorchGraph, dict[str, Any]]) -> None:
    n, g, ref = net
    deepest = max(module_level(op.attrs.get("module") or "") for op in g.ops)
    checked = 0
    for depth in range(deepest):
        c = collapse(g, depth)
        seen: dict[str, int] = {}
        for op in c.ops:
            if not op.attrs.get("collapsed"):
                continue
            path = op.attrs["module"]
            k = seen[path] = seen.get(path, -1) + 1
            call = ref["calls"][path][k]  # one collapsed node per call of the module
            (edge,) = c.in_edges(op.id)  # one input; parameters and buffers are folded
            (alias,) = call["inputs"]
            assert torch.equal(c.node(edge.src).value, alias.detach())
            assert close(edge.grad, call["grads"][0]), (depth, path)
            outs = c.successors(op.id)
            assert len(outs) == 1
            assert torch.allclose(outs[0].value, call["output"].detach(), rtol=1e-5, atol=1e-6)
            for name in op.attrs["parameters"]:
                assert close(op.attrs["parameter_grads"][name], ref["param_grads"][name])
            assert op.attrs["ops"] == len(op.attrs["members"])
            checked += 1
        for path, calls in ref["calls"].items():
            if module_level(path) == depth + 1:
                assert seen.get(path, -1) + 1 == (len(calls) if path in g.modules else 0)
    assert checked >= {"mlp": 8, "resnet": 30, "encoder": 6}[n.name]


def test_parameter_gradients_match_param_grad(
    net: tuple[Net, TorchGraph, dict[str, Any]],
) -> None:
    _, g, ref = net
    assert sorted(g.parameters) == sorted(ref["param_grads"])
    for name, expected in ref["param_grads"].items():
        assert close(g.grad(name), expected), name
    # every parameter is folded into exactly one collapsed node at depth 0
    c = collapse(g, 0)
    folded = [p for op in c.ops for p in op.attrs.get("parameters", [])]
    assert sorted(folded) == sorted(ref["param_grads"])
    assert not c.parameters


def test_collapse_preserves_values_and_structure(
    net: tuple[Net, TorchGraph, dict[str, Any]],
) -> None:
    n, g, _ = net
    before = g.to_dot()
    deepest = max(module_level(op.attrs.get("module") or "") for op in g.ops)
    for depth in range(deepest + 1):
        c = collapse(g, depth)
        assert isinstance(c, CollapsedGraph) and c.source is g and c.depth == depth
        ids = [node.id for node in c.nodes]
        assert len(set(ids)) == len(ids)
        pos = {i: k for k, i in enumerate(ids)}
        for e in c.edges:  # topological, value and op nodes alternate
            assert pos[e.src] < pos[e.dst]
            assert (c.node(e.src).kind == "op") != (c.node(e.dst).kind == "op")
        for node in c.nodes:
            if node.kind != "op":
                orig = g.node(node.id)
                assert node.name == orig.name and node.kind == orig.kind
                for mine, theirs in ((node.value, orig.value), (node.grad, orig.grad)):
                    # the same numbers, not a copy of them
                    assert (mine is None) == (theirs is None)
                    if mine is not None:
                        assert torch.equal(mine, theirs)
                        assert mine.data_ptr() == theirs.data_ptr()
        assert [o.id for o in c.outputs] == [o.id for o in g.outputs]
        assert list(c.inputs) == list(g.inputs)
        assert c.seeds == g.seeds
        assert close(c.value(c.outputs[0]), ref_loss(n))
        # backward: every op once, and an op only after every op reading its outputs
        order = [op.id for op in c.backward_order]
        assert sorted(order) == sorted(op.id for op in c.ops)
        for op in c.ops:
            for value in c.successors(op):
                for reader in c.successors(value):
                    assert order.index(reader.id) < order.index(op.id)
        assert set(c.modules) <= set(g.modules)
        shown = {op.attrs.get("module") for op in c.ops} - {None}
        assert shown <= set(c.modules)
        assert all(module_level(p) <= depth + 1 for p in c.modules)
    assert g.to_dot() == before  # the original is untouched
    full = collapse(g, deepest)
    assert [op.id for op in full.ops] == [op.id for op in g.ops]
    assert [op.id for op in full.backward_order] == [op.id for op in g.backward_order]


def ref_loss(n: Net) -> torch.Tensor:
    return n.func(*n.args).detach()


def test_collapse_is_deterministic(net: tuple[Net, TorchGraph, dict[str, Any]]) -> None:
    n, g, _ = net
    again = TorchGraph(n.func, n.args)
    for depth in (0, 1):
        a, b = collapse(g, depth), collapse(again, depth)
        assert a.to_dot() == b.to_dot()
        assert [(e.src, e.dst, e.index) for e in a.edges] == [
            (e.src, e.dst, e.index) for e in b.edges
        ]
        assert a.to_dot() == collapse(g, depth).to_dot()


def test_auto_depth_fits(net: tuple[Net, TorchGraph, dict[str, Any]]) -> None:
    _, g, _ = net
    deepest = max(module_level(op.attrs.get("module") or "") for op in g.ops)
    assert auto_depth(g, max_ops=len(g.ops)) is None
    for max_ops in range(1, len(g.ops)):
        d = auto_depth(g, max_ops=max_ops)
        assert d is not None and 0 <= d < deepest
        if len(collapse(g, d).ops) > max_ops:
            assert d == 0  # nothing fits: the fewest ops collapsing can give
        elif d + 1 < deepest:
            assert len(collapse(g, d + 1).ops) > max_ops  # the deepest that fits


def test_resnet_depths() -> None:
    n = make_resnet()
    g = TorchGraph(n.func, n.args)
    sizes = {d: len(collapse(g, d).ops) for d in range(5)}
    assert sizes == {0: 2, 1: 11, 2: 15, 3: 66, 4: 69}
    assert [op.label for op in collapse(g, 0).ops] == ["resnet · ResNetLike", "cross_entropy"]
    blocks = [op for op in collapse(g, 2).ops if op.attrs.get("collapsed")]
    assert [op.name for op in blocks] == [
        f"resnet.layer{i}.{j}" for i in (1, 2, 3, 4) for j in (0, 1)
    ]
    assert [op.attrs["ops"] for op in blocks] == [7, 7, 9, 7, 9, 7, 9, 7]
    # the block's ReLU module runs twice with work in between: two nodes, no cycle
    relus = [op for op in collapse(g, 3).ops if op.name == "resnet.layer1.0.relu"]
    assert len(relus) == 2
    assert auto_depth(g) == 2
    assert auto_depth(g, max_ops=11) == 1 and auto_depth(g, max_ops=10) == 0


# -- hand-built and small graphs ------------------------------------------------------------------


def test_tied_weight_stays_an_input() -> None:
    torch.manual_seed(3)
    a, b = nn.Linear(3, 3).double(), nn.Linear(3, 3).double()
    b.weight = a.weight

    def f(x: torch.Tensor) -> torch.Tensor:
        return b(torch.tanh(a(x))).sum()

    g = TorchGraph(f, [[1.0, 2.0, 3.0]])
    c = collapse(g, 0)
    la, lb = (op for op in c.ops if op.attrs.get("collapsed"))
    assert la.attrs["parameters"] == ["a.bias"] and lb.attrs["parameters"] == ["b.bias"]
    assert list(c.parameters) == ["a.weight"]
    w = c.parameters["a.weight"]
    into = [e for e in c.edges if e.src == w.id]
    assert [e.dst for e in into] == [la.id, lb.id]
    assert torch.allclose(into[0].grad + into[1].grad, g.grad("a.weight"))


def _hand_graph() -> Graph:
    # x -> [m.0: mul] -> u -> [m.1: sin] -> v -> [top: neg] -> y, with parameter w in m.0
    nodes = [
        Node("n0", "x", "x", "input", torch.tensor(2.0), torch.tensor(-3.0)),
        Node(
            "n1",
            "m.0.w",
            "m.0.w",
            "input",
            torch.tensor(3.0),
            torch.tensor(-2.0),
            attrs={"parameter": True},
        ),
        Node("n2", "mul", "×", "op", op="mul", attrs={"module": "m.0"}),
        Node("n3", "u", "u", "value", torch.tensor(6.0), torch.tensor(-1.0)),
        Node("n4", "sin", "sin", "op", op="sin", attrs={"module": "m.1"}),
        Node("n5", "v", "v", "value", torch.tensor(0.5), torch.tensor(-1.0)),
        Node("n6", "neg", "−x", "op", op="neg"),
        Node("n7", "y", "y", "output", torch.tensor(-0.5), torch.tensor(1.0)),
    ]
    edges = [
        Edge("n0", "n2", torch.tensor(-3.0), 0),
        Edge("n1", "n2", torch.tensor(-2.0), 1),
        Edge("n2", "n3", torch.tensor(-1.0), 0),
        Edge("n3", "n4", torch.tensor(-1.0), 0),
        Edge("n4", "n5", torch.tensor(-1.0), 0),
        Edge("n5", "n6", torch.tensor(-1.0), 0),
        Edge("n6", "n7", torch.tensor(1.0), 0),
    ]
    g = Graph(
        nodes,
        edges,
        inputs=["n0"],
        outputs=["n7"],
        backward_order=["n6", "n4", "n2"],
        parameters=["n1"],
    )
    g.modules = {"m": "Sequential", "m.0": "Scale", "m.1": "Sine"}
    return g


def test_collapse_hand_built_graph() -> None:
    g = _hand_graph()
    c = collapse(g, 0)
    assert [n.id for n in c.nodes] == ["n0", "n2", "n5", "n6", "n7"]
    node = c.node("n2")
    assert node.label == "m · Sequential" and node.op == "Sequential"
    assert node.attrs == {
        "module": "m",
        "collapsed": True,
        "class": "Sequential",
        "ops": 2,
        "members": ["n2", "n4"],
        "parameters": ["m.0.w"],
        "parameter_grads": {"m.0.w": g.grad("m.0.w")},
        "folded": ["n1"],
    }
    assert [(e.src, e.dst, float(e.grad), e.index) for e in c.edges] == [
        ("n0", "n2", -3.0, 0),
        ("n2", "n5", -1.0, 0),
        ("n5", "n6", -1.0, 0),
        ("n6", "n7", 1.0, 0),
    ]
    assert [n.id for n in c.backward_order] == ["n6", "n2"]
    assert c.modules == {"m": "Sequential"} and not c.parameters
    c1 = collapse(g, 1)
    assert [op.label for op in c1.ops] == ["m.0 · Scale", "m.1 · Sine", "−x"]
    assert list(c1.modules) == ["m", "m.0", "m.1"]
    # collapsing a collapsed graph again merges what its nodes stand for
    again = collapse(c1, 0)
    assert again.to_dot() == c.to_dot()
    assert again.node("n2").attrs["members"] == ["n2", "n4"]


def test_module_tree_hand_built() -> None:
    tree = module_tree(_hand_graph())
    assert list(tree) == ["", "m", "m.0", "m.1"]
    assert tree["m"].children == ["m.0", "m.1"] and tree["m"].cls == "Sequential"
    assert tree["m"].inputs == ["n0"] and tree["m"].outputs == ["n5"]
    assert tree["m"].parameters == ["m.0.w"]
    assert tree["m.1"].inputs == ["n3"] and tree["m.1"].parameters == []
    assert tree[""].own_ops == ["n6"] and tree[""].outputs == ["n7"]
    assert tree["m.0"].calls == 1


@pytest.mark.parametrize("bad", [-1, 1.5, True, "deep", [1]])
def test_bad_depth_is_a_value_error(bad: Any) -> None:
    g = _hand_graph()
    with pytest.raises(ValueError, match="depth"):
        at_depth(g, bad)
    if not isinstance(bad, bool) and not isinstance(bad, str):
        with pytest.raises(ValueError, match="depth"):
            collapse(g, bad)


def test_bad_depth_message_lists_choices() -> None:
    n = make_mlp()
    g = TorchGraph(n.func, n.args)
    with pytest.raises(ValueError, match=r"'deep'.*auto.*int >= 0.*full"):
        g.plot(depth="deep")


def test_at_depth_choices_and_cache() -> None:
    n = make_resnet()
    g = TorchGraph(n.func, n.args)
    assert at_depth(g, "full") is g and at_depth(g, False) is g
    assert at_depth(g, 5) is g and at_depth(g, 10) is g  # nothing deeper to collapse
    auto = at_depth(g)
    assert isinstance(auto, CollapsedGraph) and auto.depth == 2
    assert at_depth(g, "auto") is auto and at_depth(g, 2) is auto  # cached per depth
    assert at_depth(g, layout=g.layout()) is g  # positions made for the full graph
    pos = auto.layout()
    assert auto.layout() is pos  # computed once
    assert set(pos) == {node.id for node in auto.nodes}
    small = _hand_graph()
    assert at_depth(small) is small  # small graphs are never collapsed by default


# -- end to end: pictures and a backward animation ------------------------------------------------


# Long chains get small text in size-capped animation frames; the warning says so, and is not
# what this test is about.
@pytest.mark.filterwarnings("ignore::graphanim.render.LegibilityWarning")
def test_plot_and_animate_end_to_end(
    net: tuple[Net, TorchGraph, dict[str, Any]], tmp_path: Any
) -> None:
    n, g, _ = net
    fig = g.plot(depth=0)
    assert fig.axes
    png = tmp_path / "g.png"
    g.save(png, dpi=30)  # default depth: collapsed when big
    with Image.open(png) as im:
        assert im.size[0] > 0
    anim = g.animate("backward", dpi=50)
    shown = at_depth(g)
    assert anim.graph is shown
    if n.name == "resnet":
        assert isinstance(shown, CollapsedGraph)
    gif = tmp_path / "b.gif"
    anim.save(gif)
    with Image.open(gif) as im:
        assert im.n_frames >= 3


def test_notebook_repr_folds_big_networks_like_plot():
    import io

    from PIL import Image

    from graphanim import TorchGraph
    from graphanim.modules import at_depth

    torch.manual_seed(0)
    layers = []
    for _ in range(25):  # 50 ops: more than a picture shows unfolded
        layers += [torch.nn.Linear(3, 3), torch.nn.Tanh()]
    net = torch.nn.Sequential(*layers).double()
    g = TorchGraph(lambda x: net(x).sum(), [[1.0, 2.0, 3.0]])
    folded = at_depth(g, None)
    assert folded is not g and len(folded.ops) < len(g.ops)
    with Image.open(io.BytesIO(g._repr_png_())) as im:
        assert im.format == "PNG"
    from graphanim.render import to_png_bytes

    assert g._repr_png_() == to_png_bytes(folded)


# -- one collapsed node per module call -----------------------------------------------------------


class ActTwice(nn.Module):
    """test_trace's block: one Tanh module called twice, the Linear between the calls."""

    def __init__(self, back_to_back: bool = False) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.act = nn.Tanh()
        self.back_to_back = back_to_back

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.back_to_back:
            return self.act(self.act(self.lin(x)))  # nothing between the two calls
        return self.act(self.lin(self.act(x)))


class Cell(nn.Module):
    """An RNN cell: h' = tanh(W_ih x + b + W_hh h)."""

    def __init__(self) -> None:
        super().__init__()
        self.ih = nn.Linear(2, 3)
        self.hh = nn.Linear(3, 3, bias=False)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.ih(x) + self.hh(h))


class SharedRNN(nn.Module):
    """One cell (one set of weights) applied at each of the time steps, calls back to back."""

    def __init__(self) -> None:
        super().__init__()
        self.cell = Cell()

    def forward(self, xs: torch.Tensor) -> torch.Tensor:
        steps = xs.unbind(0)  # one op before the loop: nothing between the cell's calls
        h = torch.zeros(xs.shape[1], 3, dtype=xs.dtype)
        for x in steps:
            h = self.cell(x, h)
        return h


def make_block(back_to_back: bool = False) -> Net:
    torch.manual_seed(0)
    net = nn.Sequential(ActTwice(back_to_back), nn.Linear(2, 1)).double()
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)

    def loss(x: torch.Tensor) -> torch.Tensor:
        return net(x).sum()

    return Net("net", net, loss, [x])


def make_rnn() -> Net:
    torch.manual_seed(4)
    rnn = SharedRNN().double()
    xs = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)

    def loss(xs: torch.Tensor) -> torch.Tensor:
        return rnn(xs).pow(2).sum()

    return Net("rnn", rnn, loss, [xs])


def make_residual() -> Net:
    torch.manual_seed(5)
    # the second block has a downsampling shortcut: its ReLU is called after a 1x1 conv too
    res = nn.Sequential(BasicBlock(2, 2), BasicBlock(2, 3, stride=2)).double()
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64, requires_grad=True)

    def loss(x: torch.Tensor) -> torch.Tensor:
        return res(x).pow(2).mean()

    return Net("res", res, loss, [x])


CALL_NETS = {
    "block": make_block,
    "block_back_to_back": lambda: make_block(back_to_back=True),
    "rnn": make_rnn,
    "residual": make_residual,
}


def call_reference(n: Net) -> list[dict[str, Any]]:
    """A plain run of ``n.func``, every module call in call order: its path, module, arguments,
    the tensors it received (each replaced by an alias used only inside the call, as in
    :func:`reference`), its output, and the gradients PyTorch gives at those inputs and output."""
    calls: list[dict[str, Any]] = []
    running: list[int] = []
    handles = []

    def pre(path: str) -> Any:
        def hook(mod: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
            new = tuple(
                a.view_as(a) if isinstance(a, torch.Tensor) and a.requires_grad else a for a in args
            )
            inputs = [a for a in new if isinstance(a, torch.Tensor) and a.requires_grad]
            calls.append({"path": path, "module": mod, "args": args, "inputs": inputs})
            running.append(len(calls) - 1)
            return new

        return hook

    def post(mod: nn.Module, args: Any, out: Any) -> None:
        calls[running.pop()]["output"] = out

    for path, m in n.modules.items():
        handles.append(m.register_forward_pre_hook(pre(path)))
        handles.append(m.register_forward_hook(post))
    try:
        loss = n.func(*(a.detach().requires_grad_(a.requires_grad) for a in n.args))
    finally:
        for h in handles:
            h.remove()
    wanted = [t for c in calls for t in c["inputs"]] + [c["output"] for c in calls]
    grads = iter(torch.autograd.grad(loss, wanted))
    for c in calls:
        c["input_grads"] = [next(grads) for _ in c["inputs"]]
    for c in calls:
        c["output_grad"] = next(grads)
    return calls


def call_contribution(call: dict[str, Any], name: str, prefix: str) -> torch.Tensor:
    """What one call adds to the gradient of parameter ``name``: the call run again on detached
    copies of its arguments, pulled back from the gradient PyTorch gave at its output."""
    params = dict(call["module"].named_parameters(prefix=prefix))
    with torch.enable_grad():
        out = call["module"](*(a.detach() if isinstance(a, torch.Tensor) else a
                               for a in call["args"]))
    (grad,) = torch.autograd.grad(out, [params[name]], call["output_grad"])
    return grad


@pytest.fixture(scope="module", params=list(CALL_NETS))
def called(request: pytest.FixtureRequest) -> tuple[Net, TorchGraph, list[dict[str, Any]]]:
    """A network that calls a module several times, its captured graph, its plain calls."""
    n = CALL_NETS[request.param]()
    return n, TorchGraph(n.func, n.args), call_reference(n)


# collapsed nodes per depth: (path, how many) in forward order, runs of one path merged
CALL_COUNTS = {
    "block": {0: [("net", 1)], 1: [("net.0", 1), ("net.1", 1)],
              2: [("net.0.act", 1), ("net.0.lin", 1), ("net.0.act", 1)]},
    "block_back_to_back": {0: [("net", 1)], 1: [("net.0", 1), ("net.1", 1)],
                           2: [("net.0.lin", 1), ("net.0.act", 2)]},
    "rnn": {0: [("rnn", 1)], 1: [("rnn.cell", 3)], 2: [("rnn.cell.ih", 1), ("rnn.cell.hh", 1)] * 3},
    "residual": {0: [("res", 1)], 1: [("res.0", 1), ("res.1", 1)],
                 2: [("res.0.conv1", 1), ("res.0.bn1", 1), ("res.0.relu", 1), ("res.0.conv2", 1),
                     ("res.0.bn2", 1), ("res.0.relu", 1),
                     ("res.1.conv1", 1), ("res.1.bn1", 1), ("res.1.relu", 1), ("res.1.conv2", 1),
                     ("res.1.bn2", 1), ("res.1.downsample", 1), ("res.1.relu", 1)],
                 3: [("res.1.downsample.0", 1), ("res.1.downsample.1", 1)]},
}


def _runs(paths: list[str]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for p in paths:
        if out and out[-1][0] == p:
            out[-1] = (p, out[-1][1] + 1)
        else:
            out.append((p, 1))
    return out


def test_collapse_gives_a_node_per_module_call(called: Any, request: pytest.FixtureRequest) -> None:
    """At every depth each call of a module of level depth + 1 is one node, in forward order;
    its edges carry PyTorch's gradients at that call's inputs and outputs, and a parameter read
    by several calls (the shared cell's weights) feeds each of them with that call's share."""
    n, g, ref = called
    name = request.node.callspec.params["called"]
    deepest = max(module_level(op.attrs.get("module") or "") for op in g.ops)
    assert sorted(CALL_COUNTS[name]) == list(range(deepest))
    for depth in range(deepest):
        c = collapse(g, depth)
        nodes = [op for op in c.ops if op.attrs.get("collapsed")]
        assert _runs([op.name for op in nodes]) == CALL_COUNTS[name][depth]
        expected = [k for k, call in enumerate(ref) if module_level(call["path"]) == depth + 1]
        assert [op.attrs["module_call"] for op in nodes] == expected  # capture numbers calls so
        shares: dict[str, list[torch.Tensor]] = {}
        for op in nodes:
            call = ref[op.attrs["module_call"]]
            assert c.module_calls[op.attrs["module_call"]][0] == call["path"] == op.name
            edges = sorted(c.in_edges(op.id), key=lambda e: e.index)
            params = [e for e in edges if c.node(e.src).attrs.get("parameter")]
            inputs = [e for e in edges if c.node(e.src).kind != "constant" and e not in params]
            assert len(inputs) == len(call["inputs"]), (depth, op.name)
            for e, alias, grad in zip(inputs, call["inputs"], call["input_grads"]):
                assert torch.equal(c.node(e.src).value, alias.detach())
                assert close(e.grad, grad), (depth, op.name)
            (out,) = c.out_edges(op.id)
            assert torch.equal(c.node(out.dst).value, call["output"].detach())
            assert close(out.grad, call["output_grad"]), (depth, op.name)
            for e in params:
                pname = c.node(e.src).name
                assert close(e.grad, call_contribution(call, pname, call["path"])), pname
                shares.setdefault(pname, []).append(e.grad)
            for pname, grad in op.attrs["parameter_grads"].items():
                assert close(grad, g.grad(pname))
        # the shares of a parameter left as a node add up to its gradient
        assert set(shares) <= set(c.parameters)
        for pname, parts in shares.items():
            assert close(sum(parts), g.grad(pname))
            assert len(parts) == (3 if name == "rnn" else 1)
        if name == "rnn" and depth == 1:  # the cell's weights feed its three calls
            assert sorted(shares) == ["rnn.cell.hh.weight", "rnn.cell.ih.bias",
                                      "rnn.cell.ih.weight"]
    params = dict(n.module.named_parameters(prefix=n.name))
    for pname, grad in zip(params, torch.autograd.grad(n.func(*n.args), list(params.values()))):
        assert close(g.grad(pname), grad), pname


def test_collapsed_graphs_keep_the_calls_still_shown() -> None:
    n = make_block()
    g = TorchGraph(n.func, n.args)
    assert g.module_calls == {0: ("net", None), 1: ("net.0", 0), 2: ("net.0.act", 1),
                              3: ("net.0.lin", 1), 4: ("net.0.act", 1), 5: ("net.1", 0)}
    calls = {d: collapse(g, d).module_calls for d in range(3)}
    assert calls[0] == {0: ("net", None)}
    assert calls[1] == {0: ("net", None), 1: ("net.0", 0), 5: ("net.1", 0)}
    assert calls[2] == g.module_calls
    two = collapse(g, 2)
    acts = [op for op in two.ops if op.name == "net.0.act"]
    assert [(op.attrs["module_call"], op.attrs["parent_call"]) for op in acts] == [(2, 1), (4, 1)]
    assert [op.attrs.get("module_call") for op in two.ops] == [2, 3, 4, 5, None]  # None: the sum


def test_collapsing_again_gives_the_same_calls(called: Any) -> None:
    _, g, _ = called
    deepest = max(module_level(op.attrs.get("module") or "") for op in g.ops)
    for deep in range(deepest):
        once = collapse(g, deep)
        for shallow in range(deep + 1):
            again, direct = collapse(once, shallow), collapse(g, shallow)
            assert again.to_dot() == direct.to_dot()
            assert again.module_calls == direct.module_calls
            assert [op.attrs for op in again.ops] == [op.attrs for op in direct.ops]


def test_module_tree_counts_calls_and_auto_depth_agrees(called: Any) -> None:
    from graphanim.graph.collapse import op_count as _op_count

    _, g, ref = called
    tree = module_tree(g)
    for path, info in tree.items():
        if path:
            assert info.calls == sum(1 for call in ref if call["path"] == path), path
    deepest = max(module_level(op.attrs.get("module") or "") for op in g.ops)
    for depth in range(deepest + 1):
        assert _op_count(g, depth) == len(collapse(g, depth).ops)


def _called_twice_graph(calls: bool) -> Graph:
    # x -> [m.0: sin] -> u -> [m.0: sin] -> v -> [neg] -> y: module m.0 called twice, back to back
    nodes = [
        Node("n0", "x", "x", "input", torch.tensor(2.0), torch.tensor(-3.0)),
        Node("n1", "sin", "sin", "op", op="sin", attrs={"module": "m.0"}),
        Node("n2", "u", "u", "value", torch.tensor(0.9), torch.tensor(-2.0)),
        Node("n3", "sin", "sin", "op", op="sin", attrs={"module": "m.0"}),
        Node("n4", "v", "v", "value", torch.tensor(0.8), torch.tensor(-1.0)),
        Node("n5", "neg", "−x", "op", op="neg"),
        Node("n6", "y", "y", "output", torch.tensor(-0.8), torch.tensor(1.0)),
    ]
    grads = [-3.0, -2.0, -2.0, -1.0, -1.0, 1.0]  # an edge into a value carries the value's grad
    edges = [Edge(f"n{i}", f"n{i + 1}", torch.tensor(grads[i]), 0) for i in range(6)]
    g = Graph(nodes, edges, inputs=["n0"], outputs=["n6"], backward_order=["n5", "n3", "n1"])
    g.modules = {"m": "Sequential", "m.0": "Sine"}
    if calls:
        nodes[1].attrs["module_call"], nodes[3].attrs["module_call"] = 1, 2
        g.module_calls = {0: ("m", None), 1: ("m.0", 0), 2: ("m.0", 0)}
    return g


def test_back_to_back_calls_of_a_hand_built_graph() -> None:
    numbered = collapse(_called_twice_graph(calls=True), 1)
    assert [op.label for op in numbered.ops] == ["m.0 · Sine", "m.0 · Sine", "−x"]
    assert [(e.src, e.dst, float(e.grad)) for e in numbered.edges] == [
        ("n0", "n1", -3.0), ("n1", "n2", -2.0), ("n2", "n3", -2.0), ("n3", "n4", -1.0),
        ("n4", "n5", -1.0), ("n5", "n6", 1.0)]
    assert [op.id for op in numbered.backward_order] == ["n5", "n3", "n1"]
    assert numbered.module_calls == {0: ("m", None), 1: ("m.0", 0), 2: ("m.0", 0)}
    assert module_tree(_called_twice_graph(calls=True))["m.0"].calls == 2
    # without call numbers a run of ops in one module is one call (the behaviour before them)
    runs = collapse(_called_twice_graph(calls=False), 1)
    assert [op.label for op in runs.ops] == ["m.0 · Sine", "−x"]
    assert runs.node("n1").attrs["members"] == ["n1", "n3"]
    assert "module_call" not in runs.node("n1").attrs and runs.module_calls == {}
    assert module_tree(_called_twice_graph(calls=False))["m.0"].calls == 1


class Stack(nn.Module):
    """Layers in a ModuleList the parent calls in turn: the list itself never runs forward."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.layers[0](torch.tanh(x))  # the first layer once more, after a tanh


def test_a_module_list_folds_per_run_of_its_layers_calls() -> None:
    torch.manual_seed(6)
    stack = Stack().double()
    g = TorchGraph(lambda x: stack(x).sum(), [[1.0, 2.0]])
    assert "stack.layers" in g.modules
    assert not any(path == "stack.layers" for path, _ in g.module_calls.values())
    # the list never runs: a node per run of its layers' calls within one call of stack
    one = collapse(g, 1)
    assert [op.label for op in one.ops] == ["stack.layers · ModuleList", "tanh",
                                            "stack.layers · ModuleList", "Σ"]
    lists = [op for op in one.ops if op.attrs.get("collapsed")]
    assert [op.attrs["ops"] for op in lists] == [2, 1]
    assert all(op.attrs["module_call"] is None for op in lists)
    assert {op.attrs["parent_call"] for op in lists} == {0}
    assert one.module_calls == {0: ("stack", None)}
    two = collapse(g, 2)
    layers = [op.name for op in two.ops if op.attrs.get("collapsed")]
    assert layers == ["stack.layers.0", "stack.layers.1", "stack.layers.0"]
    assert module_tree(g)["stack.layers.0"].calls == 2
