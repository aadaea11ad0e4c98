"""Property-based checks on random expression graphs with random custom autograd Functions.

For every generated program: capture never crashes, every gradient equals PyTorch's own (a plain
run of the same function), capturing leaves no hook or mode behind, and each custom Function is
one op node with its label. For fewer (drawing costs time): ``plot`` and a short GIF succeed, and
two separate captures of the same input give byte-identical PNG and GIF files.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphanim import TorchGraph, trackable_function
from graphanim.render import LegibilityWarning

from ._programs import programs, programs_with_inplace

# name -> (forward(x), backward(x, y, grad) with y = forward(x), mathtext label)
UNARY_FUNCTIONS: dict[str, tuple[Callable[..., Any], Callable[..., Any], str]] = {
    "sin3": (lambda x: 3 * torch.sin(x), lambda x, y, g: 3 * torch.cos(x) * g, r"$3\sin$"),
    "cube": (lambda x: x**3, lambda x, y, g: 3 * x**2 * g, r"$x^3$"),
    "exp": (torch.exp, lambda x, y, g: y * g, r"$e^x$"),
    "sigmoid": (torch.sigmoid, lambda x, y, g: y * (1 - y) * g, r"$\sigma$"),
    "softsign": (lambda x: x / (1 + x.abs()), lambda x, y, g: g / (1 + x.abs()) ** 2, "softsign"),
}

# (kind, decorated with @trackable_function, has a ``name``)
Spec = tuple[str, bool, bool]


@functools.cache
def make_function(kind: str, decorated: bool, named: bool) -> type[torch.autograd.Function]:
    """A custom Function class with a correct forward/backward pair; one class per spec.

    Classes are cached: the same spec is the same class (and the same registry entry) in every
    example, as a notebook cell run twice would be.
    """
    qualname = f"Gen_{kind}_{'tracked' if decorated else 'plain'}_{'named' if named else 'bare'}"
    if kind == "mul2":

        def forward2(ctx: Any, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            ctx.save_for_backward(a, b)
            return a * b

        def backward2(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            a, b = ctx.saved_tensors
            return g * b, g * a

        body: dict[str, Any] = {"forward": staticmethod(forward2),
                                "backward": staticmethod(backward2)}
        label = r"$a \cdot b$"
    else:
        fwd, bwd, label = UNARY_FUNCTIONS[kind]

        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            y = fwd(x)
            ctx.save_for_backward(x, y)
            return y

        def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
            x, y = ctx.saved_tensors
            return bwd(x, y, g)

        body = {"forward": staticmethod(forward), "backward": staticmethod(backward)}
    body.update(__module__=__name__, __qualname__=qualname)
    if named:
        body["name"] = label
    cls = type(qualname, (torch.autograd.Function,), body)
    return trackable_function(cls) if decorated else cls


def expected_label(spec: Spec) -> str:
    _, decorated, named = spec
    cls = make_function(*spec)
    if decorated and named:
        return str(cls.name)  # type: ignore[attr-defined]
    return cls.__name__


unary_specs = st.tuples(st.sampled_from(sorted(UNARY_FUNCTIONS)), st.booleans(), st.booleans())
pair_specs = st.tuples(st.just("mul2"), st.booleans(), st.booleans())


@st.composite
def programs_with_functions(draw: st.DrawFn) -> dict[str, Any]:
    """A random program from ``_programs.programs`` with custom Functions around it: on some
    inputs (before), on some outputs (after), and optionally one two-input Function mixing the
    first two inputs."""
    src, args, seeds, outs = draw(programs())
    before = [draw(st.none() | unary_specs) for _ in args]
    after = [draw(st.none() | unary_specs) for _ in outs]
    pair = draw(st.none() | pair_specs) if len(args) >= 2 else None
    return {"src": src, "args": args, "seeds": seeds, "before": before, "after": after,
            "pair": pair}


def build(case: dict[str, Any]) -> Callable[..., Any]:
    env: dict[str, Any] = {"torch": torch}
    exec(case["src"], env)
    prog = env["prog"]
    before = [None if s is None else make_function(*s) for s in case["before"]]
    after = [None if s is None else make_function(*s) for s in case["after"]]
    pair = None if case["pair"] is None else make_function(*case["pair"])

    def model(*xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        ins = [x if f is None else f.apply(x) for f, x in zip(before, xs, strict=True)]
        if pair is not None:
            ins[0] = pair.apply(ins[0], ins[1])
        results = prog(*ins)
        return tuple(r if f is None else f.apply(r) for f, r in zip(after, results, strict=True))

    return model


def specs_used(case: dict[str, Any]) -> list[Spec]:
    used = [s for s in (*case["before"], *case["after"]) if s is not None]
    return used + ([case["pair"]] if case["pair"] is not None else [])


def backward_nodes(results: tuple[torch.Tensor, ...]) -> list[str]:
    """Class names of the autograd nodes the outputs depend on, each node once (torch's graph)."""
    seen: set[Any] = set()
    stack = [r.grad_fn for r in results if r.grad_fn is not None]
    names = []
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        names.append(type(node).__name__)
        stack.extend(fn for fn, _ in node.next_functions if fn is not None)
    return names


def process_state() -> tuple[object, ...]:
    return sys.gettrace(), sys.getprofile(), torch._C._len_torch_function_stack(), \
        torch.is_grad_enabled()


def assert_same(got: torch.Tensor | None, expected: torch.Tensor | None, what: str) -> None:
    if expected is None:
        assert got is None, f"{what}: graphanim shows a gradient where torch computes none"
        return
    assert got is not None, f"{what}: graphanim shows no gradient, torch computes {expected}"
    torch.testing.assert_close(got, expected, rtol=0, atol=0, equal_nan=True, msg=what)


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(programs_with_functions())
def test_capture_matches_torch_for_random_programs_and_functions(case: dict[str, Any]) -> None:
    model = build(case)
    state = process_state()
    g = TorchGraph(model, case["args"], case["seeds"])
    assert process_state() == state

    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in case["args"]]
    results = model(*leaves)
    torch.autograd.backward(list(results),
                            [torch.tensor(s, dtype=torch.float64) for s in case["seeds"]])
    assert len(g.outputs) == len(results)
    for node, result in zip(g.outputs, results, strict=True):
        assert_same(node.value, result.detach(), f"value of output {node.name}")
    for i, leaf in enumerate(leaves):
        assert_same(g.grad(f"x{i}"), leaf.grad, f"gradient of x{i}")

    # every custom Function that the outputs depend on is one op node, labelled by its name
    # (decorated) or its class name; torch's graph has one <Class>Backward node for each
    in_torch = backward_nodes(results)
    for spec in set(specs_used(case)):
        cls = make_function(*spec)
        nodes = [n for n in g.ops if n.op == cls.__name__]
        assert len(nodes) == in_torch.count(f"{cls.__name__}Backward"), (spec, in_torch)
        assert all(n.label == expected_label(spec) for n in nodes)


