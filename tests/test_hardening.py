"""Hostile and unusual inputs to capture: each case asserts the exact behaviour."""

from __future__ import annotations

import collections
import sys
import warnings

import pytest
import torch

import graphanim.functions as gfun
from graphanim import TorchGraph, trackable_function
from graphanim.capture import GraphanimWarning


def _state():
    from torch.nn.modules import module as M

    return (
        sys.gettrace(),
        sys.getprofile(),
        torch._C._len_torch_function_stack(),
        len(M._global_forward_hooks),
        len(M._global_forward_pre_hooks),
        len(gfun.RECORDERS),
        torch.is_grad_enabled(),
    )


@pytest.fixture(autouse=True)
def _clean_after():
    before = _state()
    yield
    assert _state() == before, "capture left something installed"


def leaf(v):
    return torch.tensor(v, dtype=torch.float64, requires_grad=True)


# ------------------------------------------------------------------------------- outputs


def test_namedtuple_output_x_max_dim():
    g = TorchGraph(lambda x: x.max(0), [[1.0, 5.0, 2.0]])
    values, indices = g.outputs
    assert float(values.value) == 5.0 and int(indices.value) == 1
    assert values.name == "values" and indices.name == "indices"
    assert indices.kind == "constant" and indices.grad is None
    assert g.grad("x").tolist() == [0.0, 1.0, 0.0]


def test_dict_output_names_the_outputs():
    g = TorchGraph(lambda a: {"double": a * 2, "square": a * a}, [3.0])
    assert [o.name for o in g.outputs] == ["double", "square"]
    assert float(g.grad("a")) == 2.0 + 6.0


def test_dict_with_non_tensor_value_names_the_key():
    with pytest.raises(TypeError, match=r"output 'n' of .* is a int"):
        TorchGraph(lambda a: {"t": a * 2, "n": 3}, [3.0])


def test_list_output():
    g = TorchGraph(lambda a: [a * 2, a + 1], [3.0])
    assert len(g.outputs) == 2 and float(g.grad("a")) == 3.0


def test_output_without_graph_warns_and_has_no_gradient():
    def detached(x):
        return (x * 2).detach()

    with pytest.warns(GraphanimWarning, match="output 0 does not depend"):
        g = TorchGraph(detached, [3.0])
    assert float(g.outputs[0].value) == 6.0 and g.outputs[0].grad is None
    assert g.grad("x") is None

    def under_no_grad(x):
        with torch.no_grad():
            return x * 2

    with pytest.warns(GraphanimWarning):
        TorchGraph(under_no_grad, [3.0])

    with pytest.warns(GraphanimWarning):
        g = TorchGraph(lambda x: (x * 10).long(), [3.3])
    assert g.outputs[0].value.dtype == torch.int64


def test_identity_function():
    g = TorchGraph(lambda x: x, [2.5], grad_outputs=3.0)
    assert g.outputs[0] is g.inputs["x"]
    assert float(g.grad("x")) == 3.0 and g.ops == []


# ------------------------------------------------------------------------------- inputs


def test_mixed_dtypes_with_a_module_keep_torchs_error_and_add_a_hint():
    lin = torch.nn.Linear(2, 1)  # float32

    with pytest.raises(RuntimeError, match="dtype") as info:
        TorchGraph(lambda x: lin(x).sum(), [[1.0, 2.0]])  # the list becomes float64
    notes = getattr(info.value, "__notes__", [])
    if sys.version_info >= (3, 11):
        assert any("float64" in n and "float32" in n for n in notes)


def test_float32_tensor_with_float32_module_works():
    lin = torch.nn.Linear(2, 1)
    g = TorchGraph(lambda x: lin(x).sum(), [torch.tensor([1.0, 2.0], requires_grad=True)])
    assert g.grad("x").dtype == torch.float32


def test_integer_indices_for_embedding():
    torch.manual_seed(0)
    emb = torch.nn.Embedding(5, 3)
    idx = torch.tensor([1, 3, 1])
    g = TorchGraph(lambda i: emb(i).sum(), [idx])
    assert g.inputs["i"].kind == "constant" and g.inputs["i"].value.dtype == torch.int64
    emb(idx).sum().backward()
    assert torch.equal(g.grad("emb.weight"), emb.weight.grad)


