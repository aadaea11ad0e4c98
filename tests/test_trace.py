"""Capture: every value and gradient against torch.autograd, names, errors, cleanliness."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings

import graphanim.functions as gfun
from graphanim import TorchGraph, trackable_function

from ._functions import Sigmoid
from ._programs import programs

# ---------------------------------------------------------------------------- lecture graphs


def chain_rule(x, y, z):
    u = x**2
    v = u + y
    w = z * v
    r = w**2
    return r


def branches(a, b):
    c = a + b
    d = b + 1.0
    e = c * d
    return e


def max_switch(x0, w0, x1, w1, w2):
    y0 = x0 * w0
    y1 = x1 * w1
    y2 = y0 + y1
    y3 = torch.exp(y2)
    y4 = torch.max(y3, w2)
    y5 = -1.0 * y4
    y6 = 1.0 / y5
    return y6


def sine(x, a, c):
    y = torch.sin(a * x + c)
    return y


def two_x_plus_y(x, y):
    q = 2 * x + y
    return q


def exp_sin_cos(x):
    return 10 * torch.exp(torch.sin(x)) + torch.cos(x) ** 2


LECTURE = [
    (chain_rule, [1.0, 2.0, 4.0]),
    (branches, [2.0, 1.0]),
    (max_switch, [4.0, 1.0, -2.0, 2.0, 0.5]),
    (sine, [2.0, 3.0, 4.0]),
    (two_x_plus_y, [1.0, 2.0]),
    (exp_sin_cos, [1.3]),
]


def reference_grads(func, args):
    leaves = [torch.tensor(float(a), dtype=torch.float64, requires_grad=True) for a in args]
    out = func(*leaves)
    grads = torch.autograd.grad(out, leaves)
    return out.detach(), grads


@pytest.mark.parametrize(("func", "args"), LECTURE, ids=lambda v: getattr(v, "__name__", ""))
def test_lecture_values_and_grads_match_torch(func, args):
    g = TorchGraph(func, args)
    out, grads = reference_grads(func, args)
    assert torch.equal(g.outputs[0].value, out)
    for name, expected in zip(g.inputs, grads):
        assert torch.equal(g.grad(name), expected), name
    # value -> op edges at every value sum to the value's gradient
    for node in g.nodes:
        if node.kind in ("input", "value") and node.grad is not None:
            contributions = [e.grad for e in g.out_edges(node.id) if e.grad is not None]
            assert torch.allclose(sum(contributions), node.grad, rtol=0, atol=1e-12)


def test_chain_rule_numbers_from_the_lecture():
    g = TorchGraph(chain_rule, [1, 2, 4])
    assert [float(g.grad(n)) for n in "xyz"] == [192.0, 96.0, 72.0]
    assert float(g.value("r")) == 144.0
    assert float(g.grad("w")) == 24.0 and float(g.grad("u")) == 96.0
    assert [n.op for n in g.backward_order] == ["pow", "mul", "add", "pow"]
    assert [n.label for n in g.ops] == ["x²", "+", "×", "x²"]


def test_branches_accumulate_per_edge():
    g = TorchGraph(branches, [2.0, 1.0])
    b = g["b"]
    per_edge = sorted(float(e.grad) for e in g.out_edges(b.id))
    assert per_edge == [2.0, 3.0]
    assert float(b.grad) == 5.0
    # the Python scalar 1.0 is a small constant node feeding the add
    const = g.predecessors(g.in_edges("d")[0].src)
    assert any(n.kind == "constant" and float(n.value) == 1.0 for n in const)


def test_x_times_x_has_two_edges_with_their_own_gradient():
    g = TorchGraph(lambda x: x * x, [3.0])
    (mul,) = g.ops
    edges = g.in_edges(mul.id)
    assert [e.index for e in edges] == [0, 1]
    assert [float(e.grad) for e in edges] == [3.0, 3.0]
    assert float(g.grad("x")) == 6.0


def test_max_switch_sends_nothing_to_the_loser():
    g = TorchGraph(max_switch, [4, 1, -2, 2, 0.5])
    assert [float(g.grad(n)) for n in ["x0", "w0", "x1", "w1", "w2"]] == [1.0, 4.0, 2.0, -2.0, 0.0]


def test_several_outputs_with_seeds():
    g = TorchGraph(lambda x: (x * 2, x.sin()), [4], [4, 8])
    x = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)
    (expected,) = torch.autograd.grad(
        [x * 2, x.sin()], [x], [torch.tensor(4.0).double(), torch.tensor(8.0).double()]
    )
    assert torch.equal(g.grad("x"), expected)
    assert [float(o.grad) for o in g.outputs] == [4.0, 8.0]


def test_non_scalar_output_needs_a_seed():
    with pytest.raises(ValueError, match="grad_outputs"):
        TorchGraph(lambda x: x * 2, [[1.0, 2.0]])
    g = TorchGraph(lambda x: x * 2, [[1.0, 2.0]], [[1.0, 3.0]])
    assert g.grad("x").tolist() == [2.0, 6.0]


def test_seed_shape_mismatch_is_named():
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2,\)"):
        TorchGraph(lambda x: x * 2, [[1.0, 2.0]], [[1.0, 2.0, 3.0]])


# ---------------------------------------------------------------------------- inputs and names


def test_inputs_are_wrapped_as_the_contract_says():
    arr32 = np.array([1.0, 2.0], dtype=np.float32)
    const = torch.tensor(5.0)
    g = TorchGraph(lambda a, b, c, d: a * b.sum() * c.sum() * d, [2, arr32, [[1.0, 2.0]], const])
    a, b, c, d = g.inputs.values()
    assert a.value.dtype == torch.float64 and a.kind == "input"
    assert b.value.dtype == torch.float32 and b.shape == (2,)
    assert c.value.dtype == torch.float64 and c.shape == (1, 2)
    assert d.kind == "constant" and d.grad is None
    assert list(g.inputs) == ["a", "b", "c", "d"]


def test_tensor_with_history_is_detached_into_a_leaf():
    w = torch.tensor(3.0, requires_grad=True)
    a = w * 2
    g = TorchGraph(lambda x: x * x, [a])
    assert float(g.grad("x")) == 12.0
    assert w.grad is None
    assert len(g.inputs) == 1 and len(g.ops) == 1


def test_user_grads_and_modes_are_left_alone():
    x = torch.tensor(2.0, requires_grad=True)
    x.grad = torch.tensor(7.0)
    lin = torch.nn.Linear(2, 1)
    lin.eval()
    with torch.no_grad():
        g = TorchGraph(lambda t: lin(torch.stack([t, t])).sum() * t, [x])
        assert not torch.is_grad_enabled()
    assert float(x.grad) == 7.0
    assert lin.weight.grad is None and not lin.training
    assert g.grad("t") is not None


def test_names_from_signature_varargs_and_override():
    g = TorchGraph(lambda *xs: xs[0] * xs[1], [1.0, 2.0])
    assert list(g.inputs) == ["x0", "x1"]
    g = TorchGraph(chain_rule, [1, 2, 4], names=["p", "q", "s"])
    assert list(g.inputs) == ["p", "q", "s"]
    with pytest.raises(ValueError, match="3 entries but args has 2"):
        TorchGraph(branches, [1, 2], names=["a", "b", "c"])
    with pytest.raises(ValueError, match="unique"):
        TorchGraph(branches, [1, 2], names=["a", "a"])


def test_intermediates_are_named_after_locals_and_unnamed_after_ops():
    def f(a, x, c):
        u = a * x
        return torch.sin(u + c)

    g = TorchGraph(f, [3, 2, 4])
    names = [n.name for n in g.nodes if n.kind != "op"]
    assert names == ["a", "x", "c", "u", "add", "sin"]
    assert float(g.value("u")) == 6.0


def test_lookup_errors_list_known_names():
    g = TorchGraph(branches, [2.0, 1.0])
    with pytest.raises(KeyError, match="known names: a, b, c, d, e"):
        g["nope"]
    assert g["n0"] is g["a"]


def test_args_must_be_a_sequence():
    with pytest.raises(TypeError, match="list or tuple"):
        TorchGraph(chain_rule, 3.0)


def test_non_tensor_output_names_its_position():
    with pytest.raises(TypeError, match=r"output 1 of .* is a float"):
        TorchGraph(lambda x: (x * 2, 3.0), [1.0])
    with pytest.raises(TypeError, match=r"output 0 .* is a str"):
        TorchGraph(lambda x: "x", [1.0])


def test_deterministic_dot_text():
    assert (
        TorchGraph(max_switch, [4, 1, -2, 2, 0.5]).to_dot()
        == TorchGraph(max_switch, [4, 1, -2, 2, 0.5]).to_dot()
    )


def test_backward_false_records_forward_only():
    g = TorchGraph(chain_rule, [1, 2, 4], backward=False)
    assert all(n.grad is None for n in g.nodes) and g.backward_order == []
    assert float(g.value("r")) == 144.0


def test_values_are_snapshots():
    def f(x):
        y = x * 2
        z = y * 3
        y.add_(100)  # in place after z was computed
        return z

    g = TorchGraph(f, [1.0])
    first = g.successors(g.ops[0].id)[0]  # y before the in-place add (y now names the dead result)
    assert float(first.value) == 2.0 and float(g.outputs[0].value) == 6.0


def test_operands_are_the_values_before_a_later_inplace_op():
    """Operands of an op are read as it ran, even when an in-place op later gives the same
    tensor a new autograd node (graphanim reads operands late, but never after such an op)."""

    def f(x):
        a = x * 2
        b = torch.neg(a)  # (neg saves nothing: a may change in place afterwards)
        a.mul_(3)
        return b + a

    g = TorchGraph(f, [0.75])
    neg = next(op for op in g.ops if op.op == "neg")
    (into_neg,) = g.predecessors(neg)
    assert float(into_neg.value) == 1.5  # a before mul_
    add = next(op for op in g.ops if op.op == "add")
    assert [float(n.value) for n in g.predecessors(add)] == [-1.5, 4.5]
    x = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    (expected,) = torch.autograd.grad(f(x), [x])
    assert float(g.grad("x")) == float(expected)


def test_a_list_that_grows_after_an_op_does_not_change_its_operands():
    def f(x):
        parts, sums = [], []
        for i in range(3):
            parts.append(x * (i + 1))
            sums.append(torch.stack(parts).sum())
        return sums[0] + sums[1] + sums[2]

    g = TorchGraph(f, [2.0])
    stacks = [op for op in g.ops if op.op == "stack"]
    assert [len(g.in_edges(op)) for op in stacks] == [1, 2, 3]
    assert float(g.grad("x")) == 1 + (1 + 2) + (1 + 2 + 3)


def test_a_first_capture_does_not_make_torch_import_sympy():
    """The implicit seed of a scalar output goes to autograd as None: a seed tensor makes torch
    import its symbolic-shape checks (sympy), 0.3 s in every new process."""
    code = (
        "import sys, torch\n"
        "from graphanim import TorchGraph\n"
        "before = 'sympy' in sys.modules\n"
        "g = TorchGraph(lambda x: (x * 2).sin(), [1.0])\n"
        "print(before, 'sympy' in sys.modules, float(g.grad('x')))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after, grad = run.stdout.split()
    if before == "True":
        pytest.skip("this torch imports sympy on import")
    assert after == "False"
    assert float(grad) == 2 * math.cos(2.0)


def test_networkx_export_keeps_attributes():
    g = TorchGraph(branches, [2.0, 1.0])
    nxg = g.to_networkx()
    assert list(nxg.nodes) == [n.id for n in g.nodes]
    assert nxg.nodes["n1"]["name"] == "b" and float(nxg.nodes["n1"]["grad"]) == 5.0
    assert nxg.number_of_edges() == len(g.edges)


# ---------------------------------------------------------------------------- errors, cleanliness


def _clean_state():
    from torch.nn.modules import module as M

    return (
        sys.gettrace(),
        torch._C._len_torch_function_stack(),
        len(M._global_forward_hooks),
        len(M._global_forward_pre_hooks),
        len(gfun.RECORDERS),
        torch.is_grad_enabled(),
    )


def test_errors_in_func_propagate_unchanged_and_leave_nothing_installed():
    before = _clean_state()

    class Boom(Exception):
        pass

    def f(x):
        torch.nn.Linear(1, 1).double()(x.reshape(1, 1))
        raise Boom("in func")

    with pytest.raises(Boom, match="in func"):
        TorchGraph(f, [1.0])
    assert _clean_state() == before


def test_pytorch_inplace_error_propagates_with_its_message():
    def f(x):
        y = x.sigmoid()
        y.mul_(2)  # sigmoid saved its output: backward must fail
        return y.sum()

    before = _clean_state()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        TorchGraph(f, [[1.0, 2.0]])
    assert _clean_state() == before


# ---------------------------------------------------------------------------- custom Functions


class Triple(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 3

    @staticmethod
    def backward(ctx, grad):
        return grad * 3


def test_trackable_function_is_one_node_with_its_label_and_backward():
    def f(x, w):
        s = Sigmoid.apply(x * w)
        return Triple.apply(s)

    g = TorchGraph(f, [0.5, 2.0])
    assert [n.op for n in g.ops] == ["mul", "Sigmoid", "Triple"]
    assert [n.label for n in g.ops] == ["×", r"$\sigma$", "Triple"]
    x = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    w = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    gx, gw = torch.autograd.grad(f(x, w), [x, w])
    assert torch.equal(g.grad("x"), gx) and torch.equal(g.grad("w"), gw)
    assert torch.equal(g.value("s"), torch.sigmoid(torch.tensor(1.0, dtype=torch.float64)))


def test_the_functions_own_backward_produces_the_gradient():
    @trackable_function
    class Wrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.sin()

        @staticmethod
        def backward(ctx, grad):
            return grad * 42  # deliberately not cos(x)

    g = TorchGraph(lambda x: Wrong.apply(x), [1.0])
    assert float(g.grad("x")) == 42.0


def test_decorator_checks():
    with pytest.raises(TypeError, match=r"torch\.autograd\.Function"):
        trackable_function(int)
    with pytest.raises(ValueError, match="BadName"):

        @trackable_function
        class BadName(torch.autograd.Function):
            name = r"$\sigma"

            @staticmethod
            def forward(ctx, x):
                return x

    with pytest.raises(ValueError, match="Unknown"):

        @trackable_function
        class Unknown(torch.autograd.Function):
            name = r"$\notacommand$"

            @staticmethod
            def forward(ctx, x):
                return x


def test_redecorating_replaces_the_registration():
    def make(label):
        @trackable_function
        class Same(torch.autograd.Function):
            name = label

            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, grad):
                return grad * 2

        return Same

    make("first")
    second = make("second")
    g = TorchGraph(lambda x: second.apply(x), [1.0])
    assert g.ops[0].label == "second"


def test_trackable_outside_capture_is_plain_apply():
    x = torch.tensor(0.0, requires_grad=True)
    y = Sigmoid.apply(x)
    assert float(y.detach()) == 0.5 and y.grad_fn is not None


# ---------------------------------------------------------------------------- modules


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)
        )

    def forward(self, x):
        return self.layers(x).pow(2).mean()


def test_module_parameters_are_named_leaves_with_torch_gradients():
    model = MLP()
    x = torch.randn(5, 3)
    g = TorchGraph(model, [x])
    assert set(g.parameters) == {
        "layers.0.weight",
        "layers.0.bias",
        "layers.2.weight",
        "layers.2.bias",
    }
    model(x).backward()
    for name, p in model.named_parameters():
        assert torch.equal(g.grad(name), p.grad), name
    assert g["layers.0.weight"].kind == "input"
    assert {n.attrs.get("module") for n in g.ops} >= {"layers.0", "layers.1", "layers.2"}


def test_module_called_from_a_function_is_prefixed_by_its_variable():
    net = torch.nn.Linear(2, 1).double()

    def loss(x):
        return net(x).sum()

    g = TorchGraph(loss, [[1.0, 2.0]])
    assert set(g.parameters) == {"net.weight", "net.bias"}
    assert net.weight.grad is None


def test_module_made_inside_the_function_is_named_by_its_local_variable():
    def f(x):
        torch.manual_seed(0)
        layer = torch.nn.Linear(2, 1).double()
        act = torch.nn.Tanh()
        f.layer = layer  # kept for the check below
        return act(layer(x)).sum()

    x = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    g = TorchGraph(f, [x])
    assert list(g.parameters) == ["layer.weight", "layer.bias"]
    assert {n.attrs.get("module") for n in g.ops} == {"layer", "act", None}
    assert sorted(g.modules) == ["act", "layer"]
    layer = f.layer
    want = torch.autograd.grad(torch.tanh(layer(x)).sum(), [layer.weight, layer.bias])
    assert torch.equal(g.grad("layer.weight"), want[0])
    assert torch.equal(g.grad("layer.bias"), want[1])


torch.manual_seed(0)
blocks = torch.nn.ModuleList([torch.nn.Linear(2, 2).double() for _ in range(3)])


def test_modules_looped_over_are_named_by_their_path_in_the_container():
    def f(x):
        for layer in blocks:  # the loop variable holds only the last one
            x = torch.tanh(layer(x))
        return x.sum()

    x = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    g = TorchGraph(f, [x])
    assert list(g.parameters) == [f"blocks.{i}.{p}" for i in range(3) for p in ("weight", "bias")]
    assert [path for path, _ in g.module_calls.values()] == ["blocks.0", "blocks.1", "blocks.2"]
    y = x
    for layer in blocks:
        y = torch.tanh(layer(y))
    want = torch.autograd.grad(y.sum(), [m.weight for m in blocks])
    for i, w in enumerate(want):
        assert torch.equal(g.grad(f"blocks.{i}.weight"), w)


class _NoClass:
    """A proxy (as web frameworks keep in globals) that raises when asked for its class."""

    @property
    def __class__(self):
        raise RuntimeError("working outside of a request")


current_request = _NoClass()  # a public global beside the modules


def test_a_global_that_raises_on_class_does_not_break_module_naming():
    def f(x):
        return blocks[0](x).sum()

    g = TorchGraph(f, [torch.ones(1, 2, dtype=torch.float64)])
    assert list(g.parameters) == ["blocks.0.weight", "blocks.0.bias"]


def test_two_modules_of_one_class_and_no_variable_get_different_names():
    def f(x):
        torch.manual_seed(0)
        return torch.nn.Linear(2, 1)(x).sum() + torch.nn.Linear(2, 1)(x).sum()

    g = TorchGraph(f, [torch.ones(1, 2)])
    assert list(g.parameters) == ["linear.weight", "linear.bias", "linear_1.weight",
                                  "linear_1.bias"]
    assert sorted(g.modules) == ["linear", "linear_1"]


class _Unregistered(torch.nn.Module):
    """Builds modules inside forward: a Sequential around a registered Linear, and a ReLU."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(2, 3)

    def forward(self, x):
        seq = torch.nn.Sequential(self.lin, torch.nn.Tanh())
        return torch.nn.ReLU()(seq(x)).sum()


