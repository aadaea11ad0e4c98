"""Module boxes: which nodes each ``nn.Module`` call holds, moving nodes out of boxes they do
not belong to, and the room each box needs.

This is layout-side work (it moves nodes); it is here because it needs the measured node sizes,
and moves to the layout package once layouts are measured there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..graph import Graph, plain_text
from ..modules import call_chains
from .spacing import main_axis
from .text import line_height, text_width
from .themes import FONT

__all__ = ["BoxKey", "BoxRoom", "ModuleBox", "box_chains", "box_room", "legalize_boxes",
           "module_boxes"]


# -- module boxes: where they go and the room they need ------------------------------------------


@dataclass
class BoxRoom:
    """Module boxes as the spacing sees them (pt at scale 1; sides in the picture's order left,
    bottom, right, top). ``offs[k]`` holds, for each member of box ``k``, the distance from its
    centre to each side of the box that a box edge can reach through it: its own half size (and
    the accumulation text under it), then the padding, label row and label growth of every box
    from its innermost one out to ``k``. A box's side is the extreme over its members of centre
    plus that distance, which is exactly what :meth:`Painter.module_rects` draws."""

    ext: Any  # (n, 4) each node's own reach
    members: list[Any]  # per box: node indexes (nested boxes' too)
    offs: list[Any]  # per box: (len(members), 4)
    parent: list[int]  # per box: the box directly around it, -1 for none
    width: list[float]  # per box: label width its members' spread must give it (0: none)


def box_room(boxes: list[ModuleBox], ext: Any, xy: Any) -> BoxRoom:
    """The reach of every box member (see :class:`BoxRoom`), innermost boxes first.

    A label wider than a box's content is met in one of two ways. When the members are spread
    along x, the spacing stretches them (``width``) so the content is at least as wide as the
    label. When they all share one x (a box that is a single column), the box grows by the same
    amount on both sides, as :meth:`Painter.module_rects` grows it, and that growth is part of
    the members' reach."""
    import numpy as np

    nb = len(boxes)
    inner = np.full(len(ext), -1)
    for k, b in enumerate(boxes):  # parents come first: children overwrite them
        inner[b.members] = k
    members: list[Any] = [None] * nb
    offs: list[Any] = [None] * nb
    width = [0.0] * nb
    for k in reversed(range(nb)):
        b = boxes[k]
        own = np.flatnonzero(inner == k)
        mem = [own] + [members[c] for c in b.children]
        off = [ext[own]] + [offs[c] for c in b.children]
        m = np.concatenate(mem).astype(int)
        o = np.concatenate(off, axis=0) + np.array([b.pad, b.pad, b.pad, b.pad + b.top])
        label_w = text_width(b.label, FONT["module"]) + 10.0
        xs = xy[m, 0]
        if float(np.ptp(xs)) > 1e-9:
            width[k] = label_w
        else:
            half_w = float(max(o[:, 0].max(), o[:, 2].max()))
            grow = max(0.0, label_w / 2 - half_w)
            o[:, 0] += grow
            o[:, 2] += grow
        srt = np.argsort(m, kind="stable")
        members[k], offs[k] = m[srt], o[srt]
    return BoxRoom(ext, members, offs, [b.parent for b in boxes], width)


@dataclass
class ModuleBox:
    """A labelled box around the nodes that ran inside one ``nn.Module`` call (in a graph that
    records no calls, one run of consecutive ops in the module)."""

    path: str
    label: str  # "layers.0: Linear"
    members: list[int]  # node indexes inside it (in nested boxes too)
    children: list[int]  # indexes (in the box list) of the boxes directly inside it
    depth: int  # 0 for the outermost boxes drawn
    pad: float = 6.0  # pt at scale 1 around the members (and the child boxes)
    top: float = 0.0  # pt at scale 1 above that for the label row
    call: int = 1  # which call of the module: 2 for a ReLU module used a second time
    parent: int = -1  # index of the box directly around it, -1 for none

    @property
    def gid(self) -> str:
        """``graphanim-module-<path>``; ``-call2``, ``-call3``, ... for later calls."""
        return f"graphanim-module-{self.path}" + (f"-call{self.call}" if self.call > 1 else "")


BoxKey = tuple[str, int]  # (module path, call number)


