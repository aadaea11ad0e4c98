"""Collapsing: every call of a module below a depth becomes one node (see :mod:`.calls`)."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any

from .calls import (
    DEFAULT_MAX_OPS,
    DEPTH_CHOICES,
    CallKey,
    ModuleCalls,
    adjacency,
    call_groups,
    call_keys,
    check_depth,
    is_buffer,
    module_level,
)
from .model import Edge, Graph, Node
from .text import plain_text

__all__ = ["CollapsedGraph", "at_depth", "auto_depth", "collapse", "op_count"]


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
        from ..layout import compute_layout  # (lazily: the layout package reads graphs)

        if isinstance(layout, Mapping):
            return compute_layout(self, layout, **kwargs)
        cache: dict[Any, dict[str, tuple[float, float]]] = self.__dict__.setdefault("_layouts", {})
        key = (layout, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = compute_layout(self, layout, **kwargs)
        return cache[key]


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
    return _Collapse(graph, check_depth(depth)).result()


class _Collapse:
    """One run of :func:`collapse`: the groups of ``graph`` at ``depth``, each folded into one
    node (:meth:`_fold`), then the nodes, edges and fields of the collapsed graph."""

    def __init__(self, graph: Graph, depth: int) -> None:
        self.graph = graph
        self.depth = depth
        self.calls = ModuleCalls(graph)
        self.groups = call_groups(graph, depth, self.calls)
        self.modules = dict(graph.modules)
        self.by_id = {n.id: n for n in graph.nodes}
        self.input_ids = {n.id for n in graph.inputs.values()}
        self.output_ids = {n.id for n in graph.outputs}
        self.group_of: dict[str, int] = {}  # member op id -> group index
        for gi, (_, members) in enumerate(self.groups):
            for op in members:
                self.group_of[op.id] = gi
        self.ins, self.outs = adjacency(graph)
        self.hidden: set[str] = set()  # original node ids not drawn (members, internals, folded)
        self.new_ops: list[Node] = []  # collapsed nodes, one per group
        self.group_inputs: list[list[tuple[str, Any]]] = []  # (value id, summed grad)
        self.group_outputs: list[list[str]] = []
        for gi, (key, members) in enumerate(self.groups):
            self._fold(gi, key, members)

    def _producer(self, value_id: str) -> str:
        made = self.ins[value_id]
        return made[0].src if made else ""

    def _fold(self, gi: int, key: CallKey, members: list[Node]) -> None:
        """The collapsed node of group ``gi``, its inputs (value id, summed gradient) and
        outputs; what it hides."""
        path, own_call, around = key
        self.hidden.update(op.id for op in members)
        attrs: dict[str, Any] = {"module": path, "collapsed": True}
        inputs = self._inputs(gi, path, members, attrs)
        cls = self.modules.get(path, "Module")
        attrs["class"] = cls
        if self.calls.calls:
            attrs["module_call"] = own_call
            attrs["parent_call"] = around
        # the order the attributes are documented in
        attrs = {k: attrs[k] for k in _ATTR_ORDER if k in attrs}
        self.new_ops.append(
            Node(
                members[0].id,
                path,
                f"{plain_text(path)} · {plain_text(cls)}",
                "op",
                op=cls,
                attrs=attrs,
            )
        )
        self.group_inputs.append([(vid, _sum(grads)) for vid, grads in inputs.items()])
        self.group_outputs.append(self._outputs(gi, members))

    def _inputs(
        self, gi: int, path: str, members: list[Node], attrs: dict[str, Any]
    ) -> dict[str, list[Any]]:
        """Value id -> the gradients the group's ops send it, for the values read from outside
        the group and not folded into it; fills the ``ops``/``members``/``parameters``/
        ``parameter_grads``/``folded`` attributes."""
        inputs: dict[str, list[Any]] = {}
        folded: list[str] = []
        params: list[str] = []
        param_grads: dict[str, Any] = {}
        member_ids: list[str] = []
        count = 0
        for op in members:
            # collapsing a collapsed graph again: merge what its collapsed nodes stand for
            if op.attrs.get("collapsed"):
                member_ids += op.attrs.get("members", [op.id])
                count += int(op.attrs.get("ops", 1))
                folded += op.attrs.get("folded", [])
                params += op.attrs.get("parameters", [])
                param_grads.update(op.attrs.get("parameter_grads", {}))
            else:
                member_ids.append(op.id)
                count += 1
            for e in self.ins[op.id]:
                src = self.by_id[e.src]
                if self.group_of.get(self._producer(e.src)) == gi or src.id in folded:
                    continue  # produced inside, or already folded
                if src.id not in inputs and _foldable(
                    src, path, gi, self.group_of, self.input_ids, self.ins, self.outs,
                    self.modules,
                ):
                    folded.append(src.id)
                    self.hidden.add(src.id)
                    if src.attrs.get("parameter"):
                        params.append(src.name)
                        param_grads[src.name] = src.grad
                    continue
                inputs.setdefault(src.id, []).append(e.grad)
        attrs.update(ops=count, members=member_ids, parameters=params,
                     parameter_grads=param_grads, folded=folded)
        return inputs

    def _outputs(self, gi: int, members: list[Node]) -> list[str]:
        """The values the group makes that something outside reads (or that are outputs)."""
        outputs: list[str] = []
        for op in members:
            for e in self.outs[op.id]:
                readers = self.outs[e.dst]
                if e.dst in self.output_ids or any(self.group_of.get(r.dst) != gi for r in readers):
                    outputs.append(e.dst)
                else:
                    self.hidden.add(e.dst)
        return outputs

    def _nodes(self, first_of: dict[str, int]) -> list[Node]:
        """Forward order, each collapsed node where its first member was, its inputs before it."""
        nodes: list[Node] = []
        emitted: set[str] = set()
        for node in self.graph.nodes:
            first = first_of.get(node.id)
            if first is not None:
                for vid, _ in self.group_inputs[first]:
                    if vid not in emitted:  # a leaf first read by a later member
                        nodes.append(_copy(self.by_id[vid]))
                        emitted.add(vid)
                nodes.append(self.new_ops[first])
            elif node.id not in self.hidden and node.id not in emitted:
                nodes.append(_copy(node))
                emitted.add(node.id)
        return nodes

    def _edges(self, nodes: list[Node], first_of: dict[str, int]) -> list[Edge]:
        """By destination position, then operand index."""
        out_group: dict[str, tuple[int, int]] = {}  # output value id -> (group, output position)
        for gi, made in enumerate(self.group_outputs):
            for j, vid in enumerate(made):
                out_group[vid] = (gi, j)
        edges: list[Edge] = []
        for node in nodes:
            first = first_of.get(node.id)
            if first is not None:
                for i, (vid, grad) in enumerate(self.group_inputs[first]):
                    edges.append(Edge(vid, node.id, grad, i))
            elif node.id in out_group:
                made_by, j = out_group[node.id]
                edges.append(Edge(self.new_ops[made_by].id, node.id, node.grad, j))
            else:
                for e in self.ins[node.id]:
                    copy = Edge(e.src, e.dst, None, e.index)
                    copy._grad, copy._store = e._grad, e._store
                    edges.append(copy)
        return edges

    def result(self) -> CollapsedGraph:
        graph, calls = self.graph, self.calls
        first_of = {members[0].id: gi for gi, (_, members) in enumerate(self.groups)}
        nodes = self._nodes(first_of)
        result = CollapsedGraph(
            nodes,
            self._edges(nodes, first_of),
            inputs=[n.id for n in graph.inputs.values()],
            outputs=[n.id for n in graph.outputs],
            backward_order=[],
            parameters=[n.id for n in graph.parameters.values() if n.id not in self.hidden],
            seeds=graph.seeds,
            has_backward=graph.has_backward,
        )
        node_of = {op.id: members[0].id for _, members in self.groups for op in members}
        result.backward_order = _backward_order(graph, result, node_of)
        shown = {op.attrs.get("module") or "" for op in result.ops}
        result.modules = {
            path: cls
            for path, cls in self.modules.items()
            if path == "" or any(s == path or s.startswith(path + ".") for s in shown)
        }
        # the calls still shown: those the ops ran in (a collapsed node's own call) and around
        kept = {c for op in result.ops for c in calls.chain(calls.start(op))}
        result.module_calls = {c: calls.calls[c] for c in sorted(kept)}
        result.source = graph
        result.depth = self.depth
        return result


#: The attributes of a collapsed node, in the order they are documented.
_ATTR_ORDER = ("module", "collapsed", "class", "ops", "members", "parameters",
               "parameter_grads", "folded", "module_call", "parent_call")


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
    if not (node.attrs.get("parameter") or is_buffer(node, path, modules)):
        return False
    return all(group_of.get(e.dst) == gi for e in outs[node.id])


def _backward_order(graph: Graph, result: Graph, node_of: dict[str, str]) -> list[Node]:
    """Backward order of ``result``'s ops: each where its first member ran in ``graph``'s order,
    made consistent by a priority topological sort (an op comes after every op that reads its
    outputs, so a collapsed node fires once the gradients of all its outputs are complete)."""
    rank: dict[str, int] = {}
    for i, op in enumerate(graph.backward_order):
        rank.setdefault(node_of.get(op.id, op.id), i)
    _, outs = adjacency(result)
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


def op_count(graph: Graph, depth: int, calls: ModuleCalls | None = None) -> int:
    """Op nodes of ``collapse(graph, depth)``, without building it."""
    count = 0
    prev: CallKey | None = None
    for key in call_keys(graph, depth, calls):
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
    calls = ModuleCalls(graph)
    for depth in range(deepest - 1, -1, -1):
        if op_count(graph, depth, calls) <= max_ops:
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