def test_ops_of_a_module_made_inside_forward_belong_to_the_call_around_it():
    g = TorchGraph(_Unregistered(), [torch.ones(2, 2)])
    by_op = {n.op: (n.attrs.get("module"), n.attrs.get("module_call")) for n in g.ops}
    root = next(k for k, (path, _) in g.module_calls.items() if path == "")
    lin = next(k for k, (path, _) in g.module_calls.items() if path == "lin")
    # the Sequential, Tanh and ReLU made in forward have no path: their ops are the root call's
    assert by_op == {"linear": ("lin", lin), "tanh": ("", root), "relu": ("", root),
                     "sum": ("", root)}
    # every call's parent is a call the graph lists (the unregistered Sequential is skipped)
    assert g.module_calls[lin] == ("lin", root)
    for _, parent in g.module_calls.values():
        assert parent is None or parent in g.module_calls


def test_module_inputs_are_named_after_forward():
    g = TorchGraph(_Unregistered(), [torch.ones(2, 2)])
    assert list(g.inputs) == ["x"]
    assert list(TorchGraph(torch.nn.Linear(2, 1), [torch.ones(1, 2)]).inputs) == ["input"]


# ---------------------------------------------------------------------------- scale


def test_20000_op_chain_without_recursion_error():
    def chain(x):
        for _ in range(20000):
            x = x * 1.0001
        return x

    g = TorchGraph(chain, [1.0])
    assert len(g.ops) == 20000
    expected = 1.0001**20000
    assert abs(float(g.grad("x")) - expected) < 1e-9 * expected


