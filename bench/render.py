"""Benchmark of static pictures and the animation Scene; prints Markdown tables.

Run by hand from the repository root::

    python bench/render.py            # everything
    python bench/render.py --quick    # skip the 5000-op DAG

Table 1: a static SVG on the lecture graphs, the MLP, a 1000-op chain and random DAGs of 1000 and
5000 ops (``bench/dags.py``), two ways in the same run: the matplotlib path (the figure drawn by
the matplotlib backend and written by ``savefig``, what ``save("g.svg")`` did before) and the SVG
backend (``save("g.svg")`` now: the picture as data, written directly); the speed-up is their
ratio. The layout is timed separately and included in the total (with the SVG backend), as it is
for the peer; the PNG column says what the PNG shows. Every case runs once to warm up (imports,
font caches) and is then timed (best of ``--repeat``). Peer: torchviz + Graphviz ``dot`` on the
same computation run in PyTorch, when both are installed (else "n/a").
Targets: 1000-op DAG <= 2 s, 5000-op DAG <= 15 s; SVG backend >= 5x the matplotlib path on the
1000-op DAG.

Table 2: frames per second of ``Scene.show`` + ``Scene.rgb`` (the animation's drawing work) on
the lecture graphs and a 100-op chain at 800x600. Target: >= 300 fps on the chain.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dags import chain, lecture_graphs, random_dag

from graphanim import render
from graphanim.backends.matplotlib import draw_figure
from graphanim.graph import Graph


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _positions(graph: Graph) -> dict[str, tuple[float, float]]:
    from graphanim.layout import compute_layout

    return compute_layout(graph)


# -- the peer: torchviz + dot on the same computation --------------------------------------------

_TORCH_OPS = {
    "sin": lambda a: a.sin(), "exp": lambda a: a.exp(), "neg": lambda a: -a,
    "pow": lambda a: a**2, "tanh": lambda a: a.tanh(), "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b, "sub": lambda a, b: a - b, "div": lambda a, b: a / b,
}


def _torch_outputs(graph: Graph) -> list[Any]:
    """Run the synthetic graph's ops in PyTorch (fresh leaves), return its output tensors."""
    import torch

    vals: dict[str, Any] = {}
    for n in graph.nodes:
        if n.kind in ("input", "constant"):
            vals[n.id] = torch.tensor(0.5, dtype=torch.float64,
                                      requires_grad=n.kind == "input")
        elif n.kind == "op":
            args = [vals[p.id] for p in graph.predecessors(n.id)]
            out = _TORCH_OPS[n.op or ""](*args)
            for s in graph.successors(n.id):
                vals[s.id] = out
    return [vals[o.id] for o in graph.outputs]


def _peer_available() -> bool:
    try:
        import torchviz  # noqa: F401
    except ImportError:
        return False
    return shutil.which("dot") is not None


def _peer_outputs(graph: Graph) -> list[Any]:
    """The computation with autograd history, for torchviz: a captured graph's function re-run
    on fresh leaves with the recorded input values, or the synthetic graph's ops in PyTorch."""
    func = getattr(graph, "func", None)
    if func is None:
        return _torch_outputs(graph)
    args = [n.value.detach().clone().requires_grad_(n.value.is_floating_point())
            for n in graph.inputs.values()]
    out = func(*args)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _peer_seconds(graph: Graph, folder: str) -> float:
    import torchviz

    outs = _peer_outputs(graph)
    t = time.perf_counter()
    dot = torchviz.make_dot(tuple(outs) if len(outs) > 1 else outs[0])
    dot.render(os.path.join(folder, "peer"), format="svg", cleanup=True)
    return time.perf_counter() - t


# -- table 1 -------------------------------------------------------------------------------------


def _mpl_svg(g: Graph, pos: Any, path: str) -> None:
    """The matplotlib SVG path (what ``save("g.svg")`` did before the SVG backend): the figure
    drawn by the matplotlib backend, written by ``savefig``."""
    from graphanim.scene.themes import rc_context
    from graphanim.writers import save_figure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = draw_figure(g, {"layout": pos}, "svg")
        with rc_context():
            save_figure(fig, path)


