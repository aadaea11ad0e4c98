"""The graph model: plain, ordered, deterministic Node/Edge/Graph data and its exports."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import networkx as nx

__all__ = ["NODE_KINDS", "Edge", "Graph", "Node", "Packer", "plain_text", "valid_text"]

#: The kinds a node can have, in the order they are documented.
NODE_KINDS = ("input", "constant", "op", "value", "output")

# control characters, and the invisible direction marks and overrides (they would reorder text
# in DOT output, reprs and terminals)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\u061c]")


def valid_text(text: str) -> str:
    """``text`` with every lone surrogate written out as its escape (``x\\udc80``).

    ``os.fsdecode`` gives such code points for file names that are not valid UTF-8; no font or
    file format can hold them, so every name entering a graph passes through here.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def plain_text(text: str) -> str:
    """Make ``text`` safe to show as plain (non-math) text in matplotlib.

    Control characters are dropped (a newline or tab becomes a space) and every ``$`` is escaped so
    that it shows as a dollar sign instead of starting mathtext.
    """
    text = str(text)
    if text.isidentifier() or text.replace(".", "").isalnum():
        return text  # the common case: a variable, parameter or op name
    text = valid_text(text).replace("\n", " ").replace("\t", " ").replace("\r", " ")
    text = _CONTROL.sub("", text)
    # matplotlib reads text as math only between unescaped dollar pairs, and shows ``\$`` as ``$``
    return text.replace("$", r"\$")


class Packer:
    """Packs 0-dim CPU tensors (scalar values and gradients) into one shared tensor per dtype.

    Graphs of thousands of scalar ops would otherwise hold one small tensor object (about half a
    kilobyte each) per value and per gradient. A packed value is kept as an int code in the
    node's (or edge's) ``_value``/``_grad`` slot: column ``code & 15`` of ``store``, position
    ``code >> 4``; reading it gives a 0-dim view. ``add`` hands out codes at once; ``finish``
    fills ``store`` (one ``torch.stack`` per dtype). The same tensor object gets the same code.
    """

    __slots__ = ("codes", "columns", "groups", "store")

    def __init__(self) -> None:
        self.store: list[Any] = []  # shared by every packed holder; filled by finish()
        self.columns: dict[Any, int] = {}  # dtype -> column
        self.groups: list[list[Any]] = []  # column -> tensors in position order
        self.codes: dict[int, int] = {}  # id(tensor) -> code (groups hold the tensors alive)

    def add(self, t: Any) -> Any:
        """The code for ``t`` if it can be packed (a 0-dim CPU tensor), else ``t`` (detached)."""
        if t is None:
            return None
        hit = self.codes.get(id(t))
        if hit is not None:
            return hit
        if not t.is_cpu or t.dim() != 0:
            return t.detach() if t.requires_grad else t
        col = self.columns.get(t.dtype)
        if col is None:
            if len(self.columns) == 16:
                return t.detach() if t.requires_grad else t
            col = self.columns[t.dtype] = len(self.groups)
            self.groups.append([])
        group = self.groups[col]
        code = len(group) << 4 | col
        group.append(t)
        self.codes[id(t)] = code  # the group holds t: its id stays unique until finish()
        return code

    def finish(self) -> None:
        import torch

        store = []
        for group in self.groups:
            dtype = group[0].dtype
            if dtype in _exact_item_dtypes():
                # a Python number holds each of these dtypes exactly; reading numbers and making
                # one tensor from them is about twice as fast as stacking 0-dim tensors
                store.append(torch.tensor([t.item() for t in group], dtype=dtype))
            else:
                with torch.no_grad():  # values may still be the tensors autograd recorded
                    store.append(torch.stack(group))
        self.store[:] = store
        self.groups = []
        self.codes = {}


@functools.cache
def _exact_item_dtypes() -> frozenset[Any]:
    import torch

    return frozenset(
        {
            torch.float64,
            torch.float32,
            torch.float16,
            torch.bfloat16,
            torch.int64,
            torch.int32,
            torch.int16,
            torch.int8,
            torch.uint8,
            torch.bool,
            torch.complex128,
            torch.complex64,
        }
    )


