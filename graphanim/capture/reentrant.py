"""Reentrant checkpoints: a backward pass through ``torch.autograd.backward`` with hooks.

``torch.utils.checkpoint.checkpoint(..., use_reentrant=True)`` recomputes its block inside the
backward pass and runs a nested ``torch.autograd.backward`` there, which PyTorch allows only
under ``backward()``, not ``torch.autograd.grad`` (what a capture uses otherwise). A graph
holding one is run with ``backward()``; hooks read the gradients, and every ``.grad`` the pass
accumulates into is put back.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

__all__ = ["REENTRANT_NOTE", "backward_reentrant", "is_reentrant"]


#: What a reentrant checkpoint shows as, and why.
REENTRANT_NOTE = (
    "a reentrant checkpoint recomputes its ops inside the backward pass, out of graphanim's "
    "sight, so the block shows as one node (use_reentrant=False shows its ops)"
)


def is_reentrant(node: Any) -> bool:
    """Is ``node`` the backward of a reentrant ``torch.utils.checkpoint`` block?

    Such a node runs a nested ``torch.autograd.backward`` of its recomputed block, which PyTorch
    allows only inside a ``backward()`` call (not ``torch.autograd.grad``).
    """
    cls = getattr(node, "_forward_cls", None)
    if cls is None:
        return False
    checkpoint = sys.modules.get("torch.utils.checkpoint")
    return checkpoint is not None and cls is getattr(checkpoint, "CheckpointFunction", None)


def backward_reentrant(
    pairs: list[tuple[torch.Tensor, torch.Tensor | None]], wanted: list[Any], blocks: Sequence[Any]
) -> list[Any]:
    """The gradients of ``wanted`` (leaf tensors, value tensors, ``GradientEdge``s) from one
    ``torch.autograd.backward`` call, read by hooks, for graphs with reentrant checkpoints.

    ``backward`` accumulates into ``.grad``: every leaf it may reach (those of ``wanted``, and
    those each checkpointed block reads while it is recomputed, see :class:`_LeafWatch`) has
    its ``.grad`` put back afterwards, and every hook is removed.
    """
    got: list[Any] = [None] * len(wanted)
    kept = _GradKeeper()
    slots: dict[Any, list[tuple[int, int]]] = {}  # node -> (position in wanted, output_nr)
    handles: list[Any] = []
    watches = [_LeafWatch(kept) for _ in blocks]
    try:
        for i, w in enumerate(wanted):
            if isinstance(w, torch.Tensor) and w.grad_fn is None:
                kept.keep(w)
                handles.append(w.register_hook(functools.partial(_put, got, i)))
                continue
            if isinstance(w, torch.Tensor):
                if w.retains_grad:
                    kept.keep(w)
                node, nr = w.grad_fn, w.output_nr
            else:
                node, nr = w.node, w.output_nr
            slots.setdefault(node, []).append((i, nr))
        for node, places in slots.items():
            handles.append(node.register_prehook(functools.partial(_put_slots, got, places)))
        for block, watch in zip(blocks, watches):
            handles.append(block.register_prehook(watch.start))
            handles.append(block.register_hook(watch.stop))
        torch.autograd.backward([t for t, _ in pairs], [s for _, s in pairs])
    finally:
        for h in handles:
            h.remove()
        for watch in watches:
            watch.close()
        kept.restore()
    return got


def _put(got: list[Any], i: int, grad: Any) -> None:
    got[i] = grad


def _put_slots(got: list[Any], places: list[tuple[int, int]], grad_outputs: Any) -> None:
    for i, nr in places:
        got[i] = grad_outputs[nr]


class _GradKeeper:
    """The ``.grad`` of tensors, kept (contents too: accumulation may add in place) to be put
    back by :meth:`restore`."""

    def __init__(self) -> None:
        self.kept: dict[int, tuple[torch.Tensor, Any, Any]] = {}

    def keep(self, t: torch.Tensor) -> None:
        if id(t) not in self.kept:
            old = t.grad
            self.kept[id(t)] = (t, old, None if old is None else old.detach().clone())

    def restore(self) -> None:
        with torch.no_grad():
            for t, old, contents in self.kept.values():
                if old is not None:
                    old.copy_(contents)
                t.grad = old


class _LeafWatch(TorchFunctionMode):
    """While a reentrant checkpoint's backward runs (between :meth:`start` and :meth:`stop`,
    its node's hooks), keeps the ``.grad`` of every leaf its recomputed ops read."""

    def __init__(self, kept: _GradKeeper) -> None:
        super().__init__()
        self.kept = kept
        self.active = False

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        for a in (*args, *kwargs.values()):
            for t in a if isinstance(a, (list, tuple)) else (a,):
                if isinstance(t, torch.Tensor) and t.requires_grad and t.grad_fn is None:
                    self.kept.keep(t)
        return func(*args, **kwargs)

    def start(self, grad_outputs: Any) -> None:
        self.__enter__()
        self.active = True

    def stop(self, grad_inputs: Any, grad_outputs: Any) -> None:
        self.close()

    def close(self) -> None:
        if self.active:
            self.active = False
            self.__exit__(None, None, None)
