"""Frames as data: order of steps, what is visible at step k, sums and captions (no drawing)."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from graphanim import TorchGraph
from graphanim.frames import DIRECTIONS, Frame, FrameCapWarning, build_frames
from graphanim.graph import Edge, Graph, Node, format_tensor

from ._bench import load as load_bench
from ._functions import DoubledSigmoid, Sigmoid
from ._golden import check_golden


def lecture_product(a, b):
    c = a + b
    d = b + 1
    e = c * d
    return e


def lecture_chain(x, y, z):
    u = x**2
    v = u + y
    w = z * v
    r = w**2
    return r


def lecture_max(x0, w0, x1, w1, w2):
    return 1 / (-torch.max(torch.exp(x0 * w0 + x1 * w1), w2))


def lecture_sin(a, x, c):
    return torch.sin(a * x + c)


@pytest.fixture(scope="module")
def product() -> TorchGraph:
    return TorchGraph(lecture_product, [2.0, 1.0])


@pytest.fixture(scope="module")
def chain() -> TorchGraph:
    return TorchGraph(lecture_chain, [1.0, 2.0, 4.0])


LECTURES = [
    (lecture_product, [2.0, 1.0]),
    (lecture_chain, [1.0, 2.0, 4.0]),
    (lecture_max, [4.0, 1.0, -2.0, 2.0, 0.5]),
    (lecture_sin, [3.0, 2.0, 4.0]),
    (lambda x, y: 2 * x + y, [1.0, 3.0]),
]


def steps(frames: list[Frame], phase: str) -> list[Frame]:
    return [f for f in frames if f.phase == phase]


# -- structure ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("func", "args"), LECTURES)
def test_forward_steps_follow_execution_order(func, args) -> None:
    g = TorchGraph(func, args)
    frames = build_frames(g, "forward")
    assert frames[0].phase == "title" and frames[-1].phase == "hold"
    fwd = steps(frames, "forward")
    assert [f.active[0] for f in fwd] == [op.id for op in g.ops]
    assert [f.step for f in fwd] == list(range(len(g.ops)))
    assert [f.index for f in frames] == list(range(len(frames)))
    assert len(frames) == len(g.ops) + 2


@pytest.mark.parametrize(("func", "args"), LECTURES)
def test_backward_steps_follow_autograd_order(func, args) -> None:
    g = TorchGraph(func, args)
    frames = build_frames(g, "backward")
    bwd = steps(frames, "backward")
    assert [f.active[0] for f in bwd] == [op.id for op in g.backward_order]
    assert frames[0].phase == "title" and frames[-1].phase == "hold"
    assert len(frames) == len(g.backward_order) + 2


def test_both_is_forward_then_backward(product) -> None:
    frames = build_frames(product, "both")
    phases = [f.phase for f in frames]
    n_f, n_b = len(product.ops), len(product.backward_order)
    assert phases == ["title"] + ["forward"] * n_f + ["title"] + ["backward"] * n_b + ["hold"]
    assert frames[1 + n_f].direction == "backward"
    assert frames[0].direction == "forward"


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_what_is_shown_only_grows(chain, direction) -> None:
    frames = build_frames(chain, direction)
    for before, after in itertools.pairwise(frames):
        assert before.values <= after.values
        assert before.grads <= after.grads
        assert before.edge_grads <= after.edge_grads
        assert set(before.sums) <= set(after.sums)


def test_unknown_direction_lists_the_choices(product) -> None:
    with pytest.raises(ValueError, match="sideways") as info:
        build_frames(product, "sideways")
    for choice in DIRECTIONS:
        assert choice in str(info.value)


@pytest.mark.parametrize("direction", ["backward", "both"])
def test_backward_needs_a_recorded_backward_pass(direction) -> None:
    g = TorchGraph(lecture_product, [2.0, 1.0], backward=False)
    with pytest.raises(ValueError, match=r"backward=True"):
        build_frames(g, direction)
    assert len(build_frames(g, "forward")) == len(g.ops) + 2


def test_hand_built_graph_without_gradients_is_forward_only() -> None:
    g = Graph(
        [
            Node("n0", "x", "x", "input", value=torch.tensor(3.0)),
            Node("n1", "neg", "−x", "op", op="neg"),
            Node("n2", "y", "y", "output", value=torch.tensor(-3.0)),
        ],
        [Edge("n0", "n1"), Edge("n1", "n2")],
        inputs=["n0"],
        outputs=["n2"],
    )
    frames = build_frames(g, "forward")
    assert frames[1].caption == "y = −x = −(3) = -3"
    with pytest.raises(ValueError, match="backward"):
        build_frames(g, "backward")


# -- numbers at step k --------------------------------------------------------------------------


@pytest.mark.parametrize(("func", "args"), LECTURES)
def test_forward_values_at_step_k(func, args) -> None:
    g = TorchGraph(func, args)
    frames = build_frames(g, "forward")
    leaves = {n.id for n in g.nodes if n.kind != "op" and not g.in_edges(n)}
    assert frames[0].values == leaves
    assert not frames[0].grads
    shown = set(leaves)
    for k, op in enumerate(g.ops):
        frame = steps(frames, "forward")[k]
        outputs = g.successors(op)
        shown |= {n.id for n in outputs}
        assert frame.values == shown
        assert set(frame.active) == {
            op.id, *(n.id for n in g.predecessors(op)), *(n.id for n in outputs)
        }
        # The caption's result is the recorded forward value.
        assert frame.caption.endswith(" = " + format_tensor(outputs[0].value))
        assert not frame.grads and not frame.edge_grads
    assert frames[-1].values == {n.id for n in g.nodes if n.kind != "op"}


@pytest.mark.parametrize(("func", "args"), LECTURES)
def test_backward_numbers_at_step_k_are_the_recorded_edge_grads(func, args) -> None:
    g = TorchGraph(func, args)
    frames = steps(build_frames(g, "backward"), "backward")
    for frame, op in zip(frames, g.backward_order, strict=True):
        flowing = [e for e in g.in_edges(op) if e.grad is not None]
        for e in flowing:
            assert g.edges.index(e) in frame.edge_grads
            assert f"receives {format_tensor(e.grad)}" in frame.caption or (
                f"= {format_tensor(e.grad)}" in frame.caption
            )
            assert e.src in frame.active
    hold = build_frames(g, "backward")[-1]
    assert hold.grads == {n.id for n in g.nodes if n.kind != "op" and n.grad is not None}
    assert hold.edge_grads == {i for i, e in enumerate(g.edges) if e.grad is not None}


def test_lecture_chain_gradients_match_torch(chain) -> None:
    x, y, z = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (1.0, 2.0, 4.0))
    lecture_chain(x, y, z).backward()
    hold = build_frames(chain, "backward")[-1]
    assert hold.caption.splitlines()[-1] == (
        f"∂r/∂x = {format_tensor(x.grad)}, ∂r/∂y = {format_tensor(y.grad)}, "
        f"∂r/∂z = {format_tensor(z.grad)}"
    )
    assert (float(x.grad), float(y.grad), float(z.grad)) == (192.0, 96.0, 72.0)


def test_value_gradient_appears_only_when_all_contributions_arrived(product) -> None:
    frames = build_frames(product, "backward")
    b = product["b"].id
    bwd = steps(frames, "backward")
    # b feeds two ops: its gradient shows only at the step of the last one to run backward.
    last = max(i for i, f in enumerate(bwd) if b in f.active)
    first = min(i for i, f in enumerate(bwd) if b in f.active)
    assert first < last
    assert all(b not in f.grads for f in bwd[:last])
    assert all(b in f.grads for f in bwd[last:])


def test_sum_at_a_value_used_twice(product) -> None:
    frames = build_frames(product, "backward")
    b = product["b"].id
    bwd = steps(frames, "backward")
    texts = [f.sums.get(b) for f in bwd]
    # Before any contribution: nothing; then the partial sum; then the full one, in use order.
    assert texts[0] is None
    assert "…" in texts[1] and "3" in texts[1] and "=" not in texts[1]
    assert texts[2] == "2 + 3 = 5"
    assert frames[-1].sums == {b: "2 + 3 = 5"}
    assert "all 2 contributions to b have arrived: 2 + 3 = 5" in bwd[2].caption


def test_square_by_multiplication_sums_both_factors() -> None:
    g = TorchGraph(lambda x: x * x, [3.0])
    bwd = steps(build_frames(g, "backward"), "backward")
    assert bwd[0].sums == {g["x"].id: "3 + 3 = 6"}
    assert "once for each of its 2 uses" in bwd[0].caption


# -- captions -----------------------------------------------------------------------------------


def test_forward_captions_work_out_each_op(product, chain) -> None:
    fwd = [f.caption for f in steps(build_frames(product, "forward"), "forward")]
    assert fwd == ["c = a + b = 2 + 1 = 3", "d = b + 1 = 1 + 1 = 2", "e = c × d = 3 × 2 = 6"]
    fwd = [f.caption for f in steps(build_frames(chain, "forward"), "forward")]
    assert fwd == ["u = x² = 1² = 1", "v = u + y = 1 + 2 = 3", "w = z × v = 4 × 3 = 12",
                   "r = w² = 12² = 144"]


def test_backward_captions_spell_out_the_chain_rule(product, chain) -> None:
    bwd = [f.caption for f in steps(build_frames(product, "backward"), "backward")]
    assert bwd[0] == (
        "∂e/∂c = d = 2, so c receives 1 × 2 = 2\n∂e/∂d = c = 3, so d receives 1 × 3 = 3"
    )
    bwd = [f.caption for f in steps(build_frames(chain, "backward"), "backward")]
    assert bwd[0] == "∂r/∂w = 2·w = 24, so w receives 1 × 24 = 24"
    assert bwd[-1] == "∂u/∂x = 2·x = 2, so x receives 96 × 2 = 192"


def test_title_and_hold_captions(product) -> None:
    frames = build_frames(product, "both")
    assert frames[0].caption.startswith("Forward pass: start from a = 2, b = 1")
    backward_title = steps(frames, "title")[1]
    assert "∂e/∂e = 1" in backward_title.caption
    assert backward_title.grads == {product["e"].id}
    assert frames[-1].caption == "Done: e = 6\n∂e/∂a = 2, ∂e/∂b = 5"


def test_negative_numbers_are_parenthesised_in_products() -> None:
    g = TorchGraph(lecture_max, [4.0, 1.0, -2.0, 2.0, 0.5])
    captions = [f.caption for f in build_frames(g, "both")]
    assert "mul_1 = x1 × w1 = (-2) × 2 = -4" in captions
    assert any("so w1 receives 1 × (-2) = -2" in c for c in captions)
    # max passes the gradient to the larger operand only: recorded as 0 for w2.
    assert any("∂max/∂w2 = 0, so w2 receives 1 × 0 = 0" in c for c in captions)


def test_custom_function_caption_uses_its_own_backward() -> None:
    graph = TorchGraph(lambda x: DoubledSigmoid.apply(x), [0.0])
    caption = steps(build_frames(graph, "backward"), "backward")[0].caption
    # Recorded: 2 × 0.25 = 0.5, not the textbook 0.25.
    assert caption.endswith("receives 1 × 0.5 = 0.5")
    fwd = steps(build_frames(graph, "forward"), "forward")[0].caption
    assert r"$\sigma$(x) = $\sigma$(0) = 0.5" in fwd


def test_tensor_captions_stay_short() -> None:
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    x = torch.tensor([1.0, 2.0, 3.0])
    g = TorchGraph(lambda x: mlp(x).sum(), [x])
    for frame in build_frames(g, "both"):
        for line in frame.caption.splitlines():
            assert len(line) <= 110, line
    weight = g["mlp.0.weight"]
    assert any(f"{weight.name} receives a 4×3 gradient" in f.caption
               for f in build_frames(g, "backward"))


def test_frames_are_plain_data(product) -> None:
    frames = build_frames(product, "both")
    assert all(isinstance(f, Frame) for f in frames)
    # The sums dict is a copy per frame: changing one frame's leaves the others alone.
    frames[-1].sums.clear()
    assert build_frames(product, "both")[-1].sums
    assert frames[-2].sums


def test_output_used_further_sums_its_seed_and_contributions() -> None:
    def two_outputs(x):
        y = x * 2
        z = y.sin()
        return y, z

    g = TorchGraph(two_outputs, [1.0])
    frames = build_frames(g, "backward")
    y = g["y"].id
    grad_y = format_tensor(g["y"].grad)
    contribution = format_tensor(g.edges[[e.src for e in g.edges].index(y)].grad)
    assert frames[0].sums == {y: "1 + …"}
    assert y not in frames[0].grads
    assert "(y: 1, z: 1)" in frames[0].caption
    assert frames[1].sums == {y: f"1 + ({contribution}) = {grad_y}"}
    assert y in frames[1].grads
    x_grad = torch.cos(torch.tensor(2.0, dtype=torch.float64)) * 2 + 2
    assert format_tensor(g["x"].grad) == format_tensor(x_grad)


# -- local derivatives, saved tensors -----------------------------------------------------------


@pytest.mark.parametrize(("func", "args"), LECTURES)
def test_local_labels_are_the_recorded_local_derivatives(func, args) -> None:
    from graphanim.explain import local_derivative
    from graphanim.frames import local_label

    g = TorchGraph(func, args)
    labelled = 0
    for e in g.edges:
        text = local_label(g, e)
        dst = g.node(e.dst)
        if dst.kind != "op" or e.grad is None:
            assert text is None
            continue
        local = local_derivative(g, dst, g.in_edges(dst).index(e))
        number = format_tensor(local)
        assert text == (f"×({number}) →" if local < 0 else f"×{number} →")
        # read next to the edge gradient: upstream × local → edge gradient
        (out,) = g.successors(dst)
        assert float(out.grad) * local == pytest.approx(float(e.grad), rel=1e-12, abs=1e-300)
        labelled += 1
    assert labelled == sum(1 for e in g.edges if e.grad is not None and g.node(e.dst).kind == "op")


def test_local_labels_of_the_product(product) -> None:
    from graphanim.frames import local_label

    by_pair = {(product.node(e.src).name, product.node(e.dst).op): local_label(product, e)
               for e in product.edges}
    assert by_pair[("c", "mul")] == "×2 →"  # ∂e/∂c = d = 2
    assert by_pair[("d", "mul")] == "×3 →"
    assert by_pair[("a", "add")] == "×1 →"
    assert local_label(product, product.in_edges(product.outputs[0])[0]) is None  # op -> value


def test_zero_upstream_caption_uses_the_local_derivative_of_the_op() -> None:
    g = TorchGraph(lambda x: x * 3, [2.0], grad_outputs=[0.0])
    (step,) = steps(build_frames(g, "backward"), "backward")
    assert step.caption == "∂mul/∂x = 3, so x receives 0 × 3 = 0"


def test_backward_steps_name_the_saved_tensors(product) -> None:
    bwd = steps(build_frames(product, "backward"), "backward")
    c, d = product["c"].id, product["d"].id
    assert bwd[0].saved == (c, d)  # mul's backward reads both operands
    assert bwd[0].note == "the backward of × uses the saved inputs c and d"
    assert all(f.saved == () and f.note == "" for f in bwd[1:])  # add saves nothing
    assert all(f.saved == () and f.note == "" for f in build_frames(product, "forward"))


def test_saved_tensors_follow_the_capture() -> None:
    def sine(a, x, c):
        u = a * x
        v = u + c
        return torch.sin(v)

    def squash(x, w):
        y = x * w
        c = torch.tanh(y)
        return c

    g = TorchGraph(sine, [3.0, 2.0, 4.0])
    first = steps(build_frames(g, "backward"), "backward")[0]
    assert first.saved == (g["v"].id,) and first.note == "sin′ uses the saved input v"
    g = TorchGraph(squash, [0.5, 1.5])
    first = steps(build_frames(g, "backward"), "backward")[0]
    assert first.saved == (g["c"].id,) and first.note == "tanh′ uses its saved output c"
    for func, args in LECTURES:
        g = TorchGraph(func, args)
        for frame, op in zip(steps(build_frames(g, "backward"), "backward"), g.backward_order,
                             strict=True):
            assert frame.ops == (op.id,)
            assert list(frame.saved) == list(dict.fromkeys(op.attrs.get("saved", [])))
            assert all(g.node(s).kind != "op" for s in frame.saved)


def test_custom_function_names_what_it_saved() -> None:
    def neuron(x):
        s = Sigmoid.apply(x)
        return s

    g = TorchGraph(neuron, [0.0])
    (step,) = steps(build_frames(g, "backward"), "backward")
    assert step.saved == (g["s"].id,)
    assert step.note == r"$\sigma'$ uses its saved output s"


# -- stepping by layer or module, the frame cap --------------------------------------------------


def _chain(n: int) -> Graph:
    """x -> sin -> v0 -> sin -> v1 ... with scalar values and gradients."""
    nodes = [Node("n0", "x", "x", "input", value=torch.tensor(0.5), grad=torch.tensor(1.0))]
    edges = []
    for k in range(n):
        op, out = f"n{2 * k + 1}", f"n{2 * k + 2}"
        nodes += [Node(op, "sin", "sin", "op", op="sin"),
                  Node(out, f"v{k}", f"v{k}", "output" if k == n - 1 else "value",
                       value=torch.tensor(0.5), grad=torch.tensor(1.0))]
        edges += [Edge(nodes[-3].id, op, torch.tensor(1.0)), Edge(op, out, torch.tensor(1.0))]
    ops = [n.id for n in nodes if n.kind == "op"]
    return Graph(nodes, edges, inputs=["n0"], outputs=[nodes[-1].id],
                 backward_order=list(reversed(ops)))


def test_step_by_layer_runs_every_op_of_a_layer_in_one_frame(product) -> None:
    frames = build_frames(product, "both", step="layer")
    fwd, bwd = steps(frames, "forward"), steps(frames, "backward")
    # (a+b)(b+1): both additions share the first layer, the product is the second
    assert [len(f.ops) for f in fwd] == [2, 1] and [len(f.ops) for f in bwd] == [1, 2]
    assert fwd[0].caption.startswith("Layer 1 of 2: 2 ops (2 add)")
    assert bwd[0].caption.startswith("Layer 2 of 2\n∂e/∂c = d = 2")
    assert set(fwd[0].ops) <= set(fwd[0].active)
    # the end state is the one of stepping op by op
    by_op = build_frames(product, "both", step="op")
    assert frames[-1].grads == by_op[-1].grads and frames[-1].sums == by_op[-1].sums
    assert "one layer per frame" in frames[0].caption


def test_layers_given_by_a_layout_decide_the_groups(product) -> None:
    ops = product.ops
    layers = {ops[0].id: 0.0, ops[1].id: 1.0, ops[2].id: 2.0}
    fwd = steps(build_frames(product, "forward", step="layer", layers=layers), "forward")
    assert [f.ops for f in fwd] == [(ops[0].id,), (ops[1].id,), (ops[2].id,)]


def test_step_by_module_groups_runs_of_ops_in_one_module() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    g = TorchGraph(lambda x: net(x).sum(), [torch.tensor([1.0, 2.0, 3.0])])
    frames = build_frames(g, "backward", step="module")
    bwd = steps(frames, "backward")
    modules = [{g.node(o).attrs.get("module") for o in f.ops} for f in bwd]
    assert all(len(m) == 1 for m in modules)
    assert [m.pop() for m in modules] == [None, "net.2", "net.1", "net.0"]
    assert bwd[1].caption.startswith("net.2 (Linear)")
    assert sum(len(f.ops) for f in bwd) == len(g.ops)


def test_step_by_module_gives_each_call_of_a_module_its_own_step() -> None:
    """A cell called three times in a row is three steps, each naming which call it is."""
    torch.manual_seed(0)
    cell = torch.nn.Linear(2, 2)

    def f(x):
        h = x
        for _ in range(3):
            h = torch.tanh(cell(h))  # cell's ops, then tanh outside any module
        return h.sum()

    g = TorchGraph(f, [torch.tensor([0.5, -1.0])])
    fwd = steps(build_frames(g, "forward", step="module"), "forward")
    calls = [{g.node(o).attrs.get("module_call") for o in f.ops} for f in fwd]
    assert all(len(c) == 1 for c in calls)
    in_cell = [f for f, c in zip(fwd, calls) if c != {None}]
    assert len(in_cell) == 3 and len({c.pop() for c in calls if c != {None}}) == 3
    assert [f.caption.splitlines()[0] for f in in_cell] == [
        f"cell (Linear), call {k} of 3" for k in (1, 2, 3)
    ]
    assert sum(len(f.ops) for f in fwd) == len(g.ops)
    # back to back: no op between the calls tells them apart, their numbers do
    g = TorchGraph(lambda x: cell(cell(x)).sum(), [torch.tensor([0.5, -1.0])])
    fwd = steps(build_frames(g, "forward", step="module"), "forward")
    assert [f.caption.splitlines()[0] for f in fwd[:2]] == [
        "cell (Linear), call 1 of 2",
        "cell (Linear), call 2 of 2",
    ]


def test_big_graphs_step_by_layer_automatically() -> None:
    from graphanim.frames import AUTO_OP_LIMIT

    g = _chain(AUTO_OP_LIMIT + 1)
    frames = build_frames(g, "forward", max_frames=None)
    fwd = steps(frames, "forward")
    assert len(fwd) == AUTO_OP_LIMIT + 1 and fwd[0].caption.startswith(
        f"Layer 1 of {AUTO_OP_LIMIT + 1}")
    small = build_frames(_chain(AUTO_OP_LIMIT), "forward")
    assert not steps(small, "forward")[0].caption.startswith("Layer")


def test_frame_cap_merges_steps_and_warns() -> None:
    from graphanim.frames import FrameCapWarning

    g = _chain(120)
    with pytest.warns(FrameCapWarning, match=r"max_frames=None"):
        frames = build_frames(g, "both", step="op", max_frames=40)
    assert len(frames) <= 40
    fwd, bwd = steps(frames, "forward"), steps(frames, "backward")
    # every op runs exactly once, in order, and the captions say which ones a frame covers
    assert [o for f in fwd for o in f.ops] == [op.id for op in g.ops]
    assert [o for f in bwd for o in f.ops] == [op.id for op in g.backward_order]
    assert fwd[0].caption.startswith("Ops 1–")
    full = build_frames(g, "both", max_frames=None)
    assert frames[-1].grads == full[-1].grads and frames[-1].values == full[-1].values
    assert "per frame" in frames[0].caption


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"step": "node"}, "unknown step 'node'"),
    ({"max_frames": 2}, "max_frames must be an integer of at least 5"),
    ({"max_frames": True}, "max_frames"),
])
def test_bad_step_options(product, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        build_frames(product, "forward", **kwargs)


def test_frame_sets_are_shared_views_that_compare_like_frozensets() -> None:
    g = _chain(50)
    frames = build_frames(g, "both")
    last = frames[-1]
    assert last.values == frozenset(n.id for n in g.nodes if n.kind != "op")
    assert frozenset(last.done) == frozenset(n.id for n in g.nodes)
    for f in frames:
        # the done set leaves the active nodes out, as documented
        assert not set(f.active) & set(f.done)
        assert len(f.grads) == len(list(f.grads)) == len(frozenset(f.grads))
    # an earlier frame's view does not see what was added later
    bwd = steps(frames, "backward")
    assert len(bwd[0].grads) < len(bwd[-1].grads)
    assert bwd[0].grads | bwd[-1].grads == frozenset(bwd[-1].grads)


# -- golden frames: the refactored frames are exactly what the reviewed ones were ---------------
def _frames_text(frames: list[Frame]) -> str:
    """One line per frame: index, phase, step, pass, active ids and edges, ops, saved, what is
    shown (values, grads, edge grads, done, sums) and the caption and note (JSON strings)."""
    lines = []
    for f in frames:
        shown = {
            "values": sorted(f.values), "grads": sorted(f.grads),
            "edge_grads": sorted(f.edge_grads), "done": sorted(f.done), "sums": f.sums,
        }
        lines.append(
            f"{f.index} {f.phase} step={f.step} pass={f.direction} active={','.join(f.active)} "
            f"edges={','.join(map(str, f.active_edges))} ops={','.join(f.ops)} "
            f"saved={','.join(f.saved)} shown={json.dumps(shown, ensure_ascii=False)} "
            f"caption={json.dumps(f.caption, ensure_ascii=False)} "
            f"note={json.dumps(f.note, ensure_ascii=False)}"
        )
    return "\n".join(lines) + "\n"


def test_golden_frames_of_the_lecture_graphs():
    graphs = load_bench("dags").lecture_graphs()
    blocks = []
    for name, g in graphs.items():
        for direction in DIRECTIONS:
            blocks.append(f"# {name} {direction}\n" + _frames_text(build_frames(g, direction)))
    mlp = graphs["mlp"]
    for step in ("layer", "module"):
        frames = build_frames(mlp, "both", step=step)
        blocks.append(f"# mlp both step={step}\n" + _frames_text(frames))
    with pytest.warns(FrameCapWarning):
        capped = build_frames(mlp, "both", max_frames=7)
    blocks.append("# mlp both max_frames=7\n" + _frames_text(capped))
    check_golden("frames_lecture.txt", "".join(blocks))
