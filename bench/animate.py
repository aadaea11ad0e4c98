"""Benchmark: end-to-end animation export (setup + frames + encode) against two baselines.

Run by hand from the repository root::

    python bench/animate.py            # full table (a minute or two)
    python bench/animate.py --quick    # fewer repeats, no Graphviz baseline on the long chain

Prints a Markdown table. Every figure is measured in this run on this machine (best of
``--repeat`` runs) at 800×600 pixels (figsize 8×6 in at 100 dpi):

* **ours**: ``Animation(graph, direction, figsize=(8, 6), dpi=100).save(...)``: the layout, the
  static scene, every frame and the encoder, timed together (the graph capture is not).
* **dot/frame**: the naive approach: a DOT description of each frame's state rendered by
  Graphviz ``dot`` per frame, frames held in a list, written by imageio's default GIF path.
* **mpl redraw**: layout once, then a full matplotlib redraw of the figure per frame, frames held
  in a list, written by imageio (its default GIF path; its ffmpeg plugin for MP4).

Ratios are ours ÷ baseline (fps). Targets (issue 4): 100-op chain GIF ≥ 150 fps and MP4 ≥ 250
fps end to end; a lecture graph's ``both`` animation as GIF in ≤ 0.5 s; peak memory of a
1000-frame export ≤ 1.2× that of a 100-frame one.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import torch  # noqa: E402

from graphanim import TorchGraph, trackable_function  # noqa: E402
from graphanim.animation import Animation  # noqa: E402
from graphanim.frames import Frame, build_frames  # noqa: E402
from graphanim.graph import Graph, format_tensor  # noqa: E402

SIZE = (800, 600)
FIGSIZE = (8.0, 6.0)
DPI = 100
FPS = 2


# -- graphs -------------------------------------------------------------------------------------


@trackable_function
class Sigmoid(torch.autograd.Function):
    name = r"$\sigma$"

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        y = 1 / (1 + torch.exp(-x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return g * y * (1 - y)


def product(a, b):
    c = a + b
    d = b + 1
    e = c * d
    return e


def chain_rule(x, y, z):
    u = x**2
    v = u + y
    w = z * v
    r = w**2
    return r


def max_graph(x0, w0, x1, w1, w2):
    return 1 / (-torch.max(torch.exp(x0 * w0 + x1 * w1), w2))


def sine(a, x, c):
    return torch.sin(a * x + c)


def linear(x, y):
    return 2 * x + y


def neuron(x, w):
    return Sigmoid.apply(x * w)


def chain100(x):
    for i in range(100):
        x = torch.sin(x) if i % 2 == 0 else torch.tanh(x)
    return x


def mlp_graph() -> TorchGraph:
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    return TorchGraph(lambda x: mlp(x).sum(), [torch.tensor([1.0, 2.0, 3.0])])


def graphs(quick: bool) -> list[tuple[str, Callable[[], TorchGraph], str]]:
    cases: list[tuple[str, Callable[[], TorchGraph], str]] = [
        ("(a+b)(b+1)", lambda: TorchGraph(product, [2.0, 1.0]), "both"),
        ("((x²+y)·z)²", lambda: TorchGraph(chain_rule, [1.0, 2.0, 4.0]), "both"),
        ("1/(-max(exp(.), w2))", lambda: TorchGraph(max_graph, [4.0, 1.0, -2.0, 2.0, 0.5]),
         "both"),
        ("sin(a·x+c)", lambda: TorchGraph(sine, [3.0, 2.0, 4.0]), "both"),
        ("2x+y", lambda: TorchGraph(linear, [1.0, 3.0]), "both"),
        ("σ(x·w) custom", lambda: TorchGraph(neuron, [0.5, 2.0]), "both"),
        ("small MLP", mlp_graph, "both"),
        ("100-op chain", lambda: TorchGraph(chain100, [0.5]), "forward"),
    ]
    if not quick:
        cases.append(("100-op chain", lambda: TorchGraph(chain100, [0.5]), "both"))
    return cases


# -- ours ---------------------------------------------------------------------------------------


def ours(graph: TorchGraph, direction: str, path: Path) -> tuple[float, int]:
    """Seconds for layout + scene + frames + encode, and the number of frames."""
    cache = getattr(graph, "_layouts", None)
    if isinstance(cache, dict):
        cache.clear()  # the layout is part of the setup we time
    t = time.perf_counter()
    anim = Animation(graph, direction, figsize=FIGSIZE, dpi=DPI, fps=FPS)
    anim.save(path, progress=False)
    return time.perf_counter() - t, anim.frames


# -- baseline 1: Graphviz per frame -------------------------------------------------------------


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def dot_source(graph: Graph, frame: Frame) -> str:
    lines = ["digraph g {", "rankdir=LR;", f'size="{FIGSIZE[0]},{FIGSIZE[1] - 0.6}!";',
             'node [fontname="Helvetica", fontsize=11];',
             f'label="{_dot_escape(frame.caption)}"; labelloc=b;']
    for n in graph.nodes:
        fill = "#ffe680" if n.id in frame.active else ("#dde8f5" if n.id in frame.done else "white")
        if n.kind == "op":
            label = _dot_escape(n.op or n.name)
            lines.append(f'{n.id} [label="{label}", shape=circle, style=filled, '
                         f'fillcolor="{fill}"];')
            continue
        parts = [_dot_escape(n.name)]
        if n.id in frame.values and n.value is not None:
            parts.append(_dot_escape(format_tensor(n.value)))
        if n.id in frame.grads and n.grad is not None:
            parts.append("grad " + _dot_escape(format_tensor(n.grad)))
        label = " | ".join(parts)
        lines.append(f'{n.id} [label="{{{label}}}", shape=record, style=filled, '
                     f'fillcolor="{fill}"];')
    for i, e in enumerate(graph.edges):
        attrs = []
        if i in frame.edge_grads and e.grad is not None:
            attrs.append(f'label="{_dot_escape(format_tensor(e.grad))}"')
        if i in frame.active_edges:
            attrs.append("penwidth=3")
        lines.append(f"{e.src} -> {e.dst} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines)


def _fit(img: Any) -> np.ndarray:
    from PIL import Image

    img = img.convert("RGB")
    img.thumbnail(SIZE)
    canvas = Image.new("RGB", SIZE, "white")
    canvas.paste(img, ((SIZE[0] - img.width) // 2, (SIZE[1] - img.height) // 2))
    return np.asarray(canvas)


def dot_frames(graph: Graph, frames: list[Frame]) -> list[np.ndarray]:
    import io

    from PIL import Image

    out = []
    for f in frames:
        png = subprocess.run(["dot", "-Tpng", f"-Gdpi={DPI}"], input=dot_source(graph, f).encode(),
                             capture_output=True, check=True).stdout
        out.append(_fit(Image.open(io.BytesIO(png))))
    return out


# -- baseline 2: layout once, full matplotlib redraw per frame ----------------------------------


def mpl_frames(graph: Graph, frames: list[Frame]) -> list[np.ndarray]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from graphanim.layout import compute_layout

    pos = compute_layout(graph)
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.15, 0.96, 0.83))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    out = []
    for f in frames:
        ax.clear()
        ax.set_axis_off()
        ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
        ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
        for i, e in enumerate(graph.edges):
            ax.annotate("", xy=pos[e.dst], xytext=pos[e.src],
                        arrowprops={"arrowstyle": "->", "lw": 3 if i in f.active_edges else 1})
            if i in f.edge_grads and e.grad is not None:
                mx = (pos[e.src][0] + pos[e.dst][0]) / 2
                my = (pos[e.src][1] + pos[e.dst][1]) / 2
                ax.text(mx, my, format_tensor(e.grad), fontsize=7, color="#c04000")
        for n in graph.nodes:
            fill = "#ffe680" if n.id in f.active else ("#dde8f5" if n.id in f.done else "white")
            parts = [n.label if n.kind == "op" else n.name]
            if n.id in f.values and n.value is not None:
                parts.append(format_tensor(n.value))
            if n.id in f.grads and n.grad is not None:
                parts.append("∂ " + format_tensor(n.grad))
            ax.text(*pos[n.id], " | ".join(parts), ha="center", va="center", fontsize=8,
                    bbox={"boxstyle": "round", "fc": fill})
        fig.texts.clear()
        fig.text(0.5, 0.05, f.caption, ha="center", va="center", fontsize=11)
        canvas.draw()
        out.append(np.asarray(canvas.buffer_rgba())[:, :, :3].copy())
    return out


def imageio_gif(frames: list[np.ndarray], path: Path) -> None:
    import imageio.v3 as iio

    iio.imwrite(path, np.stack(frames), duration=1000 / FPS, loop=0)


def imageio_mp4(frames: list[np.ndarray], path: Path) -> None:
    import imageio.v3 as iio

    iio.imwrite(path, np.stack(frames), plugin="FFMPEG", fps=FPS)


def baseline(render: Callable[[Graph, list[Frame]], list[np.ndarray]], graph: Graph,
             direction: str, write: Callable[[list[np.ndarray], Path], None],
             path: Path) -> float:
    t = time.perf_counter()
    frames = build_frames(graph, direction)
    write(render(graph, frames), path)
    return time.perf_counter() - t


# -- memory -------------------------------------------------------------------------------------


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fp:
        for line in fp:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def memory_child(frames: int, suffix: str) -> None:
    """Export a 100-op chain animation whose frame list is cycled to ``frames`` frames; print
    the growth of the peak resident memory during the export (KiB) as JSON."""
    warnings.simplefilter("ignore")
    graph = TorchGraph(chain100, [0.5])
    anim = Animation(graph, "forward", figsize=FIGSIZE, dpi=DPI)
    data = anim.frame_data
    anim.frame_data = [data[i % len(data)] for i in range(frames)]
    out = Path(tempfile.mkdtemp()) / f"m{suffix}"
    gc.collect()
    before = _rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as fp:  # reset the peak (VmHWM) to the current RSS
        fp.write("5")
    if suffix == ".imageio.gif":  # the baseline: frames held, imageio's default GIF path
        from graphanim.render import Scene

        scene = Scene(graph, anim.positions, figsize=FIGSIZE, dpi=DPI)
        held = []
        for f in anim.frame_data:
            scene.show(f)
            held.append(scene.rgb())
        imageio_gif(held, out.with_suffix(".gif"))
    else:
        anim.save(out, progress=False)
    print(json.dumps({"growth_kib": _rss_kib("VmHWM") - before}))
    shutil.rmtree(out.parent, ignore_errors=True)


def measure_memory(frames: int, suffix: str) -> float:
    """Peak memory growth of one export in a fresh process, MiB."""
    res = subprocess.run([sys.executable, __file__, "--memory-child", str(frames), suffix],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])["growth_kib"] / 1024


# -- main ---------------------------------------------------------------------------------------


def breakdown(graph: TorchGraph, direction: str, tmp: Path) -> dict[str, float]:
    """Seconds spent in each stage of our pipeline, measured separately (frames pre-rendered
    for the writer rows, so these do not add up to the end-to-end time exactly)."""
    from graphanim.render import Scene
    from graphanim.writers import write_frames

    cache = getattr(graph, "_layouts", None)
    if isinstance(cache, dict):
        cache.clear()
    t0 = time.perf_counter()
    positions = graph.layout()
    t1 = time.perf_counter()
    frames = build_frames(graph, direction)
    t2 = time.perf_counter()
    scene = Scene(graph, positions, figsize=FIGSIZE, dpi=DPI)
    t3 = time.perf_counter()
    rgbs = []
    for f in frames:
        scene.show(f)
        rgbs.append(scene.rgb())
    t4 = time.perf_counter()
    write_frames(tmp / "b.gif", iter(rgbs), fps=FPS, progress=False)
    t5 = time.perf_counter()
    out = {"layout": t1 - t0, "frame data": t2 - t1, "Scene setup": t3 - t2,
           "show + rgb, per frame": (t4 - t3) / len(frames),
           "GIF writer, per frame": (t5 - t4) / len(frames)}
    from graphanim.writers import find_ffmpeg

    if find_ffmpeg() is not None:
        write_frames(tmp / "b.mp4", iter(rgbs), fps=FPS, progress=False)
        out["MP4 writer (incl. ffmpeg), per frame"] = (time.perf_counter() - t5) / len(frames)
    return out


def best(repeat: int, fn: Callable[..., float], *args: Any) -> float:
    """The fastest of ``repeat`` runs of ``fn(*args)``, seconds."""
    return min(fn(*args) for _ in range(repeat))


def ours_s(graph: TorchGraph, direction: str, path: Path) -> float:
    return ours(graph, direction, path)[0]


def fmt(x: float | None, digits: int = 0) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    parser.add_argument("--quick", action="store_true", help="one repeat, skip slow cases")
    parser.add_argument("--memory-child", nargs=2, metavar=("FRAMES", "SUFFIX"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(int(args.memory_child[0]), args.memory_child[1])
        return 0
    warnings.simplefilter("ignore")  # legibility warnings for the 100-op chain at 800×600
    repeat = 1 if args.quick else args.repeat
    have_dot = shutil.which("dot") is not None
    from graphanim.writers import find_ffmpeg

    have_ffmpeg = find_ffmpeg() is not None
    tmp = Path(tempfile.mkdtemp(prefix="graphanim-bench-"))
    # Warm up imports and caches (matplotlib, fonts, ffmpeg) outside the timings.
    ours(TorchGraph(product, [2.0, 1.0]), "both", tmp / "warm.gif")
    rows = []
    for name, make, direction in graphs(args.quick):
        g = make()
        n = len(build_frames(g, direction))
        few = 1 if n > 60 else repeat  # the baselines take seconds on long animations

        gif_s = best(repeat, ours_s, g, direction, tmp / "o.gif")
        mp4_s = best(repeat, ours_s, g, direction, tmp / "o.mp4") if have_ffmpeg else None
        dot_s = (best(1, baseline, dot_frames, g, direction, imageio_gif, tmp / "d.gif")
                 if have_dot and not (args.quick and n > 60) else None)
        mpl_gif_s = best(few, baseline, mpl_frames, g, direction, imageio_gif, tmp / "m.gif")
        mpl_mp4_s = (best(few, baseline, mpl_frames, g, direction, imageio_mp4, tmp / "m.mp4")
                     if have_ffmpeg else None)
        rows.append((name, direction, n, gif_s, mp4_s, dot_s, mpl_gif_s, mpl_mp4_s))
        print(f"  measured {name} ({direction}, {n} frames)", file=sys.stderr)

    def fps(n: int, s: float | None) -> float | None:
        return None if s is None else n / s

    def ratio(a: float | None, b: float | None) -> str:
        return "n/a" if a is None or b is None else f"{a / b:.1f}×"

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nEnd-to-end export at {SIZE[0]}×{SIZE[1]}, best of {repeat}; fps = frames ÷ seconds "
          f"(setup + frames + encode). {os.cpu_count()} CPUs, load average {load:.1f} at the end."
          "\n")
    print("| graph | direction | frames | ours GIF s | ours GIF fps | ours MP4 fps | "
          "dot/frame GIF fps | mpl redraw GIF fps | mpl redraw MP4 fps | GIF vs dot | "
          "GIF vs mpl | MP4 vs mpl |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, direction, n, gif_s, mp4_s, dot_s, mg, mm in rows:
        print(f"| {name} | {direction} | {n} | {gif_s:.3f} | {fmt(fps(n, gif_s))} | "
              f"{fmt(fps(n, mp4_s))} | {fmt(fps(n, dot_s))} | {fmt(fps(n, mg))} | "
              f"{fmt(fps(n, mm))} | {ratio(fps(n, gif_s), fps(n, dot_s))} | "
              f"{ratio(fps(n, gif_s), fps(n, mg))} | {ratio(fps(n, mp4_s), fps(n, mm))} |")

    print("\nPeak memory growth during one export (fresh process, 100-op chain frames cycled):\n")
    print("| export | 100 frames MiB | 1000 frames MiB | ratio |")
    print("|---|---:|---:|---:|")
    suffixes = [".gif"] + ([".mp4"] if have_ffmpeg else [])
    for suffix in suffixes:
        a, b = measure_memory(100, suffix), measure_memory(1000, suffix)
        print(f"| ours {suffix} | {a:.1f} | {b:.1f} | {b / max(a, 1e-9):.2f}× |")
    a = measure_memory(100, ".imageio.gif")
    print(f"| baseline: frames held + imageio GIF | {a:.1f} | (not run) | — |")

    print("\nWhere the time goes, 100-op chain forward (best of "
          f"{repeat}, milliseconds):\n")
    parts = [breakdown(TorchGraph(chain100, [0.5]), "forward", tmp) for _ in range(repeat)]
    print("| stage | ms |")
    print("|---|---:|")
    for key in parts[0]:
        print(f"| {key} | {min(p[key] for p in parts) * 1000:.2f} |")

    chain = next(r for r in rows if r[0] == "100-op chain" and r[1] == "forward")
    lectures = [r for r in rows if r[0] not in ("100-op chain", "small MLP")]
    print("\nTargets:")
    print(f"- 100-op chain GIF ≥ 150 fps: {fmt(fps(chain[2], chain[3]))} fps")
    print(f"- 100-op chain MP4 ≥ 250 fps: {fmt(fps(chain[2], chain[4]))} fps")
    print(f"- lecture graph `both` as GIF ≤ 0.5 s: worst {max(r[3] for r in lectures):.3f} s")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    raise SystemExit(main())
