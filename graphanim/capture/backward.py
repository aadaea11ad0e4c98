"""The backward pass: one run from the seeded outputs, read per value and per edge."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .inputs import seeds_for
from .record import Call, Key, key_of
from .reentrant import backward_reentrant
from .structure import Structure

__all__ = [
    "HOOK_EVERY_NODE",
    "Grads",
    "backward_pass",
    "operand_grads",
    "read_saved",
    "run_backward",
]


def _edge_inputs_supported() -> bool:
    """Does ``torch.autograd.grad`` take ``GradientEdge`` inputs (torch >= 2.2)?"""
    edge_type = getattr(torch.autograd.graph, "GradientEdge", None)
    if edge_type is None:
        return False
    try:
        x = torch.ones((), requires_grad=True)
        y = x * 2
        (g,) = torch.autograd.grad(y * 3, [edge_type(y.grad_fn, 0)])
    except (TypeError, RuntimeError):
        return False
    return float(g) == 3.0


#: Read per-edge gradients and the backward order from hooks on every autograd node (the slow
#: path, and the only one before torch 2.2), instead of one capture of every value's gradient.
HOOK_EVERY_NODE = not _edge_inputs_supported()


@dataclass
class Grads:
    """What the backward pass gave."""

    value: dict[Key, Any] = field(default_factory=dict)  # (node, nr) slot -> its summed gradient
    leaf: dict[int, Any] = field(default_factory=dict)  # id(leaf tensor) -> its gradient
    slot: dict[Any, Any] = field(default_factory=dict)  # (node, nr) edge target -> gradient
    fired: dict[Any, tuple[Any, Any]] = field(default_factory=dict)  # hooked node -> (in, out)
    order: list[Any] = field(default_factory=list)  # autograd nodes in the order they ran
    nexts: dict[Any, tuple[Any, ...]] = field(default_factory=dict)  # node -> next_functions
    leaf_key: dict[Any, Key] = field(default_factory=dict)  # AccumulateGrad node -> leaf's key


def backward_pass(
    found: Structure, outs: list[torch.Tensor], grad_outputs: Any
) -> tuple[list[torch.Tensor | None], Grads]:
    """The seeds (one per output) and what one backward pass from them gives."""
    seeds, implicit = seeds_for(grad_outputs, outs)
    read_saved(found.calls)  # before backward frees them
    # an implicit seed goes to autograd as None: it makes the same ones itself, and a given
    # tensor makes torch import its symbolic-shape checks (sympy: 0.3 s in a new process)
    pairs = [
        (t, None if imp else s)
        for t, s, imp in zip(outs, seeds, implicit)
        if s is not None and t.requires_grad
    ]
    return seeds, run_backward(pairs, found) if pairs else Grads()


def run_backward(pairs: list[tuple[torch.Tensor, torch.Tensor | None]], found: Structure) -> Grads:
    """One backward pass from the seeded outputs: every value's gradient, and every edge's.

    One ``torch.autograd.grad`` call captures the gradient of every recorded value (a tensor, or
    a ``GradientEdge`` where the tensor no longer stands for it) and of every leaf. A value read
    by exactly one autograd edge gets all its gradient from that edge, so edge gradients need no
    more. Only ops whose autograd nodes send gradient into a value that is read more than once
    (``x * x``, a value used by two ops) get hooks on their nodes, to split the sum per edge. The
    order the engine ran the nodes in follows from the graph (see :func:`_engine_order`).
    A graph holding reentrant checkpoints is run by :func:`backward_reentrant` instead.
    """
    out = Grads()
    out.nexts = found.nexts
    leaves = _leaves(found.accs, pairs, out)
    if HOOK_EVERY_NODE:
        hooked: list[Any] = list(found.reach)
        slots: list[Key] = []
        inputs: list[Any] = []
    else:
        hooked = _hooked(pairs, found)
        slots, inputs = _value_slots(found.calls)
    got = _run_hooked(pairs, leaves + inputs, hooked, found.reentrant, out)
    n = len(leaves)
    for t, g in zip(leaves, got[:n]):
        out.leaf[id(t)] = _plain(g)
    if HOOK_EVERY_NODE:
        for node, (_, grad_outputs) in out.fired.items():
            for nr, g in enumerate(grad_outputs):
                out.value[(node, nr)] = _plain(g)
        return out
    # (a gradient that still requires grad, from a custom backward that enabled grad, is
    # detached when it is packed into the graph)
    out.value = dict(zip(slots, got[n:]))
    # the gradient arriving at an edge's target: a value's slot, or a leaf's AccumulateGrad
    slot = out.slot = out.value.copy()
    for acc in found.accs:
        slot[(acc, 0)] = out.leaf.get(id(acc.variable))
    out.order.clear()
    out.order.extend(
        _engine_order([t.grad_fn for t, _ in pairs], found.reach, found.uses, found.nexts)
    )
    return out


def _leaves(
    accs: list[Any], pairs: list[tuple[torch.Tensor, torch.Tensor | None]], out: Grads
) -> list[torch.Tensor]:
    """The leaf tensors of the AccumulateGrad nodes (each once), or the outputs that are leaves."""
    leaves: list[torch.Tensor] = []
    ids: set[int] = set()
    for acc in accs:
        t = acc.variable
        out.leaf_key[acc] = ("leaf", id(t))
        if id(t) not in ids:
            ids.add(id(t))
            leaves.append(t)
    return leaves or [t for t, _ in pairs if t.grad_fn is None]


def _hooked(pairs: list[tuple[torch.Tensor, torch.Tensor | None]], found: Structure) -> list[Any]:
    """The autograd nodes that send gradient into a value read more than once (or seeded):
    their hooks split that value's gradient per edge."""
    nexts, uses = found.nexts, found.uses
    hooked: list[Any] = []
    seeded: dict[Any, int] = {}  # an output's seed is one more gradient into its slot
    for t, _ in pairs:
        if t.grad_fn is not None:
            e = (t.grad_fn, t.output_nr)
            seeded[e] = seeded.get(e, 0) + 1
    for call in found.calls:
        internal = call.internal
        if len(internal) == 1:
            for e in nexts[internal[0]]:
                if e[0] is not None and (uses[e] > 1 or e in seeded):
                    hooked.append(internal[0])
                    break
        elif any(
            uses[e] + seeded.get(e, 0) > 1
            for node in internal
            for e in nexts[node]
            if e[0] is not None and e[0] not in internal
        ):
            hooked.extend(internal)
    return hooked


