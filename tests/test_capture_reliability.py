"""Capture cases users hit (issue 16): reentrant checkpoints, tensors held in containers, names
that are not valid text."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.utils.checkpoint import checkpoint

from graphanim import TorchGraph
from graphanim.capture import GraphanimWarning

# ----------------------------------------------------------------------------- checkpointing


def _block_net() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    return nn.Linear(3, 3), nn.Linear(3, 1)


def _checkpointed(inner: nn.Module, head: nn.Module, reentrant: bool):  # type: ignore[no-untyped-def]
    def block(h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(inner(h)) * 2

    def f(x: torch.Tensor) -> torch.Tensor:
        h = x * 3
        y = checkpoint(block, h, use_reentrant=reentrant)
        return head(y).sum()

    return f


def _torch_grads(f, x: torch.Tensor, params: list[torch.Tensor]):  # type: ignore[no-untyped-def]
    """Gradients of x and params from a plain f(x).backward(), leaving their .grad as it was."""
    saved = [p.grad for p in params]
    xt = x.detach().clone().requires_grad_()
    for p in params:
        p.grad = None
    out = f(xt)
    out.backward()
    grads = [p.grad.clone() for p in params]
    for p, s in zip(params, saved):
        p.grad = s
    return out.detach(), xt.grad, grads


@pytest.mark.parametrize("reentrant", [True, False])
def test_checkpointed_block_values_and_gradients_match_backward(reentrant: bool) -> None:
    inner, head = _block_net()
    f = _checkpointed(inner, head, reentrant)
    x = torch.randn(2, 3, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = TorchGraph(f, [x])
    out, gx, (gw_head,) = _torch_grads(f, x, [head.weight])
    torch.testing.assert_close(g.outputs[0].value, out)
    torch.testing.assert_close(g.grad("x"), gx)
    # the gradient entering the checkpointed block's output equals torch's
    y = x * 3
    yt = (torch.tanh(inner(y)) * 2).detach().requires_grad_()
    head(yt).sum().backward()
    torch.testing.assert_close(g.grad("y"), yt.grad)
    torch.testing.assert_close(g.grad("head.weight"), gw_head)
    ops = [n.op for n in g.ops]
    notes = [m for m in caught if issubclass(m.category, GraphanimWarning)]
    if reentrant:
        (block,) = [n for n in g.ops if n.op == "CheckpointFunction"]
        assert "recomputes" in block.attrs["note"]
        assert "tanh" not in ops
        assert any("use_reentrant=True" in str(m.message) for m in notes)
    else:  # the non-reentrant variant shows the block's ops
        assert "tanh" in ops and "CheckpointFunction" not in ops
        assert not notes


def test_reentrant_capture_leaves_every_grad_and_hook_as_it_was() -> None:
    inner, head = _block_net()
    f = _checkpointed(inner, head, reentrant=True)
    x = torch.randn(2, 3, requires_grad=True)
    x.grad = torch.full((2, 3), 7.0)
    inner.weight.grad = torch.full((3, 3), 5.0)
    old_x, old_inner = x.grad, inner.weight.grad
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GraphanimWarning)
        g = TorchGraph(f, [x])
    # the block's own parameter (reached only by the recomputation) and the outer leaves
    assert x.grad is old_x and torch.equal(x.grad, torch.full((2, 3), 7.0))
    assert inner.weight.grad is old_inner and torch.equal(old_inner, torch.full((3, 3), 5.0))
    assert inner.bias.grad is None and head.weight.grad is None and head.bias.grad is None
    assert not x._backward_hooks
    assert torch._C._len_torch_function_stack() == 0
    _, gx, _ = _torch_grads(f, x, [])
    torch.testing.assert_close(g.grad("x"), gx)


# ----------------------------------------------------------------------------- containers


def test_tensors_in_dicts_and_lists_are_named_by_key_and_meta_gradients_match() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1))
    params = {k: v.detach().clone().requires_grad_() for k, v in net.named_parameters()}
    ws = [torch.tensor(0.5, requires_grad=True), torch.tensor(2.0, requires_grad=True)]

    def inner_step(x: torch.Tensor, y: torch.Tensor, p: dict[str, torch.Tensor]):  # type: ignore[no-untyped-def]
        loss = ((functional_call(net, p, (x,)) - y) ** 2).mean()
        grads = torch.autograd.grad(loss, list(p.values()), create_graph=True)
        return {k: v - 0.1 * gr for (k, v), gr in zip(p.items(), grads)}

    def f(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fast = inner_step(x, y, params)
        return ((functional_call(net, fast, (x,)) - y) ** 2).mean() * ws[0] + ws[1]

    x, y = torch.randn(4, 2), torch.randn(4, 1)
    g = TorchGraph(f, [x, y])
    names = [n.name for n in g.nodes if n.kind == "input"]
    assert names == [f'params["{k}"]' for k in params] + ["ws[0]", "ws[1]"]
    leaves = [*params.values(), *ws]
    expected = torch.autograd.grad(f(x, y), leaves)
    for name, want in zip(names, expected):
        torch.testing.assert_close(g.grad(name), want)
    assert all(t.grad is None for t in leaves)


def test_a_variable_holding_the_tensor_wins_over_a_container_entry() -> None:
    w = torch.tensor(3.0, requires_grad=True)
    table = {"w": w, 1: torch.tensor(1.0)}
    # the closure holds the container; the global (below) holds the tensor itself
    globals()["held_weight"] = w
    try:
        g = TorchGraph(lambda x: x * table["w"] + table[1], [2.0])
    finally:
        del globals()["held_weight"]
    held = {n.name for n in g.nodes if n.kind in ("input", "constant")}
    assert held >= {"held_weight", "table[1]"}


def test_a_dict_argument_names_its_tensors() -> None:
    p = {"a": torch.tensor(2.0, requires_grad=True), "b": torch.tensor(5.0, requires_grad=True)}

    def f(x: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
        return x * p["a"] + p["b"]

    g = TorchGraph(f, [1.5, p])
    assert float(g.grad('p["a"]')) == 1.5 and float(g.grad('p["b"]')) == 1.0


# ----------------------------------------------------------------------------- names


def test_names_with_lone_surrogates_are_escaped_in_every_output(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = "x\udc80"  # what os.fsdecode gives for an undecodable byte
    shown = "x\\udc80"

    def f(a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss\udcff": a * b + a}

    g = TorchGraph(f, [2.0, 3.0], names=[bad, "y"])
    assert g[bad] is g[shown] and bad in g
    assert float(g.grad(bad)) == 4.0
    assert g.outputs[0].name == "loss\\udcff"
    written = repr(shown)[1:-1]  # reprs and DOT write the backslash as \\
    for text in (str(g.nodes), repr(g[bad]), g.to_dot(), str(g.explain(bad))):
        assert shown in text or written in text
        text.encode("utf-8")  # valid text throughout
    assert shown in str(g.explain(bad)) and g[bad].name == shown
    fig = g.plot()
    labels = [t.get_text() for t in fig.findobj(plt.Text)]
    assert any(shown in t for t in labels)
    plt.close(fig)
    png = g.save(tmp_path / "g.png")
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    svg = g.save(tmp_path / "g.svg")
    with open(svg, "rb") as fh:
        data = fh.read()
    data.decode("utf-8")
    assert b"\xed\xb3\x80" not in data  # no encoded surrogate


def test_module_paths_with_lone_surrogates_are_escaped() -> None:
    net = nn.Sequential()
    net.add_module("l\udc80", nn.Linear(2, 1))
    g = TorchGraph(net, [torch.ones(1, 2)])
    assert "l\\udc80.weight" in g.parameters
    assert "l\\udc80" in g.modules
