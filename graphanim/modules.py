"""Modules: the ``nn.Module`` hierarchy of a graph, and collapsing modules into single nodes.

Capture records, on every op node, the innermost module the op ran in (``attrs["module"]``, a path
such as ``"layers.0.self_attn"``) and, on the graph, the module tree (``graph.modules``: path ->
class name). This module reads that record; it needs no torch and draws nothing.

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

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .graph import Edge, Graph, Node, plain_text

__all__ = [
    "DEFAULT_MAX_OPS",
    "DEPTH_CHOICES",
    "CollapsedGraph",
    "ModuleInfo",
    "at_depth",
    "auto_depth",
    "call_chains",
    "collapse",
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


def _ancestor(path: str, level: int) -> str:
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
            anc = _ancestor(path, level)
            if anc not in paths:
                paths[anc] = modules.get(anc, "Module")
    seen = {p: i for i, p in enumerate(paths)}

    def tree_key(path: str) -> tuple[int, ...]:
        # each module right after its parent (depth first), siblings in first-seen order
        return tuple(seen[_ancestor(path, lv)] for lv in range(1, module_level(path) + 1))

    tree: dict[str, ModuleInfo] = {}
    for path in sorted(paths, key=tree_key):
        level = module_level(path)
        parent = None if path == "" else _ancestor(path, level - 1)
        tree[path] = ModuleInfo(path, paths[path], level, parent)
        if parent is not None:
            tree[parent].children.append(path)

    ops = graph.ops
    for op in ops:
        path = op.attrs.get("module") or ""
        tree[path].own_ops.append(op.id)
        for level in range(module_level(path) + 1):
            tree[_ancestor(path, level)].ops.append(op.id)
    tree[""].calls = 1 if ops else 0
    calls = _Calls(graph)
    deepest = max((module_level(op.attrs.get("module") or "") for op in ops), default=0)
    for depth in range(deepest):
        for key, _members in _groups(graph, depth, calls):
            tree[key[0]].calls += 1

    by_id = {n.id: n for n in graph.nodes}
    ins, outs = _adjacency(graph)
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
                elif not _is_buffer(src, info.path, tree):
                    info.inputs.append(src.id)
        for op_id in info.ops:
            for e in outs[op_id]:
                if e.dst in output_ids or any(c.dst not in members for c in outs[e.dst]):
                    if e.dst not in info.outputs:
                        info.outputs.append(e.dst)
    return tree


def _adjacency(graph: Graph) -> tuple[dict[str, list[Edge]], dict[str, list[Edge]]]:
    """In- and out-edges by node id (looked up by id only: ``graph.in_edges`` also takes names,
    and a variable may be called ``n4``)."""
    ins: dict[str, list[Edge]] = {n.id: [] for n in graph.nodes}
    outs: dict[str, list[Edge]] = {n.id: [] for n in graph.nodes}
    for e in graph.edges:
        outs[e.src].append(e)
        ins[e.dst].append(e)
    return ins, outs


def _is_buffer(node: Node, path: str, modules: Mapping[str, Any]) -> bool:
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


# -- collapsing ---------------------------------------------------------------------------------


class CollapsedGraph(Graph):
    """A graph whose deep modules are collapsed into single op nodes (see :func:`collapse`).

    Besides the :class:`~graphanim.graph.Graph` fields it has ``source`` (the graph it was made
    from; ``None`` until :func:`collapse` sets it) and ``depth``, and a cached :meth:`layout`
    like ``TorchGraph``'s.
    """

    source: Graph | None = None
    depth: int = 0

    def layout(self, layout: Any = None, **kwargs: Any) -> dict[str, tuple[float, float]]:
        """Node positions ``{node_id: (x, y)}``, computed once per layout choice and cached.

        ``layout`` as for :func:`graphanim.layout.compute_layout`.
        """
        from .layout import compute_layout

        if isinstance(layout, Mapping):
            return compute_layout(self, layout, **kwargs)
        cache: dict[Any, dict[str, tuple[float, float]]] = self.__dict__.setdefault("_layouts", {})
        key = (layout, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = compute_layout(self, layout, **kwargs)
        return cache[key]


#: What identifies one collapsed node (and one module box): the module path, the number of the
#: module's own call (None for a module that never ran its own ``forward``, such as a
#: ``ModuleList`` whose layers the parent calls in turn) and the number of the call around it
#: (None at top level, or when the graph records no calls).
_CallKey = tuple[str, int | None, int | None]


class _Calls:
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

    def key(self, target: str, op: Node) -> _CallKey:
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


def _keys(graph: Graph, depth: int, calls: _Calls | None = None) -> list[_CallKey | None]:
    """For each op of ``graph.ops``: the call it collapses into at ``depth`` (see
    :meth:`_Calls.key`), or None when it stays an op."""
    calls = calls or _Calls(graph)
    out: list[_CallKey | None] = []
    for op in graph.ops:
        path = op.attrs.get("module") or ""
        out.append(
            calls.key(_ancestor(path, depth + 1), op) if module_level(path) > depth else None
        )
    return out


def _groups(
    graph: Graph, depth: int, calls: _Calls | None = None
) -> list[tuple[_CallKey, list[Node]]]:
    """The collapsed nodes at ``depth``: (call key, member ops), in forward order.

    Members of one node are a maximal run of consecutive ops (in forward execution order) that
    collapse into the same call of the same module (:meth:`_Calls.key`). A module called twice
    gives two nodes, back to back or with other work in between (merging them around that work
    would make a cycle). Because each group is a run of a topological order, the collapsed graph
    is acyclic. For graphs that record no calls (hand-built ones) a call is a run of consecutive
    ops in the module.
    """
    groups: list[tuple[_CallKey, list[Node]]] = []
    prev: _CallKey | None = None
    for op, key in zip(graph.ops, _keys(graph, depth, calls)):
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
    calls = _Calls(graph)
    out: dict[str, list[tuple[str, int]]] = {}
    count: dict[str, int] = {}
    prev: dict[str, _CallKey] = {}  # path -> key of the previous op's call of it
    for op in graph.ops:
        path = op.attrs.get("module")
        mine: dict[str, _CallKey] = {}
        chain: list[tuple[str, int]] = []
        if isinstance(path, str) and (path in mods or op.attrs.get("collapsed")):
            top = module_level(path) - (1 if op.attrs.get("collapsed") else 0)
            for level in range(1, top + 1):
                target = _ancestor(path, level)
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


_call_chains = call_chains  # alias until render.py switches


def _check_depth(depth: Any) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(
            f"depth must be an int >= 0 (0 collapses every module the function calls), "
            f"got {depth!r}"
        )
    return depth


def _copy(node: Node) -> Node:
    copy = Node(
        node.id,
        node.name,
        node.label,
        node.kind,
        None,
        None,
        node.shape,
        node.op,
        node.dtype,
        dict(node.attrs),
    )
    # share the numbers as they are held (packed ones stay packed)
    copy._value, copy._grad, copy._store = node._value, node._grad, node._store
    return copy


def _sum(grads: list[Any]) -> Any:
    total = None
    for g in grads:
        if g is not None:
            total = g if total is None else total + g
    return total


def collapse(graph: Graph, depth: int) -> CollapsedGraph:
    """A new graph where every call of a module at level ``depth + 1`` is one op node.

    ``graph`` is left untouched. See the module docstring for levels: ``depth=0`` collapses every
    module the function calls, ``depth=1`` opens those and collapses their children, and so on.

    The collapsed node:

    - ``kind="op"``, ``op`` = the module's class name (``"Linear"``), ``name`` = its path,
      ``label`` = ``"path · Class"`` (``"net.0 · Linear"``);
    - ``attrs``: ``"module"`` (its path), ``"collapsed": True``, ``"class"``, ``"ops"`` (how many
      ops it stands for), ``"members"`` (their ids in ``graph``), ``"parameters"`` (names of the
      parameters folded into it), ``"parameter_grads"`` (name -> gradient, as ``graph.grad``),
      ``"folded"`` (ids in ``graph`` of every leaf folded into it: parameters, buffers, scalar
      constants); when ``graph`` records its module calls, also ``"module_call"`` (the number of
      the call it stands for in ``module_calls``; None for a module that never ran its own
      forward, such as a ``ModuleList`` whose layers its parent calls) and ``"parent_call"``
      (the number of the call around it, None at top level);
    - in-edges from the module's inputs (values produced outside and read inside), ``index`` in
      order of first use; an edge's ``grad`` is the sum of the gradients the module's ops send
      to that value, which is the gradient PyTorch gives at the module's input;
    - out-edges to the module's outputs (values produced inside and read outside, or returned),
      ``index`` in order of production, ``grad`` the value's gradient (as for any op).

    One node per call: a module called several times (a ``ReLU`` instance reused in a residual
    block, a weight-shared cell applied at each time step) becomes one node per call, in forward
    order, also when the calls come back to back; each node's edges carry the gradients at that
    call's inputs and outputs. (A graph that records no calls, built by hand, gets one node per
    run of consecutive ops in the module.)

    Parameters read only by the call (and its buffers and scalar constants) are folded into the
    node rather than drawn as separate leaves: a ``Linear`` reads as one node between its input
    and output. A parameter that anything else also reads stays a node and becomes an input of
    every collapsed node that reads it: tied weights, and the weights of a module called
    several times (a shared cell's weight feeds each of its call nodes). The gradient on each
    such edge is that call's contribution (the sum of what its ops send to the parameter), and
    the edges from one parameter sum to its gradient (``graph.grad(name)``).

    Ids: surviving nodes keep their ids and their data (``value``, ``grad``); a collapsed node
    takes the id of its first member op. So ids stay in forward order (with gaps), and positions
    computed for ``graph`` also name the nodes of the collapsed graph. ``inputs``, ``outputs``,
    ``seeds`` are those of ``graph``; ``parameters`` lists the parameters still drawn;
    ``backward_order`` places each collapsed node where its first member ran, adjusted so that a
    node always comes after every node that consumes its outputs; ``modules`` keeps the modules
    still shown (open ones and collapsed ones), and ``module_calls`` the calls still shown (the
    calls the ops ran in, collapsed nodes' own calls included, and the calls around those).

    Parameters
    ----------
    graph : Graph
        A captured graph (op nodes carry ``attrs["module"]``).
    depth : int
        The deepest module level kept open, ``>= 0``.

    Returns
    -------
    CollapsedGraph

    Raises
    ------
    ValueError
        If ``depth`` is not an int ``>= 0``.

    Examples
    --------
    >>> import torch
    >>> from graphanim import TorchGraph
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    >>> net = net.double()
    >>> g = TorchGraph(lambda x: net(x).sum(), [[1.0, 2.0]])
    >>> [op.label for op in collapse(g, 1).ops]
    ['net.0 · Linear', 'net.1 · Tanh', 'net.2 · Linear', 'Σ']
    >>> [op.label for op in collapse(g, 0).ops]
    ['net · Sequential', 'Σ']
    """
    depth = _check_depth(depth)
    calls = _Calls(graph)
    groups = _groups(graph, depth, calls)
    modules = dict(graph.modules)
    by_id = {n.id: n for n in graph.nodes}
    input_ids = {n.id for n in graph.inputs.values()}
    output_ids = {n.id for n in graph.outputs}

    group_of: dict[str, int] = {}  # member op id -> group index
    for gi, (_, members) in enumerate(groups):
        for op in members:
            group_of[op.id] = gi

    ins, outs = _adjacency(graph)

    def producer(value_id: str) -> str:
        made = ins[value_id]
        return made[0].src if made else ""

    hidden: set[str] = set()  # original node ids not drawn (members, internal values, folded)
    new_ops: list[Node] = []  # collapsed nodes, one per group
    group_inputs: list[list[tuple[str, Any]]] = []  # (value id, summed grad)
    group_outputs: list[list[str]] = []
    for gi, ((path, own_call, around), members) in enumerate(groups):
        hidden.update(op.id for op in members)
        inputs: dict[str, list[Any]] = {}
        folded: list[str] = []
        params: list[str] = []
        param_grads: dict[str, Any] = {}
        member_ids: list[str] = []
        count = 0
        for op in members:
            # collapsing a collapsed graph again: merge what its collapsed nodes stand for
            member_ids += op.attrs.get("members", [op.id]) if op.attrs.get("collapsed") else [op.id]
            count += int(op.attrs.get("ops", 1)) if op.attrs.get("collapsed") else 1
            if op.attrs.get("collapsed"):
                folded += op.attrs.get("folded", [])
                params += op.attrs.get("parameters", [])
                param_grads.update(op.attrs.get("parameter_grads", {}))
            for e in ins[op.id]:
                src = by_id[e.src]
                if group_of.get(producer(e.src)) == gi or src.id in folded:
                    continue  # produced inside, or already folded
                if src.id not in inputs and _foldable(
                    src, path, gi, group_of, input_ids, ins, outs, modules
                ):
                    folded.append(src.id)
                    hidden.add(src.id)
                    if src.attrs.get("parameter"):
                        params.append(src.name)
                        param_grads[src.name] = src.grad
                    continue
                inputs.setdefault(src.id, []).append(e.grad)
        outputs: list[str] = []
        for op in members:
            for e in outs[op.id]:
                readers = outs[e.dst]
                if e.dst in output_ids or any(group_of.get(r.dst) != gi for r in readers):
                    outputs.append(e.dst)
                else:
                    hidden.add(e.dst)
        cls = modules.get(path, "Module")
        attrs: dict[str, Any] = {
            "module": path,
            "collapsed": True,
            "class": cls,
            "ops": count,
            "members": member_ids,
            "parameters": params,
            "parameter_grads": param_grads,
            "folded": folded,
        }
        if calls.calls:
            attrs["module_call"] = own_call
            attrs["parent_call"] = around
        new_ops.append(
            Node(
                members[0].id,
                path,
                f"{plain_text(path)} · {plain_text(cls)}",
                "op",
                op=cls,
                attrs=attrs,
            )
        )
        group_inputs.append([(vid, _sum(grads)) for vid, grads in inputs.items()])
        group_outputs.append(outputs)

    # nodes: forward order, each collapsed node where its first member was, its inputs before it
    nodes: list[Node] = []
    emitted: set[str] = set()
    first_of = {members[0].id: gi for gi, (_, members) in enumerate(groups)}
    for node in graph.nodes:
        first = first_of.get(node.id)
        if first is not None:
            for vid, _ in group_inputs[first]:
                if vid not in emitted:  # a leaf first read by a later member
                    nodes.append(_copy(by_id[vid]))
                    emitted.add(vid)
            nodes.append(new_ops[first])
        elif node.id not in hidden and node.id not in emitted:
            nodes.append(_copy(node))
            emitted.add(node.id)

    # edges: by destination position, then operand index
    out_group: dict[str, tuple[int, int]] = {}  # output value id -> (group, output position)
    for gi, made in enumerate(group_outputs):
        for j, vid in enumerate(made):
            out_group[vid] = (gi, j)
    edges: list[Edge] = []
    for node in nodes:
        first = first_of.get(node.id)
        if first is not None:
            for i, (vid, grad) in enumerate(group_inputs[first]):
                edges.append(Edge(vid, node.id, grad, i))
        elif node.id in out_group:
            made_by, j = out_group[node.id]
            edges.append(Edge(new_ops[made_by].id, node.id, node.grad, j))
        else:
            for e in ins[node.id]:
                copy = Edge(e.src, e.dst, None, e.index)
                copy._grad, copy._store = e._grad, e._store
                edges.append(copy)

    result = CollapsedGraph(
        nodes,
        edges,
        inputs=[n.id for n in graph.inputs.values()],
        outputs=[n.id for n in graph.outputs],
        backward_order=[],
        parameters=[n.id for n in graph.parameters.values() if n.id not in hidden],
    )
    node_of = {op.id: members[0].id for _, members in groups for op in members}
    result.backward_order = _backward_order(graph, result, node_of)
    result.seeds = list(graph.seeds)
    shown = {op.attrs.get("module") or "" for op in result.ops}
    result.modules = {
        path: cls
        for path, cls in modules.items()
        if path == "" or any(s == path or s.startswith(path + ".") for s in shown)
    }
    # the calls still shown: those the ops ran in (a collapsed node's own call) and around them
    kept = {c for op in result.ops for c in calls.chain(calls.start(op))}
    result.module_calls = {c: calls.calls[c] for c in sorted(kept)}
    result.source = graph
    result.depth = depth
    result.has_backward = graph.has_backward
    return result


def _foldable(
    node: Node,
    path: str,
    gi: int,
    group_of: dict[str, int],
    input_ids: set[str],
    ins: dict[str, list[Edge]],
    outs: dict[str, list[Edge]],
    modules: Mapping[str, Any],
) -> bool:
    """Whether a leaf read by group ``gi`` is folded into it: a parameter or buffer or scalar
    constant that only this group reads (never one of the function's arguments)."""
    if node.id in input_ids or ins[node.id]:
        return False
    if not (node.attrs.get("parameter") or _is_buffer(node, path, modules)):
        return False
    return all(group_of.get(e.dst) == gi for e in outs[node.id])


def _backward_order(graph: Graph, result: Graph, node_of: dict[str, str]) -> list[Node]:
    """Backward order of ``result``'s ops: each where its first member ran in ``graph``'s order,
    made consistent by a priority topological sort (an op comes after every op that reads its
    outputs, so a collapsed node fires once the gradients of all its outputs are complete)."""
    rank: dict[str, int] = {}
    for i, op in enumerate(graph.backward_order):
        rank.setdefault(node_of.get(op.id, op.id), i)
    _, outs = _adjacency(result)
    by_id = {n.id: n for n in result.nodes}
    waiting: dict[str, int] = {}
    feeds: dict[str, list[str]] = {}  # reader -> ops waiting for it
    for op_id in rank:
        readers: list[str] = []
        for made in outs[op_id]:
            for read in outs[made.dst]:
                if read.dst in rank and read.dst not in readers:
                    readers.append(read.dst)
        waiting[op_id] = len(readers)
        for reader in readers:
            feeds.setdefault(reader, []).append(op_id)
    heap = [(rank[o], o) for o, n in waiting.items() if n == 0]
    heapq.heapify(heap)
    order: list[Node] = []
    while heap:
        _, op_id = heapq.heappop(heap)
        order.append(by_id[op_id])
        for nxt in feeds.get(op_id, ()):
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(heap, (rank[nxt], nxt))
    return order


# -- choosing a depth ---------------------------------------------------------------------------


def _op_count(graph: Graph, depth: int, calls: _Calls | None = None) -> int:
    """Op nodes of ``collapse(graph, depth)``, without building it."""
    count = 0
    prev: _CallKey | None = None
    for key in _keys(graph, depth, calls):
        if key is None or key != prev:
            count += 1
        prev = key
    return count


def auto_depth(graph: Graph, max_ops: int = DEFAULT_MAX_OPS) -> int | None:
    """The deepest depth whose collapsed graph has at most ``max_ops`` op nodes.

    ``None`` when no collapsing is needed: the graph has at most ``max_ops`` ops, or it has no
    modules to collapse. When even ``depth=0`` leaves more than ``max_ops`` ops, 0 (the fewest
    ops collapsing can give).

    Examples
    --------
    >>> import torch
    >>> from graphanim import TorchGraph
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    >>> net = net.double()
    >>> g = TorchGraph(lambda x: net(x).sum(), [[1.0, 2.0]])
    >>> auto_depth(g, max_ops=10) is None, auto_depth(g, max_ops=3), auto_depth(g, max_ops=2)
    (True, 0, 0)
    """
    if isinstance(max_ops, bool) or not isinstance(max_ops, int) or max_ops < 1:
        raise ValueError(f"max_ops must be an int >= 1, got {max_ops!r}")
    ops = graph.ops
    if len(ops) <= max_ops:
        return None
    deepest = max((module_level(op.attrs.get("module") or "") for op in ops), default=0)
    if deepest == 0:
        return None
    calls = _Calls(graph)
    for depth in range(deepest - 1, -1, -1):
        if _op_count(graph, depth, calls) <= max_ops:
            return depth
    return 0


def at_depth(
    graph: Graph, depth: Any = None, *, layout: Any = None, max_ops: int = DEFAULT_MAX_OPS
) -> Graph:
    """The graph to draw for a ``depth`` argument: ``graph`` itself or a cached collapsed copy.

    Parameters
    ----------
    graph : Graph
        The captured graph.
    depth : None, "auto", int, "full" or False
        ``None``/``"auto"``: :func:`auto_depth` (no collapsing for graphs of at most ``max_ops``
        ops, nor when ``layout`` is a dict of positions, which was made for the full graph);
        an int ``>= 0``: :func:`collapse` to that depth; ``"full"`` or ``False``: never collapse.
    layout : optional
        The caller's layout argument (only checked for being a dict).
    max_ops : int
        Passed to :func:`auto_depth`.

    Raises
    ------
    ValueError
        For any other ``depth`` (the message lists the accepted values).

    Collapsed graphs are cached on ``graph`` per depth (graphs do not change after capture), so
    their layouts, cached on them, are computed once.
    """
    if depth is None or (isinstance(depth, str) and depth == "auto"):
        if isinstance(layout, Mapping):
            return graph
        chosen = auto_depth(graph, max_ops)
        if chosen is None:
            return graph
        depth = chosen
    elif depth is False or (isinstance(depth, str) and depth == "full"):
        return graph
    elif isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"unknown depth {depth!r}; expected {'; '.join(DEPTH_CHOICES)}")
    deepest = max((module_level(op.attrs.get("module") or "") for op in graph.ops), default=0)
    if depth >= deepest:
        return graph  # nothing is deeper: the full graph (and its cached layouts)
    cache: dict[int, CollapsedGraph] = graph.__dict__.setdefault("_collapsed", {})
    if depth not in cache:
        cache[depth] = collapse(graph, depth)
    return cache[depth]
