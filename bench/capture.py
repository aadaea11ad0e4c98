"""Capture benchmark: TorchGraph time and memory against plain forward+backward and torchviz.

Run by hand: ``python bench/capture.py`` (add ``--quick`` to skip the 20,000-op chain). Prints a
Markdown table; ``--phases`` prints where a capture spends its time instead. Memory: what a fresh
subprocess holds after the workload (see ``held_mb``).

The peers, measured in the same run: plain forward+backward, torchviz ``make_dot`` when installed,
and ``minimal``: the least any capture that shows every op's value and gradient as Python objects
must do (see :func:`minimal`), a floor for what graphanim's own bookkeeping costs on top.
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from graphanim import TorchGraph
from graphanim.graph import Edge, Graph, Node

# ----------------------------------------------------------------------------- workloads


def chain(n: int) -> tuple[Callable[..., Any], list[Any]]:
    def f(x):
        for i in range(n):
            x = torch.sin(x) if i % 2 else x * 1.0001
        return x

    return f, [0.5]


def random_dag(n: int, seed: int = 0) -> tuple[Callable[..., Any], list[Any]]:
    """``n`` ops over 4 inputs; each op takes 1 or 2 operands among the earlier values."""
    rng = random.Random(seed)
    plan = []
    for k in range(n):
        if rng.random() < 0.5:
            plan.append(("u", rng.choice(["sin", "tanh", "neg"]), rng.randrange(4 + k), None))
        else:
            plan.append(
                ("b", rng.choice(["add", "mul", "sub"]), rng.randrange(4 + k), rng.randrange(4 + k))
            )

    def f(a, b, c, d):
        vals = [a, b, c, d]
        for kind, op, i, j in plan:
            if kind == "u":
                vals.append(getattr(torch, op)(vals[i]))
            else:
                x, y = vals[i], vals[j]
                vals.append(x + y if op == "add" else x * y if op == "mul" else x - y)
        return sum(vals[-8:])

    return f, [0.1, 0.2, 0.3, 0.4]


def mlp() -> tuple[Callable[..., Any], list[Any]]:
    torch.manual_seed(0)
    sizes = [10, 20, 30, 40, 1]
    layers: list[torch.nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])
    x = torch.randn(100, 10)
    y = torch.randn(100, 1)

    def loss(x, y):
        return torch.nn.functional.mse_loss(net(x), y)

    return loss, [x, y]


WORKLOADS: dict[str, Callable[[], tuple[Callable[..., Any], list[Any]]]] = {
    "chain 1000 ops": lambda: chain(1000),
    "random DAG 1000 ops": lambda: random_dag(1000),
    "MLP 10-20-30-40-1, batch 100": mlp,
    "chain 20000 ops": lambda: chain(20000),
}

# ----------------------------------------------------------------------------- measures


def _leaves(args: list[Any]) -> list[torch.Tensor]:
    out = []
    for a in args:
        if isinstance(a, torch.Tensor):
            out.append(a)
        else:
            out.append(torch.tensor(float(a), dtype=torch.float64, requires_grad=True))
    return out


def plain(func: Callable[..., Any], args: list[Any]) -> None:
    leaves = _leaves(args)
    out = func(*leaves)
    params = [t for t in leaves if t.requires_grad]
    torch.autograd.grad(out, params or list(_params_of(func)), allow_unused=True)


def _params_of(func: Callable[..., Any]) -> Any:
    for cell in getattr(func, "__closure__", None) or ():
        obj = cell.cell_contents
        if isinstance(obj, torch.nn.Module):
            yield from obj.parameters()


def capture(func: Callable[..., Any], args: list[Any]) -> None:
    TorchGraph(func, args)


class _Minimal(TorchFunctionMode):
    """Keeps ``(args, kwargs, output)`` of every op with a differentiable tensor output."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, Any, torch.Tensor]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        if type(out) is torch.Tensor and out.grad_fn is not None:
            self.calls.append((args, kwargs, out))
        return out