# the ops of ``programs_with_inplace``, replayed on the operand values the graph recorded
REPLAY: dict[str, Callable[..., torch.Tensor]] = {
    "add": torch.add, "add_": torch.add, "sub": torch.sub, "sub_": torch.sub, "mul": torch.mul,
    "mul_": torch.mul, "neg": torch.neg, "sin": torch.sin, "maximum": torch.maximum,
}


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(programs_with_inplace())
def test_inplace_updates_leave_each_op_with_the_operands_it_read(
    program: tuple[str, list[float], list[str]],
) -> None:
    """Values change in place after ops read them: every op, replayed on the operand values the
    graph shows for it, must give the output value the graph shows; gradients equal PyTorch's."""
    src, args, _outs = program
    namespace: dict[str, Any] = {"torch": torch}
    exec(src, namespace)
    prog = namespace["prog"]
    state = process_state()
    g = TorchGraph(prog, args)
    assert process_state() == state

    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
    results = prog(*leaves)
    grads = torch.autograd.grad(list(results), leaves, allow_unused=True)
    for node, result in zip(g.outputs, results, strict=True):
        assert_same(node.value, result.detach(), f"value of output {node.name}")
    for i, expected in enumerate(grads):
        assert_same(g.grad(f"x{i}"), expected, f"gradient of x{i}\n{src}")
    for op in g.ops:
        operands = [g.node(e.src).value for e in sorted(g.in_edges(op), key=lambda e: e.index)]
        (out,) = g.successors(op)
        if op.op == "pow":
            replay = torch.pow(operands[0], op.attrs["exponent"])
        else:
            replay = REPLAY[str(op.op)](*operands)
        assert_same(replay, out.value, f"{op.op} replayed on its operands\n{src}")


@pytest.fixture(scope="module")
def drawings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("drawings")


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=programs_with_functions())
def test_drawing_succeeds_and_is_byte_identical(case: dict[str, Any], drawings: Path) -> None:
    model = build(case)
    first = TorchGraph(model, case["args"], case["seeds"])
    second = TorchGraph(model, case["args"], case["seeds"])  # a separate capture

    fig = first.plot(with_all=True)
    assert fig.axes
    plt.close(fig)

    pngs, gifs = [], []
    for k, g in enumerate((first, second)):
        png = drawings / f"g{k}.png"
        g.save(png, with_all=True, dpi=30, labels=True)
        pngs.append(png.read_bytes())
        gif = drawings / f"g{k}.gif"
        with warnings.catch_warnings():  # labels drawn even where small: they are the point
            warnings.simplefilter("ignore", LegibilityWarning)
            anim = g.animate("both", dpi=25, labels=True)
            anim.save(gif)
        gifs.append(gif.read_bytes())
    assert pngs[0].startswith(b"\x89PNG") and pngs[0] == pngs[1]
    assert gifs[0].startswith(b"GIF89a") and gifs[0] == gifs[1]
    assert gifs[0].count(b"\x21\xf9\x04") == anim.frames  # one graphic control block per frame
