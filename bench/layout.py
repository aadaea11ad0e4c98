"""Layout benchmark: the embedded layered layout against Graphviz ``dot`` (time and crossings).

Run by hand from the repository root::

    python bench/layout.py            # the full table (a few minutes with dot installed)
    python bench/layout.py --quick    # lecture graphs and small DAGs only

Prints a Markdown table. Crossings are counted by :func:`graphanim.layout.count_crossings` on
both layouts alike: every edge drawn as one straight segment, long edges included. ``dot`` runs
the way :func:`graphanim.layout.dot_layout` runs it (same DOT source, inputs on the first rank),
through ``subprocess`` so that a time cap can stop it; it is skipped on graphs above
``--dot-max-nodes``. Times are wall-clock seconds, best of ``--repeat`` runs for graphs under
1000 nodes, one run otherwise.

Targets (issue 3): 20,000 nodes in at most 5 s; crossings at most 1.25 x dot's on the random DAGs
of 100 and 1000 ops; zero crossings on the lecture graphs wherever dot has zero.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dags import chain, lecture_graphs, random_dag

from graphanim.graph import Graph
from graphanim.layout import count_crossings, layered_layout
from graphanim.layout.dot import dot_source, parse_plain


def timed(fn: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return out, best


def dot_positions(graph: Graph, cap: float) -> dict[str, tuple[float, float]] | str:
    """``dot_layout(graph)`` with a time cap; a string says why there is no result."""
    source = dot_source(graph, "LR")
    try:
        run = subprocess.run(
            ["dot", "-Tplain"], input=source.encode(), capture_output=True, timeout=cap, check=True
        )
    except subprocess.TimeoutExpired:
        return f"> {cap:.0f} s"
    return parse_plain(graph, run.stdout.decode(), "LR")


def workloads(quick: bool) -> list[tuple[str, Graph]]:
    out: list[tuple[str, Graph]] = [(f"lecture: {k}", g) for k, g in lecture_graphs().items()]
    for seed in range(3):
        out.append((f"random DAG 100 ops, seed {seed}", random_dag(100, seed)))
    out.append(("random DAG 300 ops", random_dag(300, 0)))
    out.append(("random DAG 100 ops, 30% constants", random_dag(100, 0, p_constant=0.3)))
    if quick:
        return out
    for seed in range(3):
        out.append((f"random DAG 1000 ops, seed {seed}", random_dag(1000, seed)))
    out.append(("random DAG 1000 ops, window 20", random_dag(1000, 0, window=20)))
    out.append(("chain 1000 ops", chain(1000)))
    out.append(("random DAG 3000 ops", random_dag(3000, 0)))
    out.append(("random DAG 10000 ops (≈20k nodes)", random_dag(10_000, 0)))
    out.append(("random DAG 10000 ops, window 20", random_dag(10_000, 0, window=20)))
    out.append(("chain 10000 ops (20k nodes)", chain(10_000)))
    out.append(("random DAG 20000 ops (≈40k nodes)", random_dag(20_000, 0)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="lecture graphs and small DAGs only")
    ap.add_argument("--repeat", type=int, default=3, help="runs per small graph (best is kept)")
    ap.add_argument("--dot-max-nodes", type=int, default=2500, help="skip dot above this size")
    ap.add_argument("--dot-cap", type=float, default=120.0, help="time cap for one dot run, s")
    ns = ap.parse_args(argv)

    have_dot = shutil.which("dot") is not None
    dot_version = ""
    if have_dot:
        v = subprocess.run(["dot", "-V"], capture_output=True, text=True)
        dot_version = (v.stderr or v.stdout).strip()
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs{load}, "
        f"{dot_version or 'Graphviz dot not installed'}\n"
    )
    print(
        "| graph | nodes | layered time (s) | layered crossings | dot time (s) | dot crossings "
        "| crossings layered ÷ dot | time dot ÷ layered |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    verdicts: list[str] = []
    for name, g in workloads(ns.quick):
        n = len(g.nodes)
        repeat = ns.repeat if n < 1000 else 1
        pos, t_ours = timed(lambda g=g: layered_layout(g), repeat)
        c_ours = count_crossings(g, pos)
        t_dot: float | None = None
        c_dot: int | None = None
        dot_note = "not installed" if not have_dot else ""
        if have_dot and n <= ns.dot_max_nodes:
            res, t = timed(lambda g=g: dot_positions(g, ns.dot_cap), repeat)
            if isinstance(res, str):
                dot_note = res
            else:
                t_dot, c_dot = t, count_crossings(g, res)
        elif have_dot:
            dot_note = f"skipped (> {ns.dot_max_nodes} nodes)"
        ratio_c = "–"
        if c_dot is not None:
            ratio_c = f"{c_ours / c_dot:.2f}" if c_dot else ("=" if c_ours == 0 else "∞")
        ratio_t = f"{t_dot / t_ours:.1f}×" if t_dot is not None else "–"
        print(
            f"| {name} | {n} | {t_ours:.3f} | {c_ours} | "
            f"{f'{t_dot:.3f}' if t_dot is not None else dot_note} | "
            f"{c_dot if c_dot is not None else '–'} | {ratio_c} | {ratio_t} |",
            flush=True,
        )
        if n >= 20_000 and t_ours > 5.0:
            verdicts.append(f"MISSED: {name} took {t_ours:.1f} s (target ≤ 5 s)")
        if name.startswith("random DAG 100 ops, seed") or name.startswith("random DAG 1000 ops, s"):
            if c_dot is not None and c_ours > 1.25 * c_dot:
                verdicts.append(f"MISSED: {name} has {c_ours} crossings, dot {c_dot} (> 1.25×)")
        if name.startswith("lecture") and c_dot == 0 and c_ours != 0:
            verdicts.append(f"MISSED: {name} has {c_ours} crossings where dot has none")
    print()
    print("\n".join(verdicts) if verdicts else "All targets met.")
    return 1 if verdicts else 0


if __name__ == "__main__":
    raise SystemExit(main())