def test_exponential_paths_linear_nodes():
    def f(y):
        for _ in range(40):
            y = y + y
        return y

    g = TorchGraph(f, [1.0])
    assert len(g.ops) == 40 and float(g.grad("y")) == 2.0**40


# ---------------------------------------------------------------------------- random graphs

@settings(max_examples=200, deadline=None)
@given(programs())
def test_random_expression_graphs_match_torch(program):
    src, args, seeds, outs = program
    env = {"torch": torch}
    exec(src, env)
    prog = env["prog"]
    g = TorchGraph(prog, args, seeds)

    # reference: plain PyTorch with every intermediate retained
    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
    ref: dict[str, torch.Tensor] = {}

    def tracer(frame, event, arg):
        if event == "return" and frame.f_code is prog.__code__:
            ref.update({k: v for k, v in frame.f_locals.items() if k.startswith("v")})
        return tracer if frame.f_code is prog.__code__ else None

    sys.settrace(tracer)
    try:
        results = prog(*leaves)
    finally:
        sys.settrace(None)
    for t in ref.values():
        if t.grad_fn is not None:
            t.retain_grad()
    torch.autograd.backward(list(results), [torch.tensor(s, dtype=torch.float64) for s in seeds])

    for i, leaf in enumerate(leaves):
        mine = g.inputs[f"x{i}"].grad
        if leaf.grad is None:
            assert mine is None
        else:
            assert torch.allclose(mine, leaf.grad, rtol=0, atol=1e-12), (src, i)
    for name, t in ref.items():
        if name not in g:
            assert name not in outs
            continue
        node = g[name]
        assert torch.equal(node.value, t.detach()), (src, name)
        if t.grad is None:
            assert node.grad is None or name in outs
        else:
            assert torch.allclose(node.grad, t.grad, rtol=0, atol=1e-12), (src, name)
    for node in g.nodes:
        if node.kind in ("input", "value") and node.grad is not None:
            contributions = [e.grad for e in g.out_edges(node.id) if e.grad is not None]
            assert torch.allclose(sum(contributions), node.grad, rtol=0, atol=1e-12), (src, node)


