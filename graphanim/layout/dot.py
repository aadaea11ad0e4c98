"""The Graphviz layout: DOT source out, ``dot -Tplain`` positions back in graphanim's units."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from .positions import Positions, check_direction

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..graph import Graph

__all__ = ["GraphvizNotFound", "dot_layout", "dot_source", "parse_plain"]


class GraphvizNotFound(RuntimeError):
    """``layout="dot"`` was asked for but the Graphviz ``dot`` program (or package) is missing."""


_INSTALL_HINT = (
    "the Graphviz 'dot' program was not found on PATH; install Graphviz "
    "(Debian/Ubuntu: 'apt-get install graphviz', macOS: 'brew install graphviz', conda: "
    "'conda install graphviz') and the Python package ('pip install graphviz'), or use the "
    "default layout=None (the embedded layered layout), which needs nothing"
)


def dot_source(graph: Graph, direction: str) -> str:
    ids = [n.id for n in graph.nodes]
    index = {nid: i for i, nid in enumerate(ids)}
    lines = [
        "digraph G {",
        f"  graph [rankdir={direction}, nodesep=0.25, ranksep=0.5, splines=false];",
        '  node [shape=box, width=0.3, height=0.3, fixedsize=true, label=""];',
    ]
    lines.extend(f"  v{i};" for i in range(len(ids)))
    inputs = [index[n.id] for n in graph.inputs.values() if n.id in index]
    if inputs:
        # the graphanim rule "inputs in the first column" holds for dot too
        lines.append("  { rank=min; " + " ".join(f"v{i};" for i in inputs) + " }")
    seen: set[tuple[int, int]] = set()
    for e in graph.edges:
        pair = (index[e.src], index[e.dst])
        if pair[0] != pair[1] and pair not in seen:
            seen.add(pair)
            lines.append(f"  v{pair[0]} -> v{pair[1]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_layout(graph: Graph, *, direction: str = "LR") -> Positions:
    """Positions computed by Graphviz ``dot`` (through the ``graphviz`` package).

    Graphviz sees every node as a 0.3-inch square, the inputs constrained to the first rank, and
    its coordinates are converted to the units of :func:`layered_layout`: ranks become layers
    ``0, 1, ...`` and the cross coordinate is measured in slots (node size plus node spacing).

    Parameters
    ----------
    graph : Graph
        The graph to lay out.
    direction : {"LR", "TB"}
        Flow direction (Graphviz ``rankdir``).

    Returns
    -------
    dict
        ``{node_id: (x, y)}``.

    Raises
    ------
    GraphvizNotFound
        When the ``dot`` program or the ``graphviz`` package is missing (the message says how to
        install them, and that the default ``layout=None`` needs neither).
    RuntimeError
        When ``dot`` fails.
    """
    check_direction(direction)
    if shutil.which("dot") is None:
        raise GraphvizNotFound(_INSTALL_HINT)
    try:
        import graphviz
    except ImportError as err:
        raise GraphvizNotFound(_INSTALL_HINT) from err
    if not graph.nodes:
        return {}
    source = dot_source(graph, direction)
    try:
        raw = graphviz.pipe("dot", "plain", source.encode("utf-8"), quiet=True)
    except graphviz.ExecutableNotFound as err:
        raise GraphvizNotFound(_INSTALL_HINT) from err
    except graphviz.CalledProcessError as err:
        raise RuntimeError(f"Graphviz dot failed: {err}") from err
    return parse_plain(graph, raw.decode("utf-8"), direction)


def parse_plain(graph: Graph, text: str, direction: str) -> Positions:
    import numpy as np

    n = len(graph.nodes)
    xy = np.full((n, 2), np.nan)
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] == "node" and parts[1].startswith("v"):
            i = int(parts[1][1:])
            xy[i] = (float(parts[2]), float(parts[3]))
    if np.isnan(xy).any():
        raise RuntimeError("Graphviz dot returned no position for some nodes")
    slot = 0.3 + 0.25  # node size + nodesep, in inches (plain output is in inches)
    if direction == "LR":
        rank_axis, cross = xy[:, 0], xy[:, 1]
    else:
        rank_axis, cross = -xy[:, 1], xy[:, 0]
    _, layer = np.unique(np.round(rank_axis, 3), return_inverse=True)
    # dot rounds to whole points, so measure the slot it really used: the tightest gap between
    # two nodes of one rank (it never puts them closer than node size + nodesep)
    srt = np.lexsort((cross, layer))
    gaps = np.diff(cross[srt])[np.diff(layer[srt]) == 0]
    gaps = gaps[gaps > 1e-6]
    if len(gaps):
        slot = float(gaps.min())
    c = cross / slot
    c = np.round((c - c.min()) * 1000) / 1000
    ids = [node.id for node in graph.nodes]
    if direction == "LR":
        return {nid: (float(layer[i]), float(c[i])) for i, nid in enumerate(ids)}
    top = float(layer.max())
    return {nid: (float(c[i]), top - float(layer[i])) for i, nid in enumerate(ids)}