def _unpack(v: Any, store: Any) -> Any:
    # an int is a code only in a holder the Packer filled (store set); users may set plain ints
    return store[v & 15][v >> 4] if type(v) is int and store is not None else v


class Node:
    """One node of the graph: a value (input, constant, intermediate, output) or an operation.

    Attributes
    ----------
    id : str
        Stable identifier (``"n0"``, ``"n1"``, ...) assigned in forward execution order.
    name : str
        Human name: the argument, parameter or local variable name, or the op name.
    label : str
        Display text. Plain names are escaped for matplotlib (see :func:`plain_text`); op labels
        may be mathtext (``"$\\sigma$"``).
    kind : str
        One of ``"input"``, ``"constant"``, ``"op"``, ``"value"``, ``"output"``.
    value : torch.Tensor or None
        Detached snapshot of the forward value (``None`` for op nodes and unknown values).
    grad : torch.Tensor or None
        Gradient of the seeded outputs with respect to this value (``None`` if none flows, and for
        op nodes).
    shape : tuple of int
        Shape of the value (``()`` for scalars and op nodes).
    op : str or None
        The torch op name for op nodes (``"mul"``, ``"sin"``, ...), ``None`` otherwise.
    dtype : str or None
        The value's dtype as text (``"float64"``), ``None`` for op nodes.
    attrs : dict
        Extra op arguments that are not graph operands (``{"exponent": 2}``, ``{"dim": 0}``) and
        capture details (``"module"``: the ``nn.Module`` path an op ran in, ``"module_call"``: the
        number of that call in ``Graph.module_calls``, ``"parameter"``: True for module
        parameters, ``"saved"``: ids of the values an op's backward reads).
    """

    __slots__ = (
        "_grad",
        "_store",
        "_value",
        "attrs",
        "dtype",
        "id",
        "kind",
        "label",
        "name",
        "op",
        "shape",
    )

    def __init__(
        self,
        id: str,
        name: str,
        label: str,
        kind: str,
        value: Any = None,
        grad: Any = None,
        shape: tuple[int, ...] = (),
        op: str | None = None,
        dtype: str | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.label = label
        self.kind = kind
        self._value = value
        self._grad = grad
        self.shape = shape
        self.op = op
        self.dtype = dtype
        self.attrs: dict[str, Any] = {} if attrs is None else attrs
        self._store: Any = None  # a Packer's store when _value or _grad holds a code

    @property
    def value(self) -> Any:
        return _unpack(self._value, self._store)

    @value.setter
    def value(self, v: Any) -> None:
        if self._store is not None:  # leave the packed world: keep the gradient's number
            self._grad, self._store = self.grad, None
        self._value = v

    @property
    def grad(self) -> Any:
        return _unpack(self._grad, self._store)

    @grad.setter
    def grad(self, g: Any) -> None:
        if self._store is not None:
            self._value, self._store = self.value, None
        self._grad = g

    @property
    def is_op(self) -> bool:
        """True for operation nodes."""
        return self.kind == "op"

    def __repr__(self) -> str:
        extra = f" op={self.op!r}" if self.op else f" shape={self.shape}"
        return f"Node({self.id}, {self.name!r}, kind={self.kind!r}{extra})"


class Edge:
    """A directed edge ``src -> dst`` between node ids.

    ``grad`` is the gradient contribution flowing backward along the edge (``None`` when none
    flows); ``index`` is the operand position for edges into an op (``0`` for op -> value edges,
    the output position for multi-output ops).
    """

    __slots__ = ("_grad", "_store", "dst", "index", "src")

    def __init__(
        self, src: str, dst: str, grad: Any = None, index: int = 0, _store: Any = None
    ) -> None:
        self.src = src
        self.dst = dst
        self._grad = grad
        self.index = index
        self._store: Any = _store  # a Packer's store when _grad holds a code

    @property
    def grad(self) -> Any:
        return _unpack(self._grad, self._store)

    @grad.setter
    def grad(self, g: Any) -> None:
        self._store = None
        self._grad = g

    def __repr__(self) -> str:
        return f"Edge({self.src} -> {self.dst}, index={self.index})"


class _SequentialIds:
    """The position of a node id when the ids are ``n0, n1, ...`` in node order (as a capture
    makes them): ``dict.get``/``in``/``[]`` without a dict of every id."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def get(self, key: Any, default: Any = None) -> Any:
        if type(key) is str and len(key) > 1 and key[0] == "n" and key[1:].isdigit():
            if key[1] != "0" or key == "n0":  # "n07" is no id
                i = int(key[1:])
                if i < self.size:
                    return i
        return default

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None

    def __getitem__(self, key: str) -> int:
        i = self.get(key)
        if i is None:
            raise KeyError(key)
        return i  # type: ignore[no-any-return]


class Graph:
    """An ordered, deterministic computation graph.

    Value nodes and op nodes alternate (value -> op -> value). ``nodes`` is a topological order
    (forward execution order); ``edges`` are sorted by their destination's position, then operand
    index. ``inputs``, ``outputs``, ``backward_order`` and ``parameters`` are given as node ids;
    the keyword fields are what a capture records besides (see the attributes below), each with
    a default for graphs built by hand.
    """

    def __init__(
        self,
        nodes: Iterable[Node] = (),
        edges: Iterable[Edge] = (),
        inputs: Iterable[str] = (),
        outputs: Iterable[str] = (),
        backward_order: Iterable[str] = (),
        parameters: Iterable[str] = (),
        *,
        seeds: Iterable[Any] = (),
        modules: dict[str, str] | None = None,
        module_calls: dict[int, tuple[str, int | None]] | None = None,
        has_backward: bool | None = None,
        rng_state: Any = None,
        _sequential_ids: bool = False,
    ) -> None:
        self.nodes: list[Node] = list(nodes)
        self.edges: list[Edge] = list(edges)
        self._pos: Any = (
            _SequentialIds(len(self.nodes))
            if _sequential_ids
            else {n.id: i for i, n in enumerate(self.nodes)}
        )
        # a plain dict while building: faster than parsing sequential ids, and dropped after
        pos = self._pos
        if not isinstance(pos, dict):
            pos = {n.id: i for i, n in enumerate(self.nodes)}
        at = self.nodes
        self.inputs: dict[str, Node] = {at[pos[i]].name: at[pos[i]] for i in inputs}
        self.parameters: dict[str, Node] = {at[pos[i]].name: at[pos[i]] for i in parameters}
        self.outputs: list[Node] = [at[pos[i]] for i in outputs]
        self.backward_order: list[Node] = [at[pos[i]] for i in backward_order]
        #: the seeds of the backward pass, one per output (``None`` where none was seeded)
        self.seeds: list[Any] = list(seeds)
        # the random generators' state func started from, when captured (check() re-runs func
        # from it, so a dropout mask is the captured one)
        self._rng_state: Any = rng_state
        #: module path -> class name of the nn.Modules whose ops are in the graph ("" is the root
        #: when ``func`` itself is a module); op nodes name their innermost module in
        #: ``attrs["module"]``
        self.modules: dict[str, str] = {} if modules is None else modules
        #: number -> (module path, number of the enclosing call or None) for each nn.Module
        #: call an op ran in (and the calls around those), numbered in call order; op nodes name
        #: the innermost call in ``attrs["module_call"]``. Two calls of one module (a ReLU used
        #: twice) have different numbers.
        self.module_calls: dict[int, tuple[str, int | None]] = (
            {} if module_calls is None else module_calls
        )
        self._has_backward = has_backward
        self._index(pos)

    @property
    def has_backward(self) -> bool:
        """Whether the graph holds a backward pass: as the capture says (``backward=``), or for
        a graph built by hand, whether it has a backward order or any gradient."""
        if self._has_backward is not None:
            return self._has_backward
        return (
            bool(self.backward_order)
            or any(n.grad is not None for n in self.nodes)
            or any(e.grad is not None for e in self.edges)
        )

    @has_backward.setter
    def has_backward(self, flag: bool | None) -> None:
        self._has_backward = None if flag is None else bool(flag)

    def _node_of(self, node_id: str) -> Node:
        return self.nodes[self._pos[node_id]]

    def _node_or_none(self, node_id: str) -> Node | None:
        """The node with id ``node_id`` (never one merely *named* like an id), or None."""
        i = self._pos.get(node_id)
        return None if i is None else self.nodes[i]

    def _index(self, pos: dict[str, int] | None = None) -> None:
        # Per node position: its in- and out-edges as None (no edge), the Edge itself (one) or a
        # list (several). Graphs of many thousands of nodes would otherwise hold two lists and
        # two dict entries per node.
        if pos is None:
            pos = (
                self._pos
                if isinstance(self._pos, dict)
                else {n.id: i for i, n in enumerate(self.nodes)}
            )
        ins: list[Any] = [None] * len(self.nodes)
        outs: list[Any] = [None] * len(self.nodes)
        for e in self.edges:
            for table, i in ((outs, pos[e.src]), (ins, pos[e.dst])):
                held = table[i]
                if held is None:
                    table[i] = e
                elif type(held) is list:
                    held.append(e)
                else:
                    table[i] = [held, e]
        self._in = ins
        self._out = outs
        by_name: dict[str, Any] = {}  # name -> the Node, or a list when several share it
        for n in self.nodes:
            held = by_name.get(n.name)
            if held is None:
                by_name[n.name] = n
            elif type(held) is list:
                held.append(n)
            else:
                by_name[n.name] = [held, n]
        self._by_name = by_name

    def _edges(self, table: list[Any], key: str | Node) -> list[Edge]:
        held = table[self._pos[self._id_of(key)]]
        if held is None:
            return []
        return list(held) if type(held) is list else [held]

    # -- lookup -------------------------------------------------------------------------------
    def node(self, key: str | Node) -> Node:
        """The node with this id or name (see :meth:`__getitem__`)."""
        return self[key]

    def __getitem__(self, key: str | Node) -> Node:
        """The node named ``key`` (value nodes first), or with id ``key``.

        Raises
        ------
        KeyError
            Listing the known names when ``key`` matches no node, or the candidate ids when an op
            name is ambiguous.
        """
        if isinstance(key, Node):
            return key
        if not isinstance(key, str):
            raise KeyError(f"node keys are names or ids (str), got {type(key).__name__}")
        found = self._by_name.get(key)
        if found is not None:
            if type(found) is not list:
                return found  # type: ignore[no-any-return]
            values = [n for n in found if n.kind != "op"]
            if len(values) == 1:
                return values[0]
            if not values and len(found) == 1:
                return found[0]
            pool = values or found
            raise KeyError(
                f"{key!r} names {len(pool)} nodes ({', '.join(n.id for n in pool)}); "
                "look one up by its id instead"
            )
        if key in self._pos:
            return self._node_of(key)
        if valid_text(key) != key:  # names are stored with lone surrogates escaped
            return self[valid_text(key)]
        known = sorted({n.name for n in self.nodes if n.kind != "op" and not n.attrs.get("scalar")})
        raise KeyError(f"no node named {key!r}; known names: {', '.join(known) or '(none)'}")

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        return key in self._by_name or key in self._pos or valid_text(key) in self._by_name

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.nodes)

    def value(self, key: str | Node) -> Any:
        """Forward value of the node ``key`` (a detached tensor), ``None`` for op nodes."""
        return self[key].value

    def grad(self, key: str | Node) -> Any:
        """Gradient of the seeded outputs with respect to node ``key``, ``None`` if none flows."""
        return self[key].grad

    def _id_of(self, key: str | Node) -> str:
        # the structural queries are mostly asked with ids: an id wins over a value whose
        # variable happens to be called "n4"
        if isinstance(key, Node):
            return key.id
        if key in self._pos:
            return key
        return self[key].id

    def in_edges(self, key: str | Node) -> list[Edge]:
        """Edges into the node, in operand order."""
        return self._edges(self._in, key)

    def out_edges(self, key: str | Node) -> list[Edge]:
        """Edges out of the node, in the order their destinations ran."""
        return self._edges(self._out, key)

    def predecessors(self, key: str | Node) -> list[Node]:
        """Source nodes of the in-edges, in operand order (repeats kept)."""
        return [self._node_of(e.src) for e in self._edges(self._in, key)]

    def successors(self, key: str | Node) -> list[Node]:
        """Destination nodes of the out-edges (repeats kept)."""
        return [self._node_of(e.dst) for e in self._edges(self._out, key)]

    @property
    def ops(self) -> list[Node]:
        """The op nodes in forward execution order."""
        return [n for n in self.nodes if n.kind == "op"]

    # -- export -------------------------------------------------------------------------------
    def to_networkx(self) -> nx.MultiDiGraph:
        """A ``networkx.MultiDiGraph`` with every node and edge field as attributes.

        A multigraph, because one value can feed the same op twice (``x * x``). Nodes are added in
        ``self.nodes`` order, edges in ``self.edges`` order.
        """
        import networkx as nx

        g = nx.MultiDiGraph()
        for n in self.nodes:
            g.add_node(
                n.id,
                name=n.name,
                label=n.label,
                kind=n.kind,
                value=n.value,
                grad=n.grad,
                shape=n.shape,
                op=n.op,
                dtype=n.dtype,
                **{k: v for k, v in n.attrs.items() if k not in _RESERVED},
            )
        for e in self.edges:
            g.add_edge(e.src, e.dst, key=e.index, grad=e.grad, index=e.index)
        return g

    def to_dot(self) -> str:
        """DOT source text of the graph (records with name, value and gradient), deterministic."""
        lines = [
            "digraph graphanim {",
            '  graph [rankdir=LR, fontname="Helvetica"];',
            '  node [fontname="Helvetica", fontsize=11];',
        ]
        for n in self.nodes:
            if n.kind == "op":
                attrs = f'label="{_dot_escape(n.op or n.name)}", shape=ellipse'
            else:
                parts = [_dot_escape(n.name)]
                if n.value is not None:
                    parts.append(_dot_escape(format_tensor(n.value)))
                if n.grad is not None:
                    parts.append("grad " + _dot_escape(format_tensor(n.grad)))
                attrs = f'label="{{{" | ".join(parts)}}}", shape=record, kind="{n.kind}"'
            lines.append(f"  {n.id} [{attrs}];")
        for e in self.edges:
            label = f' [label="{_dot_escape(format_tensor(e.grad))}"]' if e.grad is not None else ""
            lines.append(f"  {e.src} -> {e.dst}{label};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        n_ops = sum(1 for n in self.nodes if n.kind == "op")
        return (
            f"<{type(self).__name__}: {len(self.inputs)} inputs, {n_ops} ops, "
            f"{len(self.outputs)} outputs>"
        )


_RESERVED = {"name", "label", "kind", "value", "grad", "shape", "op", "dtype"}


def _dot_escape(text: str) -> str:
    text = _CONTROL.sub("", valid_text(str(text)))
    for ch in '\\"{}|<>':
        text = text.replace(ch, "\\" + ch)
    return text.replace("\n", " ")


def format_number(x: float, digits: int = 4) -> str:
    """A number with ``digits`` significant digits: ``6``, ``0.25``, ``-5.467``, ``nan``."""
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 10**digits:
        return str(int(x))
    return f"{x:.{digits}g}"


def format_tensor(t: Any, digits: int = 4) -> str:
    """Compact text for a value: a scalar number, a small matrix, or shape and min/mean/max."""
    if t is None:
        return ""
    if isinstance(t, (int, float, bool)):
        return format_number(float(t), digits)
    shape = tuple(getattr(t, "shape", ()))
    numel = 1
    for s in shape:
        numel *= s
    try:
        flat = [float(v) for v in t.detach().reshape(-1).tolist()] if numel <= 16 else None
    except (TypeError, ValueError, RuntimeError):
        return f"{type(t).__name__}{list(shape)}"
    if numel == 1 and flat is not None:
        return format_number(flat[0], digits)
    if flat is not None and len(shape) <= 2:
        if len(shape) == 1:
            return "[" + ", ".join(format_number(v, digits) for v in flat) + "]"
        rows = [flat[i * shape[1] : (i + 1) * shape[1]] for i in range(shape[0])]
        return "[" + "; ".join(", ".join(format_number(v, digits) for v in r) for r in rows) + "]"
    if numel == 0:
        return f"{'×'.join(map(str, shape))} (empty)"
    try:
        f = t.detach().double()
        stats = (f.min().item(), f.mean().item(), f.max().item())
    except (TypeError, RuntimeError):
        return "×".join(map(str, shape))
    lo, mean, hi = (format_number(v, 3) for v in stats)
    return f"{'×'.join(map(str, shape))} min {lo} mean {mean} max {hi}"