def test_saved_tensors_are_recorded_per_op():
    def f(x, y):
        a = x * y
        b = torch.sin(a)
        c = torch.tanh(b)
        s = Sigmoid.apply(c)
        return s + x

    g = TorchGraph(f, [1.0, 2.0])
    saved = {op.op: [g[i].name for i in op.attrs.get("saved", [])] for op in g.ops}
    # mul reads both operands, sin its input, tanh its result, add nothing;
    # the custom sigmoid saved its own output with ctx.save_for_backward
    assert saved == {"mul": ["x", "y"], "sin": ["a"], "tanh": ["c"], "Sigmoid": ["s"], "add": []}


def test_ids_win_over_variable_names_in_structural_queries():
    def f(x):
        n1 = x * 2  # a variable that looks like a node id
        return n1 + 1

    g = TorchGraph(f, [1.0])
    assert g["n1"].name == "n1" and g["n1"].id != "n1"  # names first for g[...]
    assert g.in_edges("n1") == g.in_edges(g.nodes[1])  # ids first for structure


# -- packed scalars ----------------------------------------------------------------------------


def test_scalar_values_and_grads_share_one_store_per_dtype() -> None:
    """Every 0-dim value and gradient of a capture lives in one tensor per dtype; reading a node
    gives a view of it, equal to what PyTorch computes."""
    def f(x):
        for _ in range(50):
            x = torch.sin(x) * 1.5
        return x

    g = TorchGraph(f, [0.3])
    x = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    y = f(x)
    y.backward()
    assert float(g.outputs[0].value) == y.item() and float(g.grad("x")) == x.grad.item()
    values = [n.value for n in g.nodes if n.kind != "op"]
    bases = {v.untyped_storage().data_ptr() for v in values}
    assert len(bases) == 1  # one float64 store holds every value...
    grads = [e.grad for e in g.edges if e.grad is not None]
    assert {t.untyped_storage().data_ptr() for t in grads} <= {
        n.grad.untyped_storage().data_ptr() for n in g.nodes if n.grad is not None
    }
    assert all(t.dim() == 0 and t.dtype == torch.float64 for t in values + grads)