def minimal(func: Callable[..., Any], args: list[Any]) -> Graph:
    """The least a capture showing every op's value and gradient must do, and nothing more.

    Run ``func`` under a TorchFunctionMode that keeps each op's arguments and output, walk the
    autograd graph once (to drop ops the output does not depend on), ask one backward pass for
    the gradient of every kept value and leaf, and make one ``Node`` per value, op and Python
    number and one ``Edge`` per arrow. None of graphanim's care: no names, no packing of scalars
    (memory), no per-edge gradient shares, no saved tensors, modules, backward order or
    in-place safety; ops with several outputs are not kept. Like graphanim, it keeps the cyclic
    garbage collector off while it allocates.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _minimal(func, args)
    finally:
        if was_enabled:
            gc.enable()


def _minimal(func: Callable[..., Any], args: list[Any]) -> Graph:
    leaves = _leaves(args)
    mode = _Minimal()
    with mode:
        out = func(*leaves)
    seen: set[Any] = set()
    stack = [out.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        stack.extend(e[0] for e in fn.next_functions)
    calls = [c for c in mode.calls if c[2].grad_fn in seen]
    sources = [t for t in leaves if t.requires_grad] or list(_params_of(func))
    grads = torch.autograd.grad(out, sources + [c[2] for c in calls], allow_unused=True)
    nodes: list[Node] = []
    edges: list[Edge] = []
    by_id: dict[int, Node] = {}
    for t, g in zip(sources, grads):
        by_id[id(t)] = node = Node(f"n{len(nodes)}", "x", "x", "input", t.detach(), g)
        nodes.append(node)
    for (a, kw, o), g in zip(calls, grads[len(sources) :]):
        operands = []
        for x in [*a, *[v for v in (kw or {}).values() if isinstance(v, torch.Tensor)]]:
            if isinstance(x, torch.Tensor):
                held = by_id.get(id(x))
                if held is None:
                    held = by_id[id(x)] = Node(f"n{len(nodes)}", "c", "c", "constant", x.detach())
                    nodes.append(held)
                operands.append(held)
            elif type(x) in (int, float):
                node = Node(f"n{len(nodes)}", str(x), str(x), "constant", x)
                nodes.append(node)
                operands.append(node)
        op = Node(f"n{len(nodes)}", "op", "op", "op")
        nodes.append(op)
        edges.extend(Edge(src.id, op.id, None, i) for i, src in enumerate(operands))
        value = Node(f"n{len(nodes)}", "v", "v", "value", o.detach(), g)
        by_id[id(o)] = value
        nodes.append(value)
        edges.append(Edge(op.id, value.id, g))
    return Graph(nodes, edges)


def torchviz(func: Callable[..., Any], args: list[Any]) -> None:
    from torchviz import make_dot

    out = func(*_leaves(args))
    make_dot(out)


def best_of(fns: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Best time of each of ``fns``, run in turn ``repeat`` times (interleaved, so that every
    measure sees the same machine state: caches, allocator, garbage left by the others)."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def held_mb(workload: str, mode: str) -> float:
    """Memory (MB) a fresh subprocess holds after one workload, its result kept alive.

    Resident memory after minus before, read from /proc/self/statm after ``malloc_trim`` returns
    freed heap pages to the system, so import-time peaks and freed temporaries do not count.
    ``plain`` keeps the output (and so the autograd graph with its saved tensors) and the
    gradients; ``capture`` keeps the TorchGraph.
    """
    code = (
        "import gc, os, sys; sys.path.insert(0, 'bench'); import capture as c\n"
        "import ctypes; trim = ctypes.CDLL('libc.so.6').malloc_trim\n"
        "def rss():\n"
        "    gc.collect(); trim(0)\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
        f"f, a = c.WORKLOADS[{workload!r}]()\n"
        "c.plain(*c.WORKLOADS['chain 1000 ops']()); c.capture(*c.WORKLOADS['chain 1000 ops']())\n"
        "gc.collect(); before = rss()\n"
        f"kept = getattr(c, {mode!r} + '_kept')(f, a)\n"
        "gc.collect(); print((rss() - before) / 2**20)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def plain_kept(func: Callable[..., Any], args: list[Any]) -> Any:
    leaves = _leaves(args)
    out = func(*leaves)
    params = [t for t in leaves if t.requires_grad] or list(_params_of(func))
    grads = torch.autograd.grad(out, params, allow_unused=True, retain_graph=True)
    return out, grads


def capture_kept(func: Callable[..., Any], args: list[Any]) -> Any:
    return TorchGraph(func, args)


PHASES = ("forward", "walk", "saved", "backward", "build", "other")


def phases(func: Callable[..., Any], args: list[Any], repeat: int) -> dict[str, float]:
    """Best time (s) of each phase of a capture: ``forward`` runs ``func`` under the recording
    mode, ``walk`` reads the autograd graph, ``saved`` finds the saved tensors, ``backward`` is
    the one backward pass, ``build`` makes the nodes and edges; ``other`` is the rest (operand
    reading, op ownership, cleanup)."""
    from graphanim import trace as T

    spent: dict[str, float] = {}
    start = [0.0]
    wrapped = {"_walk": "walk", "_read_saved": "saved", "_backward": "backward", "_build": "build"}
    originals = {name: getattr(T, name) for name in [*wrapped, "_trace", "_outputs"]}

    def timed(name: str, phase: str) -> Callable[..., Any]:
        def run(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return originals[name](*a, **k)
            finally:
                spent[phase] = spent.get(phase, 0.0) + time.perf_counter() - t0

        return run

    def traced(*a: Any, **k: Any) -> Any:
        start[0] = time.perf_counter()
        return originals["_trace"](*a, **k)

    def outputs(*a: Any, **k: Any) -> Any:
        spent["forward"] = time.perf_counter() - start[0]
        return originals["_outputs"](*a, **k)

    best: dict[str, float] = {}
    try:
        for name, phase in wrapped.items():
            setattr(T, name, timed(name, phase))
        T._trace, T._outputs = traced, outputs  # type: ignore[assignment]
        capture(func, args)
        for _ in range(repeat):
            spent.clear()
            t0 = time.perf_counter()
            capture(func, args)
            total = time.perf_counter() - t0
            spent["other"] = total - sum(spent.values())
            for phase in PHASES:
                best[phase] = min(best.get(phase, float("inf")), spent.get(phase, 0.0))
    finally:
        for name, fn in originals.items():
            setattr(T, name, fn)
    return best


def print_phases(repeat: int) -> None:
    print("| workload | " + " | ".join(PHASES) + " |")
    print("|---|" + "---:|" * len(PHASES))
    for name, make in WORKLOADS.items():
        if "20000" in name:
            continue
        best = phases(*make(), repeat)
        print(f"| {name} | " + " | ".join(f"{best[p] * 1e3:.2f} ms" for p in PHASES) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 20,000-op chain")
    parser.add_argument("--repeat", type=int, default=20, help="runs per measure; the best counts")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument(
        "--phases", action="store_true", help="only print where a capture spends its time"
    )
    ns = parser.parse_args()
    if ns.phases:
        print_phases(ns.repeat)
        return
    try:
        import torchviz as _tv  # noqa: F401

        have_torchviz = True
    except ImportError:
        have_torchviz = False

    rows = []
    for name, make in WORKLOADS.items():
        if ns.quick and "20000" in name:
            continue
        func, args = make()
        capture(func, args)  # warm up caches and lazy imports
        repeat = min(ns.repeat, 3) if "20000" in name else ns.repeat
        t_viz: float | str | None = None
        fns: list[Callable[[], Any]] = [
            functools.partial(plain, func, args),
            functools.partial(capture, func, args),
            functools.partial(minimal, func, args),
        ]
        if have_torchviz:
            try:
                torchviz(func, args)
                fns.append(functools.partial(torchviz, func, args))
            except RecursionError:
                t_viz = "RecursionError"
        t_plain, t_cap, t_min, *rest = best_of(fns, repeat)
        if rest:
            t_viz = rest[0]
        m_plain = held_mb(name, "plain")
        m_cap = held_mb(name, "capture")
        rows.append(
            {
                "workload": name,
                "plain_s": t_plain,
                "capture_s": t_cap,
                "minimal_s": t_min,
                "torchviz_s": t_viz,
                "plain_mb": m_plain,
                "capture_mb": m_cap,
            }
        )

    print(
        "| workload | plain fwd+bwd | graphanim capture | ÷ plain "
        "| minimal capture | ÷ plain "
        "| torchviz make_dot (fwd + graph) | ÷ torchviz "
        "| memory plain | memory capture | ÷ plain |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        tv = r["torchviz_s"]
        if isinstance(tv, float):
            viz, viz_ratio = f"{tv * 1e3:.1f} ms", f"{r['capture_s'] / tv:.2f}×"
        else:
            viz, viz_ratio = tv or "n/a", "n/a"
        mem_ratio = r["capture_mb"] / r["plain_mb"] if r["plain_mb"] > 1 else float("nan")
        print(
            f"| {r['workload']} | {r['plain_s'] * 1e3:.1f} ms | {r['capture_s'] * 1e3:.1f} ms "
            f"| {r['capture_s'] / r['plain_s']:.2f}× "
            f"| {r['minimal_s'] * 1e3:.1f} ms | {r['minimal_s'] / r['plain_s']:.2f}× "
            f"| {viz} | {viz_ratio} "
            f"| {r['plain_mb']:.1f} MB | {r['capture_mb']:.1f} MB | {mem_ratio:.2f}× |"
        )
    print(
        "\nTarget: capture ≤ 3× plain forward+backward at 1000 ops; "
        "memory ≤ ~2× on the 20,000-op chain.\n"
        "minimal capture: the least any capture showing every op's value and gradient as "
        "Python objects does (bench/capture.py: minimal), with none of graphanim's bookkeeping."
    )
    if ns.json:
        with open(ns.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