def _value_slots(calls: list[Call]) -> tuple[list[Key], list[Any]]:
    """Every recorded value's slot, and what to ask autograd for to get its gradient: the
    tensor, or a ``GradientEdge`` where an in-place op gave the tensor a new ``grad_fn``."""
    slots: list[Key] = []
    inputs: list[Any] = []
    edge_type = torch.autograd.graph.GradientEdge
    for call in calls:
        tensors = call.tensors
        made = call.outputs
        slots.extend(made)
        for i, k in enumerate(made):
            t = tensors[i] if i < len(tensors) else None
            inputs.append(t if t is not None and t.grad_fn is k[0] else edge_type(*k))
    return slots, inputs


def _run_hooked(
    pairs: list[tuple[torch.Tensor, torch.Tensor | None]],
    wanted: list[Any],
    hooked: list[Any],
    reentrant: list[Any],
    out: Grads,
) -> Sequence[Any]:
    """Run the backward pass with hooks on ``hooked`` (recording into ``out.fired`` and
    ``out.order``); the gradients of ``wanted``."""
    fired = out.fired
    order = out.order

    def hook_for(node: Any) -> Callable[..., None]:
        def hook(grad_inputs: Any, grad_outputs: Any) -> None:
            if node not in fired:
                order.append(node)
            fired[node] = (grad_inputs, grad_outputs)

        return hook

    handles = []
    try:
        for node in hooked:
            handles.append(node.register_hook(hook_for(node)))
        if reentrant:
            return backward_reentrant(pairs, wanted, reentrant)
        if not wanted:
            return ()
        return torch.autograd.grad(
            [t for t, _ in pairs],
            wanted,
            grad_outputs=[s for _, s in pairs],
            allow_unused=True,
        )
    finally:
        for h in handles:
            h.remove()


def _engine_order(
    roots: list[Any],
    reach: list[Any],
    uses: dict[Any, int],
    nexts: dict[Any, tuple[Any, ...]],
) -> list[Any]:
    """The order PyTorch's engine runs ``reach``'s nodes in a backward pass from ``roots``.

    The engine runs a node once every edge into it has delivered its gradient, and of the ready
    nodes always the one created last (highest sequence number; see ``CompareNodeTaskTime`` in
    torch/csrc/autograd/engine.cpp). On one device this order is exact; tests compare it with
    hooks. A node with no edge out is not run (it sends no gradient anywhere).
    """
    pending: dict[Any, int] = {}
    for (node, _), n in uses.items():
        pending[node] = pending.get(node, 0) + n
    ready: list[tuple[int, int, Any]] = []
    rank = {node: i for i, node in enumerate(reach)}
    for r in dict.fromkeys(roots):
        if r is not None and r in rank and not pending.get(r):
            ready.append((-r._sequence_nr(), rank[r], r))
    heapq.heapify(ready)
    order: list[Any] = []
    while ready:
        _, _, node = heapq.heappop(ready)
        runs = False
        for nxt, _ in nexts[node]:
            if nxt is None:
                continue
            runs = True
            left = pending[nxt] - 1
            pending[nxt] = left
            if left == 0 and nxt in rank:
                heapq.heappush(ready, (-nxt._sequence_nr(), rank[nxt], nxt))
        if runs:
            order.append(node)
    return order


