"""``build_frames``: the passes of a graph, step by step, as a list of :class:`Frame`."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

from ..graph import Graph
from .backward import backward_steps, backward_title
from .builder import Builder
from .forward import forward_steps, forward_title
from .model import DIRECTIONS, MAX_FRAMES, Frame, FrameCapWarning
from .steps import UNIT_PLURAL, Group, auto_step, cap_groups, check_step, pass_groups

__all__ = ["build_frames"]


def build_frames(
    graph: Graph,
    direction: str = "forward",
    *,
    step: str | None = None,
    layers: Mapping[str, float] | None = None,
    max_frames: int | None = MAX_FRAMES,
) -> list[Frame]:
    """The frames of an animation of ``graph``, as plain data.

    A title frame comes first, then one frame per step (forward: ``graph.ops`` in execution order;
    backward: ``graph.backward_order``, the autograd engine's order), then a hold frame with the
    complete picture. ``"both"`` plays the forward pass, a title for the backward pass, then the
    backward pass. What is shown only grows from frame to frame.

    What each step shows, and how large graphs step through several ops per frame, is
    described in :mod:`graphanim.frames`.

    Parameters
    ----------
    graph : Graph
        The captured graph (values and, for ``"backward"``/``"both"``, gradients recorded).
    direction : {"forward", "backward", "both"}
        Which pass(es) to show.
    step : {None, "op", "layer", "module"}
        What one frame runs. ``None``: ``"op"`` up to :data:`AUTO_OP_LIMIT` (300) ops, above that
        ``"module"`` when ops ran inside modules, else ``"layer"``.
    layers : mapping, optional
        Op id -> layer coordinate (growing along the flow), used by ``step="layer"``; default:
        the longest-path depth of each op from the inputs. :class:`~graphanim.animation.Animation`
        passes the layers of its layout.
    max_frames : int or None, default 500
        Most frames in all (titles and the hold frame included); ``None``: no cap.

    Returns
    -------
    list of Frame

    Raises
    ------
    ValueError
        For an unknown ``direction`` or ``step``, a ``max_frames`` below 5, or a backward
        direction on a graph captured without its backward pass.

    Warns
    -----
    FrameCapWarning
        When the cap makes several steps share a frame (the message names the option to change).

    Examples
    --------
    >>> from graphanim.graph import Edge, Graph, Node
    >>> g = Graph([Node("n0", "a", "a", "input", value=2.0), Node("n1", "neg", "−", "op", op="neg"),
    ...            Node("n2", "b", "b", "output", value=-2.0)],
    ...           [Edge("n0", "n1"), Edge("n1", "n2")], inputs=["n0"], outputs=["n2"])
    >>> [f.phase for f in build_frames(g, "forward")]
    ['title', 'forward', 'hold']
    """

    _check(graph, direction, step, max_frames)
    mode = step or auto_step(graph)
    passes: dict[str, list[Group]] = {}
    if direction in ("forward", "both"):
        passes["forward"] = pass_groups(graph, graph.ops, mode, layers, backward=False)
    if direction in ("backward", "both"):
        passes["backward"] = pass_groups(graph, graph.backward_order, mode, layers, backward=True)
    chunk = _chunk(graph, passes, mode, max_frames)
    b = Builder(graph)
    _cap_passes(b, passes, mode, chunk)
    if "forward" in passes:
        forward_title(b)
        forward_steps(b, passes["forward"])
    if "backward" in passes:
        backward_title(b, after_forward=direction == "both")
        backward_steps(b, passes["backward"])
    b.hold(direction)
    return b.frames


def _check(graph: Graph, direction: Any, step: Any, max_frames: Any) -> None:
    if not isinstance(direction, str) or direction not in DIRECTIONS:
        raise ValueError(
            f"unknown direction {direction!r} (expected one of {', '.join(map(repr, DIRECTIONS))})"
        )
    check_step(step, max_frames)
    if direction != "forward" and not graph.has_backward:
        raise ValueError(
            f"direction {direction!r} needs the backward pass, but this graph was captured "
            "without it; capture with TorchGraph(func, args, backward=True) or use "
            "direction='forward'"
        )


def _chunk(
    graph: Graph, passes: dict[str, list[Group]], mode: str, max_frames: int | None
) -> int:
    """How many steps share a frame so that all frames fit in ``max_frames`` (warns when > 1)."""
    fixed = len(passes) + 1  # a title per pass and the hold frame
    wanted = sum(len(gs) for gs in passes.values())
    chunk = 1
    if max_frames is not None and wanted + fixed > max_frames:
        room = max_frames - fixed
        chunk = max(1, math.ceil(wanted / room))
        while sum(math.ceil(len(gs) / chunk) for gs in passes.values()) > room:
            chunk += 1
        unit = UNIT_PLURAL[mode]
        warnings.warn(
            f"animating {len(graph.ops)} ops one {mode} per frame would take {wanted + fixed} "
            f"frames, more than max_frames={max_frames}: each frame now runs {chunk} consecutive "
            f"{unit} (the caption says which); pass max_frames=None for one {mode} per frame"
            + ("" if mode != "op" else ", or step='layer' or step='module' for fewer steps"),
            FrameCapWarning,
            stacklevel=3,  # the caller of build_frames
        )
    return chunk


def _cap_passes(b: Builder, passes: dict[str, list[Group]], mode: str, chunk: int) -> None:
    """Merge ``chunk`` steps per frame, and say in each pass's title how it steps."""
    for pass_, gs in passes.items():
        n_ops = sum(len(g.ops) for g in gs)
        if mode == "op" and chunk == 1:
            continue
        one = "one module step" if mode == "module" else f"one {mode}"
        per = f"{chunk} {UNIT_PLURAL[mode]}" if chunk > 1 else one
        b.step_line[pass_] = f"({n_ops} ops in {len(gs)} {UNIT_PLURAL[mode]}: {per} per frame)"
        passes[pass_] = cap_groups(gs, chunk)