@pytest.mark.parametrize(
    "dtype",
    [
        torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int8,
        torch.uint8, torch.bool, torch.complex128, torch.complex64,
    ],
)
def test_packed_numbers_keep_every_bit(dtype: torch.dtype) -> None:
    """Packing reads 0-dim tensors through Python numbers: nothing may be rounded on the way,
    at the extremes of each dtype included (-0.0, subnormals, inf, nan, the largest ints)."""
    from graphanim.graph import Packer

    if dtype.is_floating_point:
        info = torch.finfo(dtype)
        raw = [0.0, -0.0, info.tiny, info.tiny / 4, info.max, -info.max, info.eps, 1 / 3]
        raw += [float("inf"), float("-inf"), float("nan")]
        numbers = [torch.tensor(v, dtype=dtype) for v in raw]
    elif dtype.is_complex:
        numbers = [torch.tensor(v, dtype=dtype) for v in (complex(1 / 3, -0.0), 1e-40j)]
    elif dtype == torch.bool:
        numbers = [torch.tensor(True), torch.tensor(False)]
    else:
        info = torch.iinfo(dtype)
        numbers = [torch.tensor(v, dtype=dtype) for v in (info.min, info.max, 0, 1)]
    packer = Packer()
    codes = [packer.add(t) for t in numbers]
    assert all(type(c) is int for c in codes)
    packer.finish()
    for t, c in zip(numbers, codes):
        got = packer.store[c & 15][c >> 4]
        assert got.dtype == dtype
        # same bits: compare the raw bytes, which also tells -0.0 from 0.0 and keeps nan payloads
        assert got.reshape(1).view(torch.uint8).tolist() == t.reshape(1).view(torch.uint8).tolist()