def test_bool_tensor_mask():
    g = TorchGraph(lambda x, m: (x * m).sum(), [[1.0, 2.0], torch.tensor([True, False])])
    assert g.grad("x").tolist() == [1.0, 0.0]


def test_tied_parameters_are_one_leaf_with_the_summed_gradient():
    torch.manual_seed(0)
    a = torch.nn.Linear(2, 2, bias=False).double()
    b = torch.nn.Linear(2, 2, bias=False).double()
    b.weight = a.weight  # tied

    def f(x):
        return b(a(x)).sum()

    g = TorchGraph(f, [[1.0, -1.0]])
    weights = [n for n in g.parameters.values() if n.name.endswith("weight")]
    assert len(weights) == 1
    x = torch.tensor([1.0, -1.0], dtype=torch.float64)
    f(x).backward()
    assert torch.equal(weights[0].grad, a.weight.grad)


def test_each_use_of_a_shared_weight_carries_its_own_share():
    """A cell unrolled over 4 steps: the edge from the weight into step k carries what PyTorch
    gives for a separate copy of the weight used only in step k (backpropagation through time)."""
    torch.manual_seed(1)
    step = torch.nn.Linear(3, 3, bias=False).double()
    x0 = [0.5, -1.0, 2.0]

    def rnn(x):
        for _ in range(4):
            x = torch.sigmoid(step(x)) * 2.0
        return (x * x).sum()

    g = TorchGraph(rnn, [x0])
    copies = [step.weight.detach().clone().requires_grad_() for _ in range(4)]
    h = torch.tensor(x0, dtype=torch.float64)
    for w in copies:
        h = torch.sigmoid(h @ w.T) * 2.0
    expected = torch.autograd.grad((h * h).sum(), copies)
    weight = g["step.weight"]
    edges = g.out_edges(weight)
    calls = [g.node(e.dst).attrs["module_call"] for e in edges]
    assert calls == sorted(calls) and len(set(calls)) == 4  # one edge per step, in step order
    for e, want in zip(edges, expected, strict=True):
        torch.testing.assert_close(e.grad, want, rtol=0, atol=1e-15)
    torch.testing.assert_close(weight.grad, sum(expected), rtol=0, atol=1e-15)


# ------------------------------------------------------------------------------- in place, views


def test_inplace_op_is_captured_and_gradients_match():
    def f(x):
        y = x * 2
        y.add_(1)
        return y * 3

    g = TorchGraph(f, [1.5])
    assert [op.op for op in g.ops] == ["mul", "add_", "mul"]
    assert float(g.grad("x")) == 6.0


def test_slice_assigned_in_place():
    def f(x):
        y = x * 1.0
        y[0] = y[1] * 5
        return y.sum()

    g = TorchGraph(f, [[1.0, 2.0, 3.0]])
    x = leaf([1.0, 2.0, 3.0])
    (expected,) = torch.autograd.grad(f(x), [x])
    assert torch.equal(g.grad("x"), expected)


def test_relu_inplace_keyword_is_treated_as_inplace():
    def f(x):
        y = x * 1.0
        z = torch.nn.functional.relu(y, inplace=True)
        return (z * 2).sum()

    g = TorchGraph(f, [[-1.0, 2.0]])
    assert g.grad("x").tolist() == [0.0, 2.0]
    first = g.successors(g.ops[0].id)[0]
    assert first.value.tolist() == [-1.0, 2.0], "snapshot taken before the in-place relu"


# ------------------------------------------------------------------------------- odd functions


class Scaled(torch.Tensor):
    pass


def test_tensor_subclass_argument():
    x = torch.tensor(2.0, dtype=torch.float64).as_subclass(Scaled).requires_grad_()
    g = TorchGraph(lambda t: t * t, [x])
    assert float(g.grad("t")) == 4.0


def test_data_dependent_control_flow():
    def f(x):
        if x > 0:
            return x * 2
        return x * -3

    assert float(TorchGraph(f, [1.0]).grad("x")) == 2.0
    assert float(TorchGraph(f, [-1.0]).grad("x")) == -3.0


