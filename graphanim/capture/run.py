"""One capture, phase by phase: forward recording, structure, backward, naming, build."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..graph import Graph
from .backward import Grads, backward_pass
from .build import Builder
from .errors import GraphanimWarning
from .inputs import (
    add_dtype_hint,
    as_input,
    check_call,
    code_of,
    input_names,
    is_compiled,
    outputs_of,
    warn_no_graph,
    warn_opaque,
)
from .naming import Names
from .record import Recorder
from .reentrant import REENTRANT_NOTE
from .state import ModuleState
from .structure import find_structure

__all__ = ["capture", "trace"]


def trace(
    func: Callable[..., Any],
    args: Sequence[Any],
    grad_outputs: Any = None,
    *,
    names: Sequence[str] | None = None,
    backward: bool = True,
) -> Graph:
    """Run ``func(*args)`` once and return its computation graph (see ``TorchGraph``)."""
    return Graph(**capture(func, args, grad_outputs, names=names, backward=backward))


def capture(
    func: Callable[..., Any],
    args: Sequence[Any],
    grad_outputs: Any = None,
    *,
    names: Sequence[str] | None = None,
    backward: bool = True,
) -> dict[str, Any]:
    """Run ``func(*args)`` once; the keyword arguments of its :class:`~graphanim.graph.Graph`
    (what a ``TorchGraph`` is made from).

    The modules ``func`` calls get back the buffers it changed in place, and the caller's random
    generators are left where they were (see :mod:`graphanim.capture.state`).
    """
    # Capturing allocates many small objects that live as long as the graph; the cyclic garbage
    # collector would rescan them again and again (a third of the time on a 20,000-op chain).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    modules = ModuleState()
    try:
        return _capture(func, args, grad_outputs, names, backward, modules)
    finally:
        modules.restore()
        if gc_was_enabled:
            gc.enable()


def _capture(
    func: Callable[..., Any],
    args: Sequence[Any],
    grad_outputs: Any,
    names: Sequence[str] | None,
    backward: bool,
    modules: ModuleState,
) -> dict[str, Any]:
    check_call(func, args)
    in_names = input_names(func, len(args), names)
    wrapped = [as_input(a, nm) for a, nm in zip(args, in_names)]
    rec = _forward(func, args, wrapped, modules)
    outs, out_names = outputs_of(rec.result, func)
    out_keys = [rec.see(t) for t in outs]
    found = find_structure(rec, outs, out_keys)
    rec.warn_stale()
    rec.settle()
    warn_no_graph(outs)
    if found.reentrant:
        warnings.warn(
            f"{len(found.reentrant)} block(s) run under torch.utils.checkpoint with "
            f"use_reentrant=True: {REENTRANT_NOTE}",
            GraphanimWarning,
            stacklevel=4,
        )
    seeds: list[torch.Tensor | None] = [None] * len(outs)
    grads = Grads()
    if backward:
        seeds, grads = backward_pass(found, outs, grad_outputs)
    build = Builder(rec, Names(func, wrapped, in_names, rec, list(zip(out_names, out_keys))),
                    grads, backward)
    input_ids = build.add_inputs(wrapped, in_names)
    for call in found.calls:
        build.add_call(call)
    output_ids = build.add_outputs(out_keys)
    backward_ids = build.backward_ids(found.owner) if backward else []
    fields = build.fields(input_ids, output_ids, backward_ids)
    fields["seeds"] = seeds
    fields["rng_state"] = rec.rng
    return fields


def _forward(func: Any, args: Sequence[Any], wrapped: list[Any], modules: ModuleState) -> Recorder:
    """Run ``func(*wrapped)`` once inside a :class:`Recorder`; the recorder, holding the result."""
    compiled = is_compiled(func)
    warn_opaque(func, compiled)
    rec = Recorder(modules, code_of(func), mode=not compiled)
    try:
        with rec:
            rec.result = func(*wrapped)
    except RuntimeError as err:
        add_dtype_hint(err, args, wrapped)
        raise
    return rec
