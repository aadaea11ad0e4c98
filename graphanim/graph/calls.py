"""Modules: the ``nn.Module`` hierarchy of a graph and its calls, grouped per call.

Capture records, on every op node, the innermost module the op ran in (``attrs["module"]``, a path
such as ``"layers.0.self_attn"``) and, on the graph, the module tree (``graph.modules``: path ->
class name). This module (and :mod:`.collapse`, which
folds calls into single nodes) reads that record; it needs no torch and draws nothing.

Depth
-----
The *level* of a module is the number of components of its path: the captured function (or the
module passed as ``func``, path ``""``) is level 0, the modules it calls directly are level 1
(``"net"`` for ``lambda x: net(x)``, ``"layer1"`` for ``TorchGraph(net, ...)``), their children
level 2, and so on. ``collapse(graph, depth)`` keeps every module of level ``<= depth`` open (its
own ops are shown) and turns each call of a module of level ``depth + 1`` into one node that
stands for all the ops of that call, those of its submodules included (see Calls below). So
``depth=0`` shows only what the function itself does, with each module call as one node;
``depth=1`` opens those modules and collapses their children. Level 0 is never collapsed.

Calls
-----
Capture also numbers every module call (``op.attrs["module_call"]``, and ``graph.module_calls``:
number -> (path, number of the enclosing call)). A collapsed node stands for one *call* of a
module, not for the module: a module called twice (the one ``ReLU`` of a ResNet block, a
weight-shared RNN cell applied at each time step) is two nodes, in forward order, even when the
calls come back to back. The renderer's module boxes group the ops the same way, a box per call
(``call_chains``). Graphs that record no calls (hand-built ones) fall back to runs of
consecutive ops in one module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .model import Edge, Graph, Node

__all__ = [
    "DEFAULT_MAX_OPS",
    "DEPTH_CHOICES",
    "CallKey",
    "ModuleCalls",
    "ModuleInfo",
    "adjacency",
    "ancestor",
    "call_chains",
    "call_groups",
    "call_keys",
    "check_depth",
    "is_buffer",
    "module_level",
    "module_tree",
]


#: ``auto_depth``'s default: the most op nodes a picture shows before modules are collapsed.
#: About what fits a slide with readable labels at the renderer's default size.
DEFAULT_MAX_OPS = 40

#: What the ``depth`` argument of ``plot``/``save``/``animate`` accepts (for error messages).
DEPTH_CHOICES = (
    'None or "auto" (collapse only when the graph is too big to read)',
    "an int >= 0 (collapse the modules deeper than that level)",
    '"full" or False (never collapse)',
)


def module_level(path: str) -> int:
    """The level of a module path: ``""`` is 0, ``"net"`` 1, ``"net.0"`` 2, ..."""
    return 0 if path == "" else path.count(".") + 1


def ancestor(path: str, level: int) -> str:
    """The ancestor of ``path`` at ``level`` (``path`` itself when it is that deep)."""
    if level <= 0:
        return ""
    return ".".join(path.split(".")[:level])


# -- the module tree ----------------------------------------------------------------------------


@dataclass
class ModuleInfo:
    """One module of a graph's module tree.

    Attributes
    ----------
    path : str
        Dotted module path (``""`` for the root: the captured function or module).
    cls : str
        Class name (``"Linear"``); for the root of a plain function, ``""``.
    level : int
        Depth in the tree (see :func:`module_level`).
    parent : str or None
        Path of the parent module (``None`` for the root).
    children : list of str
        Paths of the child modules that have ops in the graph, in ``graph.modules`` order.
    ops : list of str
        Ids of every op node that ran inside this module (submodules included), forward order.
    own_ops : list of str
        Ids of the op nodes whose innermost module is this one.
    inputs : list of str
        Ids of the value nodes produced outside the module and read by its ops (parameters and
        buffers of the module are listed apart), in order of first use.
    outputs : list of str
        Ids of the value nodes produced inside the module and read outside it or returned by the
        function, in the order they were produced.
    parameters : list of str
        Names of the ``nn.Parameter`` leaves its ops read, in order of first use.
    calls : int
        Number of calls of the module that ran ops: 1 normally, more for a module called several
        times (a block's one ``ReLU``, a weight-shared cell applied at each step). Each call is
        one node when the module is collapsed and one box when it is drawn. For a graph that
        records no calls (hand-built), the number of separate runs of its ops in execution
        order; for a module that never ran its own forward (a ``ModuleList``), the number of runs
        of its submodules' calls within one call of its parent.
    """

    path: str
    cls: str
    level: int
    parent: str | None
    children: list[str] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)
    own_ops: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)
    calls: int = 0


def module_tree(graph: Graph) -> dict[str, ModuleInfo]:
    """The module hierarchy of ``graph``: path -> :class:`ModuleInfo`, parents before children.

    The root ``""`` is always present; it holds every op (those outside any module are its own
    ops). The other entries follow ``graph.modules``; a module path found on an op but missing
    from ``graph.modules`` (a hand-built graph) is added with its ancestors, class ``"Module"``.

    Examples
    --------
    >>> import torch
    >>> from graphanim import TorchGraph
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh()).double()
    >>> tree = module_tree(TorchGraph(lambda x: net(x).sum(), [[1.0, 2.0]]))
    >>> [(p, m.cls, len(m.ops)) for p, m in tree.items()]
    [('', '', 3), ('net', 'Sequential', 2), ('net.0', 'Linear', 1), ('net.1', 'Tanh', 1)]
    >>> tree["net.0"].parameters
    ['net.0.weight', 'net.0.bias']
    """
    modules = dict(graph.modules)
    paths: dict[str, str] = {"": modules.get("", "")}  # path -> class, in first-seen order
    wanted = list(modules) + [op.attrs.get("module") or "" for op in graph.ops]
    for path in wanted:
        for level in range(1, module_level(path) + 1):
            anc = ancestor(path, level)
            if anc not in paths:
                paths[anc] = modules.get(anc, "Module")
    seen = {p: i for i, p in enumerate(paths)}

    def tree_key(path: str) -> tuple[int, ...]:
        # each module right after its parent (depth first), siblings in first-seen order
        return tuple(seen[ancestor(path, lv)] for lv in range(1, module_level(path) + 1))

    tree: dict[str, ModuleInfo] = {}
    for path in sorted(paths, key=tree_key):
        level = module_level(path)
        parent = None if path == "" else ancestor(path, level - 1)
        tree[path] = ModuleInfo(path, paths[path], level, parent)
        if parent is not None:
            tree[parent].children.append(path)

    ops = graph.ops
    for op in ops:
        path = op.attrs.get("module") or ""
        tree[path].own_ops.append(op.id)
        for level in range(module_level(path) + 1):
            tree[ancestor(path, level)].ops.append(op.id)
    tree[""].calls = 1 if ops else 0
    calls = ModuleCalls(graph)
    deepest = max((module_level(op.attrs.get("module") or "") for op in ops), default=0)
    for depth in range(deepest):
        for key, _members in call_groups(graph, depth, calls):
            tree[key[0]].calls += 1

    by_id = {n.id: n for n in graph.nodes}
    ins, outs = adjacency(graph)
    output_ids = {n.id for n in graph.outputs}
    for info in tree.values():
        members = set(info.ops)
        seen_in: set[str] = set()
        for op_id in info.ops:
            for e in ins[op_id]:
                src = by_id[e.src]
                if src.id in seen_in:
                    continue
                seen_in.add(src.id)
                producers = ins[src.id]
                if producers and producers[0].src in members:
                    continue
                if src.attrs.get("parameter"):
                    info.parameters.append(src.name)
                elif not is_buffer(src, info.path, tree):
                    info.inputs.append(src.id)
        for op_id in info.ops:
            for e in outs[op_id]:
                if e.dst in output_ids or any(c.dst not in members for c in outs[e.dst]):
                    if e.dst not in info.outputs:
                        info.outputs.append(e.dst)
    return tree


def is_buffer(node: Node, path: str, modules: Mapping[str, Any]) -> bool:
    """A tensor that module ``path`` owns but that is not an input: a scalar constant of one of its
    ops, or a constant leaf named after one of its (sub)modules (a buffer, such as BatchNorm's
    running statistics, named ``"net.bn1.running_mean"``)."""
    if node.kind != "constant":
        return False
    if node.attrs.get("scalar"):
        return True
    owner = node.name.rpartition(".")[0]
    if not owner or owner not in modules:
        return False
    return path == "" or owner == path or owner.startswith(path + ".")


def adjacency(graph: Graph) -> tuple[dict[str, list[Edge]], dict[str, list[Edge]]]:
    """In- and out-edges by node id (looked up by id only: ``graph.in_edges`` also takes names,
    and a variable may be called ``n4``)."""
    ins: dict[str, list[Edge]] = {n.id: [] for n in graph.nodes}
    outs: dict[str, list[Edge]] = {n.id: [] for n in graph.nodes}
    for e in graph.edges:
        outs[e.src].append(e)
        ins[e.dst].append(e)
    return ins, outs


#: What identifies one collapsed node (and one module box): the module path, the number of the
#: module's own call (None for a module that never ran its own ``forward``, such as a
#: ``ModuleList`` whose layers the parent calls in turn) and the number of the call around it
#: (None at top level, or when the graph records no calls).
CallKey = tuple[str, int | None, int | None]


class ModuleCalls:
    """Reads ``graph.module_calls`` and the call numbers on op nodes (see :meth:`key`)."""

    def __init__(self, graph: Graph) -> None:
        self.calls: dict[int, tuple[str, int | None]] = dict(graph.module_calls)
        self._chains: dict[int | None, list[int]] = {None: []}

    def start(self, op: Node) -> int | None:
        """The innermost call ``op`` ran in: its ``module_call``, or for a collapsed node of a
        module that never ran its own forward, the call around it (``parent_call``)."""
        call = op.attrs.get("module_call")
        if call is None and op.attrs.get("collapsed"):
            call = op.attrs.get("parent_call")
        return call if isinstance(call, int) and not isinstance(call, bool) else None

    def chain(self, call: int | None) -> list[int]:
        """``call`` and the calls around it, innermost first (those ``module_calls`` records)."""
        if call not in self._chains:
            chain: list[int] = []
            c: int | None = call
            while c is not None and c in self.calls and c not in chain:
                chain.append(c)
                c = self.calls[c][1]
            self._chains[call] = chain
        return self._chains[call]

    def key(self, target: str, op: Node) -> CallKey:
        """The call of module ``target`` (a path the op ran in, or an ancestor of it) that ``op``
        belongs to: ``(target, its call, the call around it)``. Walking out from the op's call,
        the last call inside ``target`` (the path or below it) is the call; the first one
        outside is the call around it. ``(target, None, None)`` when nothing is recorded."""
        own: int | None = None
        around: int | None = None
        for c in self.chain(self.start(op)):
            path = self.calls[c][0]
            if path == target or path.startswith(target + "."):
                own = c
            else:
                around = c
                break
        if own is not None and self.calls[own][0] != target:
            own = None  # only submodules of target ran: target itself was not called
        return (target, own, around)


def call_keys(graph: Graph, depth: int, calls: ModuleCalls | None = None) -> list[CallKey | None]:
    """For each op of ``graph.ops``: the call it collapses into at ``depth`` (see
    :meth:`ModuleCalls.key`), or None when it stays an op."""
    calls = calls or ModuleCalls(graph)
    out: list[CallKey | None] = []
    for op in graph.ops:
        path = op.attrs.get("module") or ""
        out.append(
            calls.key(ancestor(path, depth + 1), op) if module_level(path) > depth else None
        )
    return out


def call_groups(
    graph: Graph, depth: int, calls: ModuleCalls | None = None
) -> list[tuple[CallKey, list[Node]]]:
    """The collapsed nodes at ``depth``: (call key, member ops), in forward order.

    Members of one node are a maximal run of consecutive ops (in forward execution order) that
    collapse into the same call of the same module (:meth:`ModuleCalls.key`). A module called twice
    gives two nodes, back to back or with other work in between (merging them around that work
    would make a cycle). Because each group is a run of a topological order, the collapsed graph
    is acyclic. For graphs that record no calls (hand-built ones) a call is a run of consecutive
    ops in the module.
    """
    groups: list[tuple[CallKey, list[Node]]] = []
    prev: CallKey | None = None
    for op, key in zip(graph.ops, call_keys(graph, depth, calls)):
        if key is not None and key == prev:
            groups[-1][1].append(op)
        elif key is not None:
            groups.append((key, [op]))
        prev = key
    return groups


def call_chains(graph: Graph) -> dict[str, list[tuple[str, int]]]:
    """Op id -> the module calls it ran in, outermost first, each ``(path, n)`` for the ``n``-th
    call of ``path`` (1, 2, ... in forward order); what the renderer's module boxes group.

    The call of a module at level ``L`` that an op belongs to is the node it collapses into with
    ``collapse(graph, L - 1)``, so boxes and collapsed nodes agree: a module called twice (a
    block's one ``ReLU``, a weight-shared cell applied at each step) has a box per call, and a
    module that never ran its own forward (a ``ModuleList``) one box per run of its layers within
    one call of its parent. A collapsed node belongs to the calls of its ancestors only. Paths
    missing from ``graph.modules`` are left out, and so is an op whose own module is missing
    from it (the root ``""`` has no level and never appears).
    """
    mods = graph.modules
    calls = ModuleCalls(graph)
    out: dict[str, list[tuple[str, int]]] = {}
    count: dict[str, int] = {}
    prev: dict[str, CallKey] = {}  # path -> key of the previous op's call of it
    for op in graph.ops:
        path = op.attrs.get("module")
        mine: dict[str, CallKey] = {}
        chain: list[tuple[str, int]] = []
        if isinstance(path, str) and (path in mods or op.attrs.get("collapsed")):
            top = module_level(path) - (1 if op.attrs.get("collapsed") else 0)
            for level in range(1, top + 1):
                target = ancestor(path, level)
                if target not in mods:
                    continue
                key = mine[target] = calls.key(target, op)
                if prev.get(target) != key:
                    count[target] = count.get(target, 0) + 1
                chain.append((target, count[target]))
        prev = mine
        if chain:
            out[op.id] = chain
    return out


def check_depth(depth: Any) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(
            f"depth must be an int >= 0 (0 collapses every module the function calls), "
            f"got {depth!r}"
        )
    return depth