def test_compiled_function_is_one_opaque_node_with_a_warning():
    def inner(x):
        return torch.sin(x) * x

    compiled = torch.compile(inner, backend="aot_eager")
    with pytest.warns(GraphanimWarning, match="torch.compile"):
        g = TorchGraph(compiled, [0.7])
    x = leaf(0.7)
    (expected,) = torch.autograd.grad(inner(x), [x])
    assert torch.allclose(g.grad("x"), expected, rtol=0, atol=1e-12)
    assert len(g.ops) == 1


def _scripted_sine(a, b):
    return torch.sin(a * b)


def _script(obj):
    with warnings.catch_warnings():  # torch.jit.script is deprecated, and still in use
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(obj)


def test_torchscript_function_and_module_are_read_from_autograd_with_a_warning():
    fn = _script(_scripted_sine)
    with pytest.warns(GraphanimWarning, match="_scripted_sine is TorchScript"):
        g = TorchGraph(fn, [2.0, 3.0])
    assert list(g.inputs) == ["a", "b"]  # from the TorchScript schema
    a, b = leaf(2.0), leaf(3.0)
    want = torch.autograd.grad(_scripted_sine(a, b), [a, b])
    assert torch.equal(g.grad("a"), want[0]) and torch.equal(g.grad("b"), want[1])
    assert [n.op for n in g.ops] == ["mul", "sin"]
    assert g.outputs[0].value.item() == _scripted_sine(a, b).item()

    torch.manual_seed(0)
    lin = torch.nn.Linear(2, 1)
    x = torch.tensor([[1.0, -2.0]])
    with pytest.warns(GraphanimWarning, match="Linear is TorchScript"):
        g = TorchGraph(_script(lin), [x])
    assert list(g.inputs) == ["input"]
    want = torch.autograd.grad(lin(x).sum(), [lin.weight, lin.bias])
    assert torch.equal(g.grad("weight"), want[0].reshape(g["weight"].shape))
    assert torch.equal(g.grad("bias"), want[1])


def test_meta_tensors():
    x = torch.empty(3, device="meta", requires_grad=True)
    g = TorchGraph(lambda t: (t * 2).sum(), [x])
    assert g.outputs[0].value.device.type == "meta"
    g.plot()


def test_double_backward_inside_func():
    def f(x):
        y = x**3
        (dy,) = torch.autograd.grad(y, [x], create_graph=True)
        return dy * 2

    g = TorchGraph(f, [2.0])
    x = leaf(2.0)
    (expected,) = torch.autograd.grad(f(x), [x])
    assert torch.equal(g.grad("x"), expected)  # 12·x = 24


def test_graphanim_inside_a_traced_function():
    inner_graphs = []

    def f(x):
        y = x * 3
        inner_graphs.append(TorchGraph(lambda t: t.sin(), [y]))
        return y * y

    g = TorchGraph(f, [1.0])
    assert float(g.grad("x")) == 18.0
    assert [op.op for op in g.ops] == ["mul", "mul"]
    (inner,) = inner_graphs
    assert float(inner.value("t")) == 3.0 and inner.grad("t") is not None


# ------------------------------------------------------------------------------- gradients


def test_ties_in_max_follow_torch():
    g = TorchGraph(lambda a, b: torch.max(a, b), [2.0, 2.0])
    a, b = leaf(2.0), leaf(2.0)
    ga, gb = torch.autograd.grad(torch.max(a, b), [a, b])
    assert (float(g.grad("a")), float(g.grad("b"))) == (float(ga), float(gb))


def test_nan_and_inf_values():
    g = TorchGraph(lambda x, y: x / y + torch.log(y), [1.0, 0.0])
    assert torch.isnan(g.outputs[0].value)  # inf + (-inf)
    assert torch.isinf(g.value("div")) and torch.isinf(g.value("log"))
    g.plot(with_all=True)


def test_unused_input_has_no_gradient_not_zero():
    g = TorchGraph(lambda x, y: x * 2, [1.0, 5.0])
    assert g.grad("y") is None and float(g.grad("x")) == 2.0
    assert g.inputs["y"].kind == "input"