def test_setting_numbers_on_nodes_by_hand() -> None:
    """A hand-set int is a number, not a code into a store; setting the value of a packed node
    keeps its gradient."""
    from graphanim.graph import Edge, Graph, Node

    hand = Node("n0", "a", "a", "input", value=3, grad=5)
    assert hand.value == 3 and hand.grad == 5
    assert Edge("n0", "n1", 7).grad == 7

    g = TorchGraph(lambda x: x * x, [3.0])
    node = g["x"]
    node.value = 4  # a plain int from now on
    assert node.value == 4 and float(node.grad) == 6.0
    node = g.outputs[0]
    node.grad = 2
    assert node.grad == 2 and float(node.value) == 9.0
    edge = g.in_edges(g.ops[0])[0]
    edge.grad = 1
    assert edge.grad == 1
    assert isinstance(Graph([hand]).nodes[0].value, int)


def test_ids_are_positions_and_look_up_like_a_dict_would() -> None:
    g = TorchGraph(lambda x: torch.sin(x * 2.0) + x, [0.5])
    assert [n.id for n in g.nodes] == [f"n{i}" for i in range(len(g.nodes))]
    last = f"n{len(g.nodes) - 1}"
    assert g.node(last) is g.nodes[-1] and last in g
    for bad in ("n07", f"n{len(g.nodes)}", "n", "n-1", "x0", "nx"):
        assert g._node_or_none(bad) is None
    assert "n07" not in g and f"n{len(g.nodes)}" not in g
    with pytest.raises(KeyError, match="no node named 'n07'"):
        g.node("n07")
    assert g.in_edges("n1") == g.in_edges(g.nodes[1])