def _native_svg(g: Graph, pos: Any, path: str) -> None:
    """``render.save("g.svg")``: the picture as data, written by the SVG backend."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        render.save(g, path, layout=pos)


def _legibility_note(g: Graph, pos: Any, png: str) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        render.save(g, png, layout=pos)
    from PIL import Image

    with Image.open(png) as im:
        px = f"{im.size[0]}×{im.size[1]} px"
    note = "labels legible (≥ 8 pt)"
    for w in caught:
        if issubclass(w.category, render.LegibilityWarning):
            msg = str(w.message)
            pt = msg.split(" pt")[0].rsplit(" ", 1)[-1]
            note = (f"labels hidden ({pt} pt would be needed); warns"
                    if "hidden" in msg else f"labels at {pt} pt; warns")
    return f"{px}, {note}"


def static_table(cases: dict[str, Graph], repeat: int) -> list[str]:
    peer = _peer_available()
    rows = [
        "| graph | nodes | layout s | matplotlib SVG s | SVG backend s | speed-up "
        "| **total s** | SVG size | PNG (what it shows) | torchviz + dot s | dot ÷ total |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        warm = next(iter(cases.values()))
        warm_pos = _positions(warm)
        _mpl_svg(warm, warm_pos, os.path.join(folder, "warm.svg"))
        _native_svg(warm, warm_pos, os.path.join(folder, "warm.svg"))
        for name, g in cases.items():
            t_layout, pos = _best(lambda g=g: _positions(g), repeat)
            svg = os.path.join(folder, f"{name}.svg")
            t_mpl, _ = _best(lambda g=g, pos=pos, svg=svg: _mpl_svg(g, pos, svg + ".mpl.svg"),
                             repeat)
            t_svg, _ = _best(lambda g=g, pos=pos, svg=svg: _native_svg(g, pos, svg), repeat)
            shows = _legibility_note(g, pos, os.path.join(folder, f"{name}.png"))
            total = t_layout + t_svg
            if peer:
                try:
                    t_peer = _peer_seconds(g, folder)
                    peer_s, ratio = f"{t_peer:.2f}", f"{t_peer / total:.0f}×"
                except Exception as err:  # a peer failure is a result, not a crash
                    peer_s, ratio = f"failed ({type(err).__name__})", "n/a"
            else:
                peer_s = ratio = "n/a"
            size = os.path.getsize(svg) / 1e6
            rows.append(
                f"| {name} | {len(g.nodes)} | {t_layout:.3f} | {t_mpl:.3f} | {t_svg:.3f} | "
                f"{t_mpl / t_svg:.1f}× | **{total:.2f}** | {size:.1f} MB | {shows} | "
                f"{peer_s} | {ratio} |"
            )
            print(rows[-1], file=sys.stderr)
    return rows


# -- table 2 -------------------------------------------------------------------------------------


def scene_table(cases: dict[str, Graph]) -> list[str]:
    from graphanim.frames import build_frames

    rows = [
        "| graph | frames | size px | setup s | show + rgb fps |",
        "|---|---:|---|---:|---:|",
    ]
    for name, (g, figsize) in cases.items():
        pos = _positions(g)
        frames = build_frames(g, "both")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            scene = render.Scene(g, pos, figsize=figsize)
            setup = time.perf_counter() - t
            best = float("inf")
            for _ in range(3):
                fresh = render.Scene(g, pos, figsize=figsize)
                t = time.perf_counter()
                for f in frames:
                    fresh.show(f)
                    fresh.rgb()
                best = min(best, time.perf_counter() - t)
        w, h = scene.size
        rows.append(f"| {name} | {len(frames)} | {w}×{h} | {setup:.2f} | "
                    f"{len(frames) / best:.0f} |")
        print(rows[-1], file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the 5000-op DAG")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per case (best)")
    args = parser.parse_args()

    lectures = lecture_graphs()
    cases: dict[str, Graph] = {k: v for k, v in lectures.items()}
    cases["chain 1000 ops"] = chain(1000, values=True)
    cases["random DAG 1000 ops"] = random_dag(1000, seed=0, values=True)
    if not args.quick:
        cases["random DAG 5000 ops"] = random_dag(5000, seed=0, values=True)
    import platform

    print(f"graphanim render benchmark — {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}\n")
    print("\n".join(static_table(cases, args.repeat)))
    print()
    scenes = {k: (v, None) for k, v in lectures.items() if k in ("branch", "neuron", "mlp")}
    scenes["chain 100 ops (800×600)"] = (chain(100, values=True), (8.0, 6.0))
    print("\n".join(scene_table(scenes)))


if __name__ == "__main__":
    main()