_SAVED_ATTRS: dict[type, tuple[str, ...]] = {}


def _saved_attrs(node: Any) -> tuple[str, ...]:
    names = _SAVED_ATTRS.get(type(node))
    if names is None:
        names = tuple(
            a
            for a in dir(node)
            if a.startswith("_saved_") and not a.endswith(("_sizes", "_strides", "_size"))
        )
        _SAVED_ATTRS[type(node)] = names
    return names


_HAS_SAVED_TENSORS: dict[type, bool] = {}


def read_saved(calls: list[Call]) -> None:
    """Record, per op, which of its operands and outputs autograd saved for its backward."""
    tensor_type = torch.Tensor
    for call in calls:
        values: list[Any] = []
        for node in call.internal:
            cls = type(node)
            names = _SAVED_ATTRS.get(cls)
            if names is None:
                names = _saved_attrs(node)
            for attr in names:
                try:
                    v = getattr(node, attr)
                except RuntimeError:  # freed, or not materialised
                    continue
                if v is not None:
                    values.append(v)
            has = _HAS_SAVED_TENSORS.get(cls)
            if has is None:  # a custom Function's ctx.save_for_backward
                has = _HAS_SAVED_TENSORS[cls] = hasattr(node, "saved_tensors")
            if has:
                try:
                    values.extend(node.saved_tensors)
                except RuntimeError:
                    pass
        if not values:
            continue
        order = [k for kind, k in call.operands if kind == "t"]
        order.extend(call.outputs)
        found: list[Key] = []
        for v in values:
            many = v if isinstance(v, (list, tuple)) else ()
            for t in (v,) if isinstance(v, tensor_type) else many:
                if isinstance(t, tensor_type):
                    k = key_of(t)
                    if k in order and k not in found:
                        found.append(k)
        if len(found) > 1:
            found.sort(key=order.index)
        if found:
            call.saved = found


def operand_grads(call: Call, grads: Grads) -> list[Any] | None:
    """Gradient flowing into each operand position of ``call`` (``None`` where none does, and
    for Python-number operands), or ``None`` when no backward pass ran.

    The autograd nodes the op created (``call.internal``) hand gradients to nodes outside it; each
    such crossing is matched to the next unmatched operand position holding that value. A value
    used in several positions (``x * x``) gets one crossing per position, in order; crossings
    beyond the positions (the op's internals read the value more often) add to the first one.
    A node without hooks (see :func:`run_backward`) sends each edge the whole gradient of the value
    it leads to.
    """
    nexts = grads.nexts
    if not nexts:  # no backward pass ran
        return None
    internal = call.internal
    operands = call.operands
    n = len(operands)
    slot = grads.slot
    leaf_key = grads.leaf_key
    fired = grads.fired
    out: list[Any] = [_NO_GRAD] * n
    single = len(internal) == 1
    from_hooks = False
    for node in internal:
        f = fired.get(node)
        grads_in = None if f is None else f[0]
        n_in = 0 if grads_in is None else len(grads_in)
        from_hooks = from_hooks or f is not None
        for i, e in enumerate(nexts[node]):
            nxt = e[0]
            if nxt is None or (not single and nxt in internal):
                continue
            key: Key = leaf_key.get(nxt, e)
            if grads_in is None:
                g = slot.get(e)
            else:
                g = grads_in[i] if i < n_in else None
            first = -1
            for pos, (kind, k) in enumerate(operands):
                if kind == "t" and k == key:
                    if out[pos] is _NO_GRAD:
                        out[pos] = g
                        first = -2
                        break
                    if first == -1:
                        first = pos
            if first >= 0 and g is not None:  # more crossings than positions: sum them
                prev = out[first]
                out[first] = g if prev is None else prev + g
    for pos, g in enumerate(out):
        if g is _NO_GRAD:
            out[pos] = None
        elif from_hooks and g is not None and g.requires_grad:
            out[pos] = g.detach()
    return out


_NO_GRAD = object()  # an operand position no crossing has reached yet


def _plain(g: torch.Tensor | None) -> torch.Tensor | None:
    if g is None or not g.requires_grad:
        return g
    return g.detach()