def test_custom_function_returning_a_non_tensor_too():
    class WithCount(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, 7

        @staticmethod
        def backward(ctx, g, _):
            return g * 2

    def f(x):
        y, n = WithCount.apply(x)
        return y * n

    assert float(TorchGraph(f, [1.0]).grad("x")) == 14.0


def test_custom_function_marking_an_output_non_differentiable():
    @trackable_function
    class SortIdx(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            values, idx = x.sort()
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            return values, idx

        @staticmethod
        def backward(ctx, g, _):
            (idx,) = ctx.saved_tensors
            out = torch.zeros_like(g)
            out[idx] = g
            return out

    def f(x):
        v, _ = SortIdx.apply(x)
        return (v * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum()

    g = TorchGraph(f, [[3.0, 1.0, 2.0]])
    assert g.grad("x").tolist() == [3.0, 1.0, 2.0]


def test_custom_function_with_the_wrong_number_of_gradients_names_it():
    class TwoIn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g  # one gradient for two inputs

    with pytest.raises(RuntimeError, match="TwoIn"):
        TorchGraph(lambda a, b: TwoIn.apply(a, b), [1.0, 2.0])


def test_func_raising_keeps_type_and_module_flags():
    net = torch.nn.Linear(1, 1).double()
    net.eval()

    def f(x):
        net(x.reshape(1, 1))
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        TorchGraph(f, [1.0])
    assert not net.training


def _batchnorm_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)).double()


def test_batchnorm_running_statistics_are_left_as_they_were():
    net = _batchnorm_net()  # training mode: a forward updates the running statistics
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(5, 3, dtype=torch.float64)

    def f(x):
        return net(x).pow(2).sum()

    first = TorchGraph(f, [x.clone().requires_grad_()])
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k  # running_mean, running_var, num_batches_tracked
    second = TorchGraph(f, [x.clone().requires_grad_()])
    assert first.to_dot() == second.to_dot()
    xx = x.clone().requires_grad_()
    (want,) = torch.autograd.grad(f(xx), [xx])
    assert torch.equal(first.grad("x"), want)


def test_buffers_are_put_back_when_func_raises():
    net = _batchnorm_net()
    before = net[1].running_mean.clone()

    def f(x):
        net(x)
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        TorchGraph(f, [torch.randn(5, 3, dtype=torch.float64)])
    assert torch.equal(net[1].running_mean, before)
    assert int(net[1].num_batches_tracked) == 0


class _Counting(torch.nn.Module):
    """Adds one to a buffer on every call: a small one, and one too big to copy."""

    def __init__(self, big: int):
        super().__init__()
        self.register_buffer("calls", torch.zeros(3))
        self.register_buffer("table", torch.zeros(big))

    def forward(self, x):
        self.calls.add_(1)
        if self.table.numel() > 1:
            self.table.add_(1)
        return x * 2


def test_small_buffers_written_in_place_are_put_back_big_ones_are_reported():
    from graphanim.capture import BUFFER_COPY_NUMEL

    small = _Counting(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TorchGraph(lambda x: small(x).sum(), [[1.0]])
    assert torch.equal(small.calls, torch.zeros(3)) and torch.equal(small.table, torch.zeros(1))

    big = _Counting(BUFFER_COPY_NUMEL + 1)
    with pytest.warns(GraphanimWarning, match=r"1 module buffer\(s\) of more than 65536"):
        TorchGraph(lambda x: big(x).sum(), [[1.0]])
    assert torch.equal(big.calls, torch.zeros(3))  # the small one is back
    assert float(big.table[0]) == 1.0  # the big one keeps the write, as the warning says


def test_dropout_draws_from_a_fork_of_the_random_generator():
    drop = torch.nn.Dropout(0.5)

    def f(x):
        return drop(x).sum()

    torch.manual_seed(0)
    state = torch.get_rng_state()
    g = TorchGraph(f, [[1.0] * 16])
    assert torch.equal(torch.get_rng_state(), state)  # the caller's stream is untouched
    assert TorchGraph(f, [[1.0] * 16]).to_dot() == g.to_dot()
    x = torch.ones(16, dtype=torch.float64, requires_grad=True)
    kept = drop(x)  # what func draws from the same state
    assert torch.equal(g["dropout"].value, kept.detach())
    (want,) = torch.autograd.grad(kept.sum(), [x])
    assert torch.equal(g.grad("x"), want)


def test_check_reruns_func_with_the_captured_dropout_mask_and_leaves_modules_alone():
    net = _batchnorm_net()
    net.append(torch.nn.Dropout(0.3))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(5, 3, dtype=torch.float64)

    def f(x):
        return net(x).pow(2).sum()

    g = TorchGraph(f, [x.requires_grad_()])
    state = torch.get_rng_state()
    result = g.check()
    # every re-run draws the captured mask: the finite differences match autograd's gradients
    assert result.ok and max(row[4] for row in result.rows) < 1e-6
    assert torch.equal(torch.get_rng_state(), state)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_capture_is_repeatable():
    nt = collections.namedtuple("nt", "a b")

    def f(x):
        return nt(x.sin(), x.cos())

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert TorchGraph(f, [1.0]).to_dot() == TorchGraph(f, [1.0]).to_dot()


# ------------------------------------------------------------------------------- big values


def test_big_values_are_aliases_until_an_inplace_op_would_change_them():
    from graphanim.capture import ALIAS_NUMEL

    n = ALIAS_NUMEL + 10

    def f(x):
        y = x * 2
        z = y.sum()
        y.add_(1)  # y is big: its recorded value must be copied before this runs
        w = (y * 3).sum()
        return z + w

    x = torch.linspace(0, 1, n, dtype=torch.float64)
    g = TorchGraph(f, [x.clone().requires_grad_()])
    first = g.successors(g.ops[0].id)[0]
    assert torch.equal(first.value, x * 2)
    xt = x.clone().requires_grad_()
    (expected,) = torch.autograd.grad(f(xt), [xt])
    assert torch.equal(g.grad("x"), expected)


def test_big_value_changed_behind_our_back_is_reported():
    from graphanim.capture import ALIAS_NUMEL

    def f(x):
        y = x * 2
        out = y.sum()
        y.data.mul_(0)  # .data hides the write from autograd; the mode still sees mul_
        return out

    x = torch.ones(ALIAS_NUMEL + 1, dtype=torch.float64, requires_grad=True)
    g = TorchGraph(f, [x])
    first = g.successors(g.ops[0].id)[0]
    assert float(first.value.sum()) == 2.0 * (ALIAS_NUMEL + 1)


def test_unseen_inplace_write_to_a_big_value_is_reported():
    from graphanim.capture import ALIAS_NUMEL

    def f(x):
        y = x * 2
        out = y.sum()
        with torch._C.DisableTorchFunction():  # hides the write from graphanim's mode
            y.detach().mul_(0)
        return out

    x = torch.ones(ALIAS_NUMEL + 1, dtype=torch.float64, requires_grad=True)
    with pytest.warns(GraphanimWarning, match="changed in place by code graphanim could not see"):
        TorchGraph(f, [x])


@pytest.mark.parametrize("shape", [(), (3,), (2, 2)])
def test_small_values_keep_what_they_were_when_recorded(shape: tuple[int, ...]) -> None:
    """Values are aliases while func runs: a seen in-place write copies them first, and what
    func leaves behind for later (a stash) cannot change the graph after capture."""
    stash = []

    def f(x):
        y = x * 2
        z = y + 1
        y.add_(10)  # seen: y's recorded value is copied before this runs
        stash.append(z)
        return (y * 3).sum() + z.sum()

    x0 = torch.full(shape, 0.5, dtype=torch.float64)
    g = TorchGraph(f, [x0.clone().requires_grad_()])
    first = g.successors(g.ops[0].id)[0]
    assert torch.equal(first.value, x0 * 2)  # y before add_
    assert torch.equal(g["y"].value, x0 * 2 + 10)  # the local y is the value after it
    stash[0].detach().mul_(0)  # the caller changes the tensor after capture
    z = g["z"]
    assert torch.equal(z.value, x0 * 2 + 1)
    xt = x0.clone().requires_grad_()
    (expected,) = torch.autograd.grad(f(xt), [xt])
    assert torch.equal(g.grad("x"), expected)


def test_unseen_inplace_write_to_a_small_value_is_reported():
    def f(x):
        y = x * 2
        out = y * 3
        with torch._C.DisableTorchFunction():  # hides the write from graphanim's mode
            y.detach().mul_(0)
        return out

    with pytest.warns(GraphanimWarning, match="1 recorded value"):
        TorchGraph(f, [1.0])