def box_chains(graph: Graph) -> dict[str, tuple[BoxKey, ...]]:
    """Node id -> the module calls it belongs to, outermost first, each ``(path, call)``.

    The calls are those of :func:`graphanim.modules.collapse` (``call_chains``): a box per call
    of a module, from the calls capture numbered (``attrs["module_call"]``,
    ``graph.module_calls``), so a module called twice (a block's one ``ReLU``, a weight-shared
    cell applied at each step) has a box per call, back to back or with other work between (the
    bounding box of both would hold that work); in a graph that records no calls, a call is a
    maximal run of consecutive ops (in forward order) inside the module. An op belongs to the
    calls of its module and its ancestors (a collapsed module, drawn as one op, to its
    parent's); a value to its op's; a parameter to the innermost call that holds all the ops
    reading it, among the calls of the module that owns it and its ancestors (a weight tied
    across modules, or read by each call of a shared module, sits outside those calls); a
    constant to the calls of the ops reading it when they all ran in the same one."""
    mods = getattr(graph, "modules", None) or {}
    chains: dict[str, tuple[BoxKey, ...]] = {}
    if not mods:
        return chains
    for op_id, calls in call_chains(graph).items():
        chains[op_id] = tuple(calls)
    kinds = {n.id: n.kind for n in graph.nodes}
    for e in graph.edges:
        if kinds[e.src] == "op" and e.src in chains and e.dst not in chains:
            chains[e.dst] = chains[e.src]  # op -> its output value
    input_ids = {v.id for v in graph.inputs.values()}
    for n in graph.nodes:
        if n.kind == "op" or n.id in chains:
            continue
        readers = [chains.get(d.id, ()) for d in graph.successors(n.id)]
        if not readers:
            continue
        if n.attrs.get("parameter") and "." in n.name:
            owner = n.name.rsplit(".", 1)[0]  # need not have run (out_proj in attention)
            common = readers[0]
            for r in readers[1:]:
                k = 0
                while k < min(len(common), len(r)) and common[k] == r[k]:
                    k += 1
                common = common[:k]
            while common and not (owner == common[-1][0] or owner.startswith(common[-1][0] + ".")):
                common = common[:-1]
            if common:
                chains[n.id] = common
        elif n.kind == "constant" and n.id not in input_ids:
            if readers[0] and all(r == readers[0] for r in readers):
                chains[n.id] = readers[0]
    return chains


def module_boxes(graph: Graph, index: Mapping[str, int]) -> list[ModuleBox]:
    """The module boxes to draw, one per module call (:func:`box_chains`), parents before
    children. The root module (path ``""``, when ``func`` itself is a module) holds everything
    and gets no box."""
    mods = getattr(graph, "modules", None) or {}
    chains = box_chains(graph)
    if not chains:
        return []
    members: dict[BoxKey, list[int]] = {}
    parent: dict[BoxKey, BoxKey | None] = {}
    for n in graph.nodes:  # keys in order of first appearance: a parent before its children
        chain = chains.get(n.id, ())
        for k, key in enumerate(chain):
            members.setdefault(key, []).append(index[n.id])
            parent.setdefault(key, chain[k - 1] if k else None)
    keys = list(members)
    label = {key: f"{plain_text(key[0])}: {plain_text(mods[key[0]])}" for key in keys}
    # a box holding exactly what its only child box holds (a model whose forward calls one
    # Sequential) would be drawn as two nested frames around the same nodes: keep the inner one
    # and give it both names
    dropped: set[BoxKey] = set()
    for key in keys:
        kids = [c for c in keys if parent[c] == key]
        if len(kids) == 1 and set(members[kids[0]]) == set(members[key]):
            label[kids[0]] = f"{label[key]} › {label[kids[0]]}"
            parent[kids[0]] = parent[key]
            dropped.add(key)
    boxes: list[ModuleBox] = []
    pos: dict[BoxKey, int] = {}
    for key in keys:
        if key in dropped:
            continue
        up = parent[key]
        depth = 0 if up is None else boxes[pos[up]].depth + 1
        pos[key] = len(boxes)
        boxes.append(ModuleBox(key[0], label[key], sorted(members[key]), [], depth,
                                top=line_height(FONT["module"]) + 4.0, call=key[1],
                                parent=-1 if up is None else pos[up]))
        if up is not None:
            boxes[pos[up]].children.append(pos[key])
    return boxes