def test_python_zeros_keep_their_sign() -> None:
    g = TorchGraph(lambda x: x * 0.0 + x * -0.0, [2.0])
    consts = [n for n in g.nodes if n.attrs.get("scalar")]
    assert [math.copysign(1.0, float(n.value)) for n in consts] == [1.0, -1.0]


def test_module_calls_are_numbered_per_call_with_their_parents() -> None:
    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)
            self.act = torch.nn.Tanh()

        def forward(self, x):
            return self.act(self.lin(self.act(x)))  # act called twice

    torch.manual_seed(0)
    net = torch.nn.Sequential(Block(), torch.nn.Linear(2, 1))
    g = TorchGraph(lambda x: net(x).sum(), [torch.ones(3, 2, requires_grad=True)])
    by_op = [(n.op, n.attrs.get("module"), n.attrs.get("module_call")) for n in g.ops]
    assert by_op[:4] == [("tanh", "net.0.act", 2), ("linear", "net.0.lin", 3),
                         ("tanh", "net.0.act", 4), ("linear", "net.1", 5)]
    assert g.module_calls == {0: ("net", None), 1: ("net.0", 0), 2: ("net.0.act", 1),
                              3: ("net.0.lin", 1), 4: ("net.0.act", 1), 5: ("net.1", 0)}
    assert by_op[4][2] is None  # the sum ran outside every module
