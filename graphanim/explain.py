"""The chain rule made explicit: gradients as sums over paths of local derivatives, and checks."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .graph import Graph, Node, format_number, format_tensor
from .ops import op_info

__all__ = [
    "Explanation",
    "Factor",
    "GradCheck",
    "Term",
    "check",
    "explain",
    "local_derivative",
]

#: Paths listed one by one up to this many; above it the explanation groups them by edge.
MAX_PATHS = 12


def _scalar(t: Any) -> float | None:
    if t is None:
        return None
    try:
        if t.numel() != 1:
            return None
        return float(t.detach().reshape(()).item())
    except (AttributeError, RuntimeError, TypeError, ValueError):
        return None


def _d(num: str, den: str) -> str:
    return f"∂{num}/∂{den}"


def _latex_name(name: str) -> str:
    plain = name.replace("\\$", "$")
    out = []
    for ch in plain:
        if ch in "_#%&{}$":
            out.append("\\" + ch)
        elif ch == "\\":
            out.append(r"\backslash ")
        else:
            out.append(ch)
    return r"\mathrm{" + "".join(out) + "}"


# ------------------------------------------------------------------------- local derivatives


def _operand_values(graph: Graph, op: Node) -> list[Any]:
    return [graph[e.src].value for e in graph.in_edges(op.id)]


def local_derivative(graph: Graph, op: Node, operand: int) -> float | None:
    """∂(op output)/∂(operand ``operand``) for scalar values, from the recorded data.

    The recorded backward gives it as (gradient on the operand edge) ÷ (gradient arriving at the
    op's output) when that upstream gradient is nonzero; otherwise the op is differentiated on
    its own with ``torch.autograd.grad`` at the recorded operand values (known ops only).
    Returns ``None`` where neither is possible (tensors, unknown ops).
    """
    outs = graph.successors(op.id)
    in_edges = graph.in_edges(op.id)
    if operand >= len(in_edges) or len(outs) != 1:
        return None
    upstream = _scalar(outs[0].grad)
    edge_grad = in_edges[operand].grad
    # the ratio is exact to rounding unless the upstream is tiny (underflow) or a product overflowed
    if upstream is not None and math.isfinite(upstream) and abs(upstream) >= 1e-150:
        g = _scalar(edge_grad)
        if g is not None and math.isfinite(g) and g != 0.0:
            return g / upstream
        if edge_grad is None:
            return 0.0
    alone = _derivative_alone(graph, op, operand)
    if alone is None and upstream and (g := _scalar(edge_grad)) is not None:
        return g / upstream
    return alone


def _derivative_alone(graph: Graph, op: Node, operand: int) -> float | None:
    import torch

    fn = op_info(op.op).function if op.op else None
    if op.op in ("pow", "pow_") and "exponent" in op.attrs:
        exponent = op.attrs["exponent"]

        def fn(a: Any) -> Any:
            return a**exponent

    values = _operand_values(graph, op)
    if fn is None or any(v is None for v in values):
        return None
    if any(_scalar(v) is None for v in values):
        return None
    leaves = [v.detach().double().clone().requires_grad_(True) for v in values]
    out = fn(*leaves)
    (g,) = torch.autograd.grad(out, [leaves[operand]], allow_unused=True)
    return 0.0 if g is None else float(g)


# ------------------------------------------------------------------------- explanation


@dataclass(frozen=True)
class Factor:
    """One local derivative ∂out/∂inp on a path (``value`` None when it cannot be known)."""

    out: str
    inp: str
    value: float | None
    edge: int  # index into graph.edges of the operand edge

    @property
    def text(self) -> str:
        return _d(self.out, self.inp)


@dataclass(frozen=True)
class Term:
    """A product of factors: one path, or (grouped) one out-edge of the explained node."""

    factors: tuple[Factor, ...]
    seed: float | None = None  # the output's seed, shown when it is not 1
    upstream: float | None = None  # grouped terms: the gradient arriving at the consumer's output
    upstream_name: str | None = None
    paths: int = 1  # how many output-to-node paths the term stands for

    @property
    def value(self) -> float | None:
        total = 1.0 if self.seed is None else self.seed
        if self.upstream is not None:
            total *= self.upstream
        for f in self.factors:
            if f.value is None:
                return None
            total *= f.value
        return total


@dataclass
class Explanation:
    """Why a gradient has its value: ``str()`` for text, LaTeX/Markdown reprs for notebooks.

    ``paths`` holds the terms as data: each a :class:`Term` whose factors are the local
    derivatives along one path from an output to the node (or, when ``grouped``, the gradient at
    a consumer's output times one local derivative, standing for ``Term.paths`` paths).
    """

    node: str
    outputs: list[str]
    total: Any
    paths: list[Term] = field(default_factory=list)
    grouped: bool = False
    path_count: int = 0
    tensor: bool = False
    lines: list[str] = field(default_factory=list)

    @property
    def sum(self) -> float | None:
        """The sum of the listed terms (``None`` if a factor is unknown or for tensors)."""
        if self.tensor:
            return None
        vals = [t.value for t in self.paths]
        if any(v is None for v in vals):
            return None
        return math.fsum(v for v in vals if v is not None)

    def _lhs(self) -> str:
        out = self.outputs[0] if len(self.outputs) == 1 else "L"
        return _d(out, self.node)

    def _symbolic(self, t: Term) -> str:
        parts = []
        if t.upstream_name is not None:
            parts.append(_d(self._out_name(), t.upstream_name))
        parts += [f.text for f in t.factors]
        return "·".join(parts) if parts else "1"

    def _out_name(self) -> str:
        return self.outputs[0] if len(self.outputs) == 1 else "L"

    def _numeric(self, t: Term) -> str:
        nums = []
        if t.seed is not None and t.seed != 1.0:
            nums.append(format_number(t.seed))
        if t.upstream is not None:
            nums.append(format_number(t.upstream))
        nums += ["?" if f.value is None else format_number(f.value) for f in t.factors]
        return "·".join(nums) if nums else "1"

    def __str__(self) -> str:
        if self.lines:
            return "\n".join(self.lines)
        total = format_tensor(self.total) if self.total is not None else "None (no gradient)"
        if not self.paths:
            return f"{self._lhs()} = {total}: no path leads from the outputs to {self.node}"
        symbolic = " + ".join(self._symbolic(t) for t in self.paths)
        numeric = " + ".join(self._numeric(t) for t in self.paths)
        text = f"{self._lhs()} = {symbolic} = {numeric} = {total}"
        if self.grouped:
            text += (
                f"\n({self.path_count} paths lead from the outputs to {self.node}; they are "
                "grouped by the edge they leave it on)"
            )
        return text

    def __repr__(self) -> str:
        return f"<Explanation of {self._lhs()}: {len(self.paths)} terms>"

    def _repr_markdown_(self) -> str:
        return "```\n" + str(self) + "\n```"

    def _repr_latex_(self) -> str:
        if self.lines or not self.paths:
            return "$\\text{" + str(self).replace("\n", " ").replace("$", "\\$") + "}$"

        def frac(a: str, b: str) -> str:
            return rf"\frac{{\partial {_latex_name(a)}}}{{\partial {_latex_name(b)}}}"

        def sym(t: Term) -> str:
            parts = []
            if t.upstream_name is not None:
                parts.append(frac(self._out_name(), t.upstream_name))
            parts += [frac(f.out, f.inp) for f in t.factors]
            return r" \cdot ".join(parts) or "1"

        lhs = frac(self._out_name(), self.node)
        symbolic = " + ".join(sym(t) for t in self.paths)
        numeric = " + ".join(self._numeric(t).replace("·", r" \cdot ") for t in self.paths)
        return f"$${lhs} = {symbolic} = {numeric} = {format_tensor(self.total)}$$"


def _paths_count(graph: Graph, target: str, outputs: set[str]) -> int:
    """Number of output-to-``target`` paths, by dynamic programming in topological order."""
    count: dict[str, int] = {}
    for node in graph.nodes:  # operands come before the ops that read them
        if node.id == target:
            count[node.id] = 1
        else:
            count[node.id] = sum(count.get(e.src, 0) for e in graph.in_edges(node.id))
    return sum(count.get(o, 0) for o in outputs)


def _reaches(graph: Graph, target: str) -> set[str]:
    """Ids of nodes from which ``target`` can be reached backward (its descendants forward)."""
    seen = {target}
    stack = [target]
    while stack:
        nid = stack.pop()
        for e in graph.out_edges(nid):
            if e.dst not in seen:
                seen.add(e.dst)
                stack.append(e.dst)
    return seen


def explain(graph: Graph, key: str | Node, *, max_paths: int = MAX_PATHS) -> Explanation:
    """Explain ``graph.grad(key)`` as the chain rule does: a sum over paths of products.

    Each factor is the local derivative of an op's output with respect to one operand, read from
    the recorded backward pass (edge gradient ÷ upstream gradient) or, when the upstream gradient
    is zero, computed on that op alone. With more than ``max_paths`` paths, the terms are grouped
    by the edge leaving the node (∂out/∂y·∂y/∂x per consumer y). Tensor-valued nodes are
    explained as vector-Jacobian products per consumer, with shapes.

    Raises
    ------
    KeyError
        If ``key`` names no node.
    ValueError
        If ``key`` is an op node, or the graph has no backward pass.
    """
    node = graph[key]
    if node.kind == "op":
        raise ValueError(f"{node.name!r} is an op; explain the gradient of a value node instead")
    if not graph.has_backward or all(n.grad is None for n in graph.outputs):
        raise ValueError("the graph has no backward pass; capture it with backward=True")
    outputs = [o for o in graph.outputs if o.grad is not None]
    out_ids = {o.id for o in outputs}
    out_names = [o.name for o in outputs]
    expl = Explanation(node=node.name, outputs=out_names, total=node.grad)
    if node.shape != () or any(o.shape != () for o in outputs):
        expl.tensor = True
        expl.lines = _tensor_lines(graph, node, out_names)
        return expl
    downstream = _reaches(graph, node.id)
    relevant_outputs = out_ids & downstream
    expl.path_count = _paths_count(graph, node.id, relevant_outputs)
    if expl.path_count <= max_paths:
        expl.paths = _enumerate_paths(graph, node, outputs, downstream)
    else:
        expl.grouped = True
        expl.paths = _grouped_terms(graph, node, downstream)
    return expl


def _enumerate_paths(
    graph: Graph, node: Node, outputs: list[Node], downstream: set[str]
) -> list[Term]:
    terms: list[Term] = []
    edge_index = {id(e): i for i, e in enumerate(graph.edges)}
    seeds = dict(zip((o.id for o in graph.outputs), graph.seeds))
    for out in outputs:
        if out.id not in downstream:
            continue
        # the seed, not out.grad: an output that other ops also read gets more than its seed
        seed = _scalar(seeds[out.id]) if out.id in seeds else _scalar(out.grad)
        # backward search from the output: each step value <- op <- operand value
        stack: list[tuple[str, tuple[Factor, ...]]] = [(out.id, ())]
        while stack:
            nid, factors = stack.pop()
            if nid == node.id:
                terms.append(Term(factors, seed=seed))
                continue
            current = graph[nid]
            for e_op in reversed(graph.in_edges(nid)):
                op = graph[e_op.src]
                if op.kind != "op":
                    continue
                for pos, e in reversed(list(enumerate(graph.in_edges(op.id)))):
                    if e.src not in downstream:
                        continue
                    val = local_derivative(graph, op, pos)
                    f = Factor(current.name, graph[e.src].name, val, edge_index[id(e)])
                    stack.append((e.src, (*factors, f)))
    return terms


def _grouped_terms(graph: Graph, node: Node, downstream: set[str]) -> list[Term]:
    edge_index = {id(e): i for i, e in enumerate(graph.edges)}
    terms: list[Term] = []
    outputs = {o.id for o in graph.outputs}
    for e in graph.out_edges(node.id):
        op = graph[e.dst]
        succ = graph.successors(op.id)
        if len(succ) != 1:
            continue
        y = succ[0]
        if y.grad is None:
            continue
        pos = e.index
        val = local_derivative(graph, op, pos)
        n_paths = _paths_count(graph, y.id, outputs & _reaches(graph, y.id))
        terms.append(
            Term(
                (Factor(y.name, node.name, val, edge_index[id(e)]),),
                upstream=_scalar(y.grad),
                upstream_name=y.name,
                paths=max(n_paths, 1),
            )
        )
    return terms


def _tensor_lines(graph: Graph, node: Node, out_names: list[str]) -> list[str]:
    out = out_names[0] if len(out_names) == 1 else "L"
    shape = "×".join(map(str, node.shape)) or "scalar"
    lines = [f"{_d(out, node.name)} ({shape}) = {format_tensor(node.grad)}"]
    edges = graph.out_edges(node.id)
    if not edges:
        lines.append(f"  {node.name} is an output: its gradient is the seed")
    for e in edges:
        op = graph[e.dst]
        succ = graph.successors(op.id)
        y = succ[0] if succ else None
        if y is None:
            continue
        yshape = "×".join(map(str, y.shape)) or "scalar"
        lines.append(
            f"  + VJP of {op.op} w.r.t. operand {e.index} ({shape}) applied to "
            f"{_d(out, y.name)} ({yshape}) = {format_tensor(e.grad)}"
        )
    if len(edges) > 1:
        lines.append(f"  ({len(edges)} contributions are summed elementwise)")
    return lines


# ------------------------------------------------------------------------- gradient check


@dataclass(frozen=True)
class GradCheck:
    """Finite-difference check of every input's gradient (central differences, float64).

    ``rows``: ``(input, index, autograd, numeric, abs_error)`` per element. ``ok`` is True when
    every element agrees within ``atol + rtol·|numeric|``.
    """

    rows: list[tuple[str, tuple[int, ...], float, float, float]]
    eps: float
    atol: float
    rtol: float

    @property
    def ok(self) -> bool:
        return all(err <= self.atol + self.rtol * abs(num) for _, _, _, num, err in self.rows)

    @property
    def max_error(self) -> float:
        return max((r[4] for r in self.rows), default=0.0)

    def failures(self) -> list[tuple[str, tuple[int, ...], float, float, float]]:
        return [r for r in self.rows if r[4] > self.atol + self.rtol * abs(r[3])]

    def __str__(self) -> str:
        head = f"{'input':<12} {'index':<8} {'autograd':>14} {'numeric':>14} {'abs error':>10}"
        lines = [head, "-" * len(head)]
        for name, idx, a, n, err in self.rows:
            mark = "" if err <= self.atol + self.rtol * abs(n) else "  <-- mismatch"
            index = ",".join(map(str, idx)) or "-"
            lines.append(f"{name:<12} {index:<8} {a:>14.8g} {n:>14.8g} {err:>10.2e}{mark}")
        verdict = "all gradients agree" if self.ok else f"{len(self.failures())} mismatches"
        lines.append(f"eps={self.eps:g}: {verdict} (max abs error {self.max_error:.2e})")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        rows = ["| input | index | autograd | numeric | abs error |", "|---|---|---:|---:|---:|"]
        for name, idx, a, n, err in self.rows:
            rows.append(
                f"| {name} | {','.join(map(str, idx)) or '-'} | {a:.8g} | {n:.8g} | {err:.2e} |"
            )
        return "\n".join(rows)


def check(
    graph: Graph,
    func: Callable[..., Any],
    args: Sequence[Any],
    seeds: Sequence[Any] | None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> GradCheck:
    """Compare every input gradient with central finite differences, re-running ``func``.

    The inputs are perturbed one element at a time in float64 (the function is re-run under
    ``torch.no_grad``); the objective is Σ seed·output over the seeded outputs. Every re-run
    starts from the random state the capture started from (the same dropout mask), and the
    modules it calls get their buffers (BatchNorm's running statistics) back afterwards.
    """
    import torch

    from .capture import forked_rng, modules_kept, set_rng_state

    names = list(graph.inputs)
    base = [a.detach().double().clone() if isinstance(a, torch.Tensor) else a for a in args]
    seed_list = [None if s is None else s.detach().double() for s in (seeds or [])]

    rng = graph._rng_state

    def objective(values: list[Any]) -> float:
        if rng is not None:
            set_rng_state(rng)
        with torch.no_grad():
            result = func(*values)
        outs = list(result) if isinstance(result, (list, tuple)) else [result]
        total = 0.0
        for i, o in enumerate(outs):
            s = seed_list[i] if i < len(seed_list) else None
            if s is None:
                continue
            total += float((o.double() * s).sum())
        return total

    rows: list[tuple[str, tuple[int, ...], float, float, float]] = []
    with forked_rng(), modules_kept():
        tensor_pos = [i for i, a in enumerate(base) if isinstance(a, torch.Tensor)]
        for name, i in zip(names, tensor_pos):
            node = graph.inputs[name]
            if node.kind != "input":
                continue
            x = base[i]
            grad = node.grad
            flat = x.reshape(-1)
            for j in range(flat.numel()):
                orig = float(flat[j])
                flat[j] = orig + eps
                plus = objective(base)
                flat[j] = orig - eps
                minus = objective(base)
                flat[j] = orig
                numeric = (plus - minus) / (2 * eps)
                auto = 0.0 if grad is None else float(grad.reshape(-1)[j])
                idx = tuple(int(v) for v in _unravel(j, tuple(x.shape)))
                rows.append((name, idx, auto, numeric, abs(auto - numeric)))
    return GradCheck(rows, eps, atol, rtol)


def _unravel(j: int, shape: tuple[int, ...]) -> list[int]:
    idx = []
    for s in reversed(shape):
        idx.append(j % s)
        j //= s
    return list(reversed(idx))