def legalize_boxes(xy: Any, boxes: list[ModuleBox], src: Any, dst: Any) -> Any:
    """Layout positions (a copy) where no module box, as the bounding box of its members in
    layout units, holds a node of its group or meets a sibling box (see :class:`BoxSpacing` for
    the groups): then the spacing can keep every box clear of what lies outside it.

    The layout does not know the modules, so a node can sit among the members of a box it does
    not belong to: the loss's ``target`` in the column of the network's last output, an input
    between the weight and the bias docked around it. Such a node moves out of the box's layers
    to a column of its own just past the box's last layer or just before its first one, the
    nearer of the two that keeps all its edges pointing the same way along the main axis. When
    neither does (the node reads from the box and feeds it), it moves across, to the slot just
    above or below the box, and everything beyond that slot moves at least a slot further. Two
    sibling boxes that still meet (their layer and slot ranges cross without either holding a
    node of the other) are parted the same way: the one with fewer members moves across, past
    the other. A node's move keeps every separation already made (whatever lies beyond the new
    slot moves with it), so those steps end; the loop is capped all the same, since parting two
    boxes can put the moved one on a third box that spans the new slot.
    """
    import numpy as np

    xy = np.array(xy, dtype=float).reshape(-1, 2)
    n, nb = len(xy), len(boxes)
    if not nb:
        return xy
    axis = main_axis(xy, src, dst)
    u, v = xy[:, axis], xy[:, 1 - axis]  # views: writing them moves the nodes
    inner = np.full(n, -1)
    for k, b in enumerate(boxes):
        inner[b.members] = k
    mem = [np.asarray(b.members, dtype=int) for b in boxes]
    kids: dict[int, list[int]] = {}
    for k, b in enumerate(boxes):
        kids.setdefault(b.parent, []).append(k)
    # deepest groups first, the top level last
    order = sorted(kids, key=lambda g: (-(boxes[g].depth if g >= 0 else -1), g))
    bare = {g: np.flatnonzero(inner == g) for g in order}
    nbrs: list[list[int]] = [[] for _ in range(n)]
    for s, d in zip(np.asarray(src).tolist(), np.asarray(dst).tolist()):
        nbrs[s].append(d)
        nbrs[d].append(s)
    eps = 1e-9

    for _ in range(4 * (n + nb) + 8):
        hit = _violation(u, v, order, kids, mem, bare)
        if hit is None:
            break
        if hit[0] == "node":
            i, (u0, v0, u1, v1) = hit[1], hit[2]
            best = _column_beside(u, i, nbrs[i], u0, u1)
            if best is not None:
                u[i] = best
                continue
            up = v1 + 1 - v[i] <= v[i] - v0 + 1
            edge = v1 if up else v0
            sign = 1.0 if up else -1.0
            mates = np.flatnonzero((np.abs(u - u[i]) <= eps) & (sign * (v - edge) > eps))
            mates = mates[mates != i]
            # one slot between the node and its layer's next node beyond it
            room = max(1.0, 2.0 - float(np.abs(v[mates] - edge).min())) if len(mates) else 1.0
            _shift_beyond(v, edge, up, room, i)
            v[i] = edge + sign
        else:
            _, a, b, ra, rb = hit
            if len(mem[b]) > len(mem[a]):
                a, b, ra, rb = b, a, rb, ra
            s = mem[b]  # the smaller box moves across the other
            lo, hi = float(v[s].min()), float(v[s].max())
            up = ra[3] + 1 - lo <= hi - (ra[1] - 1)
            edge = ra[3] if up else ra[1]
            _shift_beyond(v, edge, up, hi - lo + 2.0, s)
            v[s] += (edge + 1 - lo) if up else (edge - 1 - hi)
    return xy


_EPS = 1e-9


def _violation(u: Any, v: Any, order: list[int], kids: dict[int, list[int]], mem: list[Any],
               bare: dict[int, Any]) -> tuple[Any, ...] | None:
    """The first node inside a box of its group, or pair of sibling boxes that meet (in
    ``order`` of the groups): ``("node", i, rect)``, ``("boxes", a, b, rect_a, rect_b)``."""
    import numpy as np

    eps = _EPS
    for g in order:
        ks = kids[g]
        r = np.array([[u[m].min(), v[m].min(), u[m].max(), v[m].max()]
                      for m in (mem[k] for k in ks)])
        nodes = bare[g]
        if len(nodes):
            pu, pv = u[nodes][None, :], v[nodes][None, :]
            hit = ((pu >= r[:, 0:1] - eps) & (pu <= r[:, 2:3] + eps)
                   & (pv >= r[:, 1:2] - eps) & (pv <= r[:, 3:4] + eps))
            if hit.any():
                bi, ni = np.argwhere(hit)[0]
                return ("node", int(nodes[ni]), r[bi])
        if len(ks) > 1:
            meet = ((r[:, None, 0] <= r[None, :, 2] + eps)
                    & (r[None, :, 0] <= r[:, None, 2] + eps)
                    & (r[:, None, 1] <= r[None, :, 3] + eps)
                    & (r[None, :, 1] <= r[:, None, 3] + eps))
            meet = np.triu(meet, 1)
            if meet.any():
                a, b = np.argwhere(meet)[0]
                return ("boxes", ks[a], ks[b], r[a], r[b])
    return None

def _shift_beyond(v: Any, edge: float, up: bool, amount: float, keep: Any) -> None:
    """Move every node past ``edge`` (above it if ``up``), except ``keep``, by ``amount``."""
    eps = _EPS
    sel = v > edge + eps if up else v < edge - eps
    sel[keep] = False
    v[sel] += amount if up else -amount


def _column_beside(u: Any, i: int, nbrs: list[int], u0: float, u1: float) -> float | None:
    """A main-axis coordinate for node ``i`` just past the box's last layer ``u1`` or just before
    its first ``u0``, the nearer of those that keep all its edges pointing the same way along the
    main axis; ``None`` when neither does."""
    import numpy as np

    eps = _EPS
    w = u[nbrs]
    others = np.delete(u, i)
    best: float | None = None
    if not np.any(np.abs(w - u[i]) <= eps):
        if np.all((w < u[i]) | (w > u1 + eps)):  # past the box's last layer
            later = others[others > u1 + eps]
            best = u1 + (min(1.0, float(later.min() - u1) / 2) if len(later) else 1.0)
        if np.all((w > u[i]) | (w < u0 - eps)):  # before its first layer
            earlier = others[others < u0 - eps]
            t = u0 - (min(1.0, float(u0 - earlier.max()) / 2) if len(earlier) else 1.0)
            if best is None or abs(t - u[i]) < abs(best - u[i]):
                best = t
    return best
