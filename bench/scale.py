"""Scale benchmark: capture + layout + PNG on big graphs and real networks; prints Markdown.

Run by hand from the repository root::

    python bench/scale.py            # everything (a few minutes with Graphviz installed)
    python bench/scale.py --quick    # skip the 20,000-op chain and the peer's dot renders

Every measurement runs in a fresh subprocess, so its peak resident memory (``ru_maxrss``, which
includes the ~0.3-0.5 GB of importing torch and matplotlib) belongs to that workload alone.

Workloads, all captured with ``TorchGraph`` on real torch functions:

- a 20,000-op chain (``sin`` and ``× 1.0001`` alternating) and a 5,000-op random DAG (unary and
  binary ops on earlier values, mostly recent ones; every value reaches the loss);
- an MLP 10-20-30-40-1 with MSE on a batch of 100, a ResNet-18-like CNN on 1×3×32×32 (stem, four
  stages of two basic blocks, pool, fc; ``--width`` channels in the first stage, 64 in ResNet-18)
  with cross-entropy, and an ``nn.TransformerEncoderLayer`` (d_model 64, 4 heads, feed-forward 128,
  train mode, dropout 0) on 4×16×64 reduced by ``pow(2).mean()``.

Columns: plain forward+backward and capture (best of ``--repeat``, the two alternating, after one
warm-up of each; the big graphs once), layout and PNG of what ``plot`` draws by default (modules
collapsed to ``auto_depth`` when the graph is big, see ``graphanim.modules``; the PNG after one
untimed picture of a tiny graph, which loads matplotlib's fonts), their total, the peak memory,
and the same for the peer: torchviz ``make_dot`` (forward + graph building) plus
Graphviz ``dot -Tpng`` when installed (capped at ``--dot-timeout`` seconds).

Targets (issue 8): the 20,000-op chain in <= 30 s and <= 2 GB peak on 2 cores; ResNet-like
capture <= 3x its plain forward+backward.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

Workload = tuple[Callable[..., Any], list[Any]]

# ----------------------------------------------------------------------------- workloads


def chain(n: int) -> Workload:
    def f(x):
        for i in range(n):
            x = torch.sin(x) if i % 2 else x * 1.0001
        return x

    return f, [0.5]


def random_dag(n: int, seed: int = 0) -> Workload:
    """About ``n`` ops over 4 inputs: unary and binary ops on earlier values (80% among the last
    50), then a balanced sum of the values nothing else reads, so every op reaches the output."""
    rng = random.Random(seed)
    plan: list[tuple[str, int, int]] = []
    unread = set(range(4))
    count = 4

    def pick() -> int:
        if rng.random() < 0.8:
            return rng.randrange(max(0, count - 50), count)
        return rng.randrange(count)

    while len(plan) + max(len(unread) - 1, 0) < n:
        op = rng.choice(["sin", "tanh", "neg", "add", "mul", "sub"])
        i = pick()
        j = pick() if op in ("add", "mul", "sub") else -1
        plan.append((op, i, j))
        unread.discard(i)
        unread.discard(j)
        unread.add(count)
        count += 1
    sinks = sorted(unread)

    def f(a, b, c, d):
        vals = [a, b, c, d]
        for op, i, j in plan:
            x = vals[i]
            if op == "add":
                vals.append(x + vals[j])
            elif op == "mul":
                vals.append(x * vals[j])
            elif op == "sub":
                vals.append(x - vals[j])
            else:
                vals.append(getattr(torch, op)(x))
        level = [vals[k] for k in sinks]
        while len(level) > 1:
            level = [level[k] + level[k + 1] if k + 1 < len(level) else level[k]
                     for k in range(0, len(level), 2)]
        return level[0]

    return f, [0.1, 0.2, 0.3, 0.4]


def mlp() -> Workload:
    torch.manual_seed(0)
    sizes = [10, 20, 30, 40, 1]
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    net = nn.Sequential(*layers[:-1])
    x, y = torch.randn(100, 10), torch.randn(100, 1)

    def loss(x):
        return nn.functional.mse_loss(net(x), y)

    return loss, [x]


class _Block(nn.Module):
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

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class _ResNet(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        cin = width
        for i in range(4):
            cout = width * 2**i
            block = nn.Sequential(_Block(cin, cout, 1 if i == 0 else 2), _Block(cout, cout))
            setattr(self, f"layer{i + 1}", block)
            cin = cout
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, 10)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet(width: int) -> Workload:
    torch.manual_seed(0)
    net = _ResNet(width)
    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    target = torch.tensor([3])

    def loss(x):
        return nn.functional.cross_entropy(net(x), target)

    return loss, [x]


def transformer() -> Workload:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, batch_first=True).train()
    x = torch.randn(4, 16, 64, requires_grad=True)

    def loss(x):
        return layer(x).pow(2).mean()

    return loss, [x]


WORKLOADS: dict[str, Callable[[], Workload]] = {
    "chain 20000 ops": lambda: chain(20000),
    "random DAG 5000 ops": lambda: random_dag(5000),
    "MLP 10-20-30-40-1, batch 100": mlp,
    "ResNet-like, width 8": lambda: resnet(8),
    "ResNet-like, width 64": lambda: resnet(64),
    "TransformerEncoderLayer 4×16×64": transformer,
}
BIG = ("chain 20000 ops", "random DAG 5000 ops")

# ----------------------------------------------------------------------------- measures


def _leaves(args: list[Any]) -> list[torch.Tensor]:
    return [a.detach().requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor)
            else torch.tensor(float(a), dtype=torch.float64, requires_grad=True) for a in args]


def _plain(func: Callable[..., Any], args: list[Any]) -> None:
    out = func(*_leaves(args))
    out.backward()


def _best(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_graphanim(name: str, repeat: int) -> dict[str, Any]:
    from graphanim import TorchGraph
    from graphanim.modules import at_depth

    func, args = WORKLOADS[name]()
    big = name in BIG
    reps = 1 if big else repeat
    row: dict[str, Any] = {"import_mb": _peak_mb()}
    if not big:
        _plain(func, args)
        TorchGraph(func, args)  # warm up lazy imports and caches
    # plain and capture alternate, so that load from other processes hits both alike
    row["plain_s"] = row["capture_s"] = float("inf")
    for _ in range(reps):
        row["plain_s"] = min(row["plain_s"], _best(lambda: _plain(func, args), 1))
        t0 = time.perf_counter()
        g = TorchGraph(func, args)
        row["capture_s"] = min(row["capture_s"], time.perf_counter() - t0)
    shown = at_depth(g)
    row["ops"] = len(g.ops)
    row["ops_shown"] = len(shown.ops)
    row["depth"] = getattr(shown, "depth", None)
    t0 = time.perf_counter()
    shown.layout()  # type: ignore[attr-defined]
    row["layout_s"] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # matplotlib loads fonts and backends on the first picture of a process: not timed
        TorchGraph(lambda a: a * 2, [1.0]).save(os.path.join(tmp, "warm.png"))
        caught.clear()
        t0 = time.perf_counter()
        g.save(os.path.join(tmp, "g.png"))  # draws `shown`, its layout cached
        row["png_s"] = time.perf_counter() - t0
    row["warnings"] = sorted({type(w.message).__name__ for w in caught})
    row["peak_mb"] = _peak_mb()
    return row


def child_torchviz(name: str, repeat: int, dot_timeout: float) -> dict[str, Any]:
    from torchviz import make_dot

    func, args = WORKLOADS[name]()
    row: dict[str, Any] = {"import_mb": _peak_mb()}
    reps = 1 if name in BIG else repeat
    holder: dict[str, Any] = {}

    def build() -> None:
        holder["dot"] = make_dot(func(*_leaves(args)))

    try:
        if reps > 1:
            build()
        row["make_dot_s"] = _best(build, reps)
    except RecursionError:
        row["error"] = "RecursionError"
        row["peak_mb"] = _peak_mb()
        return row
    if shutil.which("dot") and dot_timeout > 0:
        source = holder["dot"].source
        t0 = time.perf_counter()
        try:
            subprocess.run(["dot", "-Tpng", "-o", os.devnull], input=source.encode(),
                           check=True, timeout=dot_timeout, capture_output=True)
            row["dot_s"] = time.perf_counter() - t0
        except subprocess.TimeoutExpired:
            row["dot_s"] = None
            row["dot_timeout"] = dot_timeout
    row["peak_mb"] = _peak_mb()
    return row


def run_child(*argv: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *argv], capture_output=True,
                         text=True)
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": tail[:80]}
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report


def _s(x: Any) -> str:
    if x is None:
        return "n/a"
    if x < 0.01:
        return f"{x * 1e3:.2f} ms"
    return f"{x * 1e3:.0f} ms" if x < 1 else f"{x:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="skip the 20,000-op chain and the peer's dot renders")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dot-timeout", type=float, default=120.0)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--child", nargs=2, metavar=("TOOL", "WORKLOAD"), help=argparse.SUPPRESS)
    ns = parser.parse_args()

    if ns.child:
        tool, name = ns.child
        if tool == "graphanim":
            row = child_graphanim(name, ns.repeat)
        else:
            row = child_torchviz(name, ns.repeat, ns.dot_timeout)
        print(json.dumps(row))
        return

    try:
        import torchviz  # noqa: F401

        have_torchviz = True
    except ImportError:
        have_torchviz = False
    rows = []
    for name in WORKLOADS:
        if ns.quick and name == "chain 20000 ops":
            continue
        ours = run_child("--repeat", str(ns.repeat), "--child", "graphanim", name)
        peer: dict[str, Any] = {}
        if have_torchviz:
            timeout = 0.0 if ns.quick else ns.dot_timeout  # 0: make_dot only
            argv = ["--repeat", str(ns.repeat), "--dot-timeout", str(timeout)]
            peer = run_child(*argv, "--child", "torchviz", name)
        rows.append({"workload": name, "graphanim": ours, "torchviz": peer})
        print(f"done: {name}", file=sys.stderr, flush=True)

    print(f"Python {sys.version.split()[0]}, torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}\n")
    print("| workload | ops (shown) | plain fwd+bwd | capture | ÷ plain | layout | PNG "
          "| graphanim total | peak RSS | torchviz make_dot | dot PNG | peer total | ÷ peer "
          "| peer peak RSS |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        o, p = r["graphanim"], r["torchviz"]
        if "error" in o:
            print(f"| {r['workload']} | error: {o['error']} |" + " |" * 12)
            continue
        total = o["capture_s"] + o["layout_s"] + o["png_s"]
        shown = f"{o['ops']}" + (f" ({o['ops_shown']} at depth {o['depth']})"
                                 if o["depth"] is not None else "")
        if not p:
            peer_cells = ["n/a"] * 5
        elif "error" in p:
            peer_cells = [p["error"], "n/a", "n/a", "n/a", f"{p.get('peak_mb', 0):.0f} MB"]
        else:
            dot = p.get("dot_s")
            dot_text = _s(dot) if dot is not None else (
                f"> {p['dot_timeout']:g} s" if "dot_timeout" in p else "n/a")
            bound = "> " if dot is None and "dot_timeout" in p else ""
            peer_total = p["make_dot_s"] + (dot if dot is not None else p.get("dot_timeout", 0.0))
            ratio = f"{'< ' if bound else ''}{total / peer_total:.2f}×"
            if dot is None and not bound:
                ratio = "n/a (no render)"
            peer_cells = [_s(p["make_dot_s"]), dot_text, bound + _s(peer_total), ratio,
                          f"{p['peak_mb']:.0f} MB"]
        print(f"| {r['workload']} | {shown} | {_s(o['plain_s'])} | {_s(o['capture_s'])} "
              f"| {o['capture_s'] / o['plain_s']:.1f}× | {_s(o['layout_s'])} | {_s(o['png_s'])} "
              f"| {_s(total)} | {o['peak_mb']:.0f} MB | " + " | ".join(peer_cells) + " |")
    print("\nPeak RSS includes importing torch and matplotlib (about "
          f"{min(r['graphanim'].get('import_mb', 0) for r in rows):.0f} MB here). "
          "Targets: 20,000-op chain capture + layout + PNG <= 30 s and <= 2 GB; "
          "ResNet-like capture <= 3× plain forward+backward.")
    if ns.json:
        with open(ns.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
