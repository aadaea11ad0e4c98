"""The autograd side of the forward pass: which autograd nodes each recorded call made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .. import functions
from ..graph import plain_text, valid_text
from .record import Call, Key, Recorder
from .reentrant import REENTRANT_NOTE, is_reentrant

__all__ = ["ACCUMULATE", "Structure", "find_structure", "walk"]


class _AccumulateTypes(dict):  # type: ignore[type-arg]
    """``type(node) in ACCUMULATE``: is this autograd node an AccumulateGrad (a leaf)?

    A per-type cache: ``hasattr(node, "variable")`` raises and catches an AttributeError inside
    for every other node, which costs more than the rest of the walk.
    """

    def __contains__(self, cls: object) -> bool:
        try:
            return bool(dict.__getitem__(self, cls))
        except KeyError:
            is_acc = getattr(cls, "__name__", "") == "AccumulateGrad"
            self[cls] = is_acc
            return is_acc


ACCUMULATE = _AccumulateTypes()


def walk(
    roots: list[Any],
) -> tuple[list[Any], list[Any], dict[Any, int], dict[Any, tuple[Any, ...]]]:
    """Every autograd node reachable from ``roots`` (each once, iteratively), the AccumulateGrad
    nodes of the leaves, how many edges lead to each ``(node, output_nr)`` slot, and each
    node's ``next_functions`` (read once: every read builds new tuples).

    The caller keeps the returned nodes alive while it uses the slots as keys: a node's Python
    object is only reused while someone holds it.
    """
    seen: set[Any] = set()
    order: list[Any] = []
    accs: list[Any] = []
    uses: dict[Any, int] = {}
    nexts: dict[Any, tuple[Any, ...]] = {}
    stack = [r for r in reversed(roots) if r is not None]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if type(node) in ACCUMULATE:  # AccumulateGrad: a leaf that requires grad
            accs.append(node)
            continue
        order.append(node)
        edges = nexts[node] = node.next_functions
        for e in edges:
            if e[0] is not None:
                uses[e] = uses.get(e, 0) + 1
        for nxt, _ in reversed(edges):
            if nxt is not None and nxt not in seen:
                stack.append(nxt)
    return order, accs, uses, nexts


def _node_op_name(node: Any) -> tuple[str, str, dict[str, Any]]:
    """(op, label, attrs) for an autograd node no recorded call owns."""
    cls = getattr(node, "_forward_cls", None)
    if cls is not None:
        label = functions.function_label(cls)
        return valid_text(cls.__name__), label, {"function": valid_text(cls.__qualname__)}
    name = node.name()
    base = name
    for suffix in ("Backward0", "Backward1", "Backward2", "Backward"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    # MulBackward0 -> mul, CopySlices -> copy_slices, CompiledFunctionBackward -> compiled_function
    op = "".join("_" + c.lower() if c.isupper() else c for c in (base or name)).lstrip("_")
    return op, plain_text(op), {"autograd": name}


@dataclass
class Structure:
    """What the outputs depend on: the recorded calls in the order autograd created them, each
    with the autograd nodes it made, and the autograd graph as :func:`walk` reads it."""

    calls: list[Call]
    reach: list[Any]  # every autograd node reachable from the outputs
    accs: list[Any]  # their AccumulateGrad nodes (the leaves)
    uses: dict[Any, int]  # (node, output_nr) -> how many edges read it
    nexts: dict[Any, tuple[Any, ...]]  # node -> its next_functions
    owner: dict[Any, Call] = field(default_factory=dict)  # autograd node -> the call that made it
    reentrant: list[Any] = field(default_factory=list)  # nodes of reentrant checkpoints


def find_structure(rec: Recorder, outs: list[torch.Tensor], out_keys: list[Key]) -> Structure:
    """The recorded calls the outputs depend on, each with the autograd nodes it made; autograd
    nodes no call explains become calls of their own (see :func:`_add_orphans`)."""
    reach, accs, uses, nexts = walk([t.grad_fn for t in outs])
    found = Structure(rec.reached(nexts), reach, accs, uses, nexts)
    _assign_nodes(found)
    if _add_orphans(found, rec):
        _orphan_outputs(found.calls, out_keys)
    for call in found.calls:
        made = call.outputs
        call.seq = (
            made[0][0]._sequence_nr()
            if len(made) == 1
            else max(k[0]._sequence_nr() for k in made)
        )
    found.calls.sort(key=lambda c: c.seq)
    return found


def _assign_nodes(found: Structure) -> None:
    """Give each call the autograd nodes it made (``call.internal``): from its outputs' nodes
    back to its operands' (the boundary), never into another call's."""
    owner, nexts = found.owner, found.nexts
    for call in found.calls:
        for k in call.outputs:
            owner.setdefault(k[0], call)
    for call in found.calls:
        internal: list[Any] = []
        call.internal = internal
        boundary: set[Any] | None = None
        stack = [k[0] for k in call.outputs]
        while stack:
            node = stack.pop()
            if owner.get(node, call) is not call or node in internal or node not in nexts:
                continue
            owner[node] = call
            internal.append(node)
            for nxt, _ in nexts[node]:
                if nxt is None:
                    continue
                by = owner.get(nxt)
                if by is not None:
                    if by is call and nxt not in internal:
                        stack.append(nxt)  # another node making one of this call's outputs
                    continue
                if type(nxt) in ACCUMULATE:
                    continue
                if boundary is None:
                    boundary = {k[0] for kind, k in call.operands if kind == "t"}
                if nxt not in boundary:
                    stack.append(nxt)


def _add_orphans(found: Structure, rec: Recorder) -> bool:
    """A call for each autograd node no recorded call explains (an undecorated custom
    Function, CopySlices, a reentrant checkpoint, ...); whether there was any."""
    orphans = False
    for node in found.reach:
        if node in found.owner:
            continue
        orphans = True
        op, label, attrs = _node_op_name(node)
        if is_reentrant(node):
            attrs["note"] = REENTRANT_NOTE
            found.reentrant.append(node)
        operands: list[tuple[str, Any]] = []
        for nxt, nr in found.nexts[node]:
            if nxt is None:
                continue
            if type(nxt) in ACCUMULATE:
                operands.append(("t", rec.see(nxt.variable)))
            else:
                operands.append(("t", (nxt, nr)))
        call = Call(op, label, operands, [], attrs)
        call.internal = [node]
        found.owner[node] = call
        found.calls.append(call)
    return orphans


def _orphan_outputs(calls: list[Call], out_keys: list[Key]) -> None:
    """The outputs of orphan calls: whichever of their node's output positions something
    reads (an op or the function's outputs)."""
    used: dict[Any, set[int]] = {}
    for call in calls:
        for kind, k in call.operands:
            if kind == "t" and not isinstance(k[0], str):
                used.setdefault(k[0], set()).add(k[1])
    for k in out_keys:
        if not isinstance(k[0], str):
            used.setdefault(k[0], set()).add(k[1])
    for call in calls:
        if not call.outputs:
            node = call.internal[0]
            call.outputs = [(node, nr) for nr in sorted(used.get(node, {0}))]
