"""One ``render``: the ``--at`` values read, the graph captured from an expression or a file,
the picture or animation written."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io import (
    FFmpegError,
    FFmpegNotFoundError,
    allow_overwrite,
)
from .language import (
    CONSTANTS,
    FUNCTIONS,
    MAX_INPUTS,
    MAX_TOTAL_ELEMENTS,
)
from .messages import (
    RunError,
    UsageError,
    one_line,
    shorten,
    warn,
)
from .output import (
    check_dot,
    check_output,
)
from .userfile import (
    capture_file,
)
from .values import check_name, parse_value, seed_tensors, shape_of

__all__ = [
    "capture_expression",
    "join_lists",
    "render",
]


_PAIR_RE = re.compile(r"\s*([^\s=\[\](){}<>!*+\-/%@,.:'\"]+)\s*=(?!=)(.*)\Z", re.DOTALL)
_FILE_SPEC_RE = re.compile(r"(?P<path>.+\.py)(?::(?P<func>.*))?\Z", re.DOTALL)



def render(args: argparse.Namespace) -> str:
    """Run one ``render`` command; returns the path written, as the user gave it.

    The output is checked first (nothing else runs when it cannot be written), then the
    values are read, the graph captured, and the file written to its absolute path.
    """
    target, pairs = _split_at(args.target, args.at or [])
    target = target.strip()

    # ---- the output first: nothing else runs when it cannot be written ----------------------
    out, shown, direction = check_output(args.output, args.direction, args.fps, args.force)
    if args.layout == "dot":
        check_dot()

    # ---- the inputs -------------------------------------------------------------------------
    spec = _FILE_SPEC_RE.match(target)
    is_file = spec is not None
    reserved = () if is_file else (*FUNCTIONS, *CONSTANTS)
    values = _parse_pairs(pairs, reserved)
    seeds = None
    if args.grad_output is not None:
        seeds = [parse_value(v, "--grad-output") for v in join_lists(args.grad_output)]
    backward = direction != "forward" or seeds is not None

    # ---- the graph --------------------------------------------------------------------------
    if spec is not None:
        graph = capture_file(spec.group("path"), spec.group("func"), values, seeds, backward)
    else:
        graph = capture_expression(target, values, seeds, backward)

    # ---- the file (its absolute path: the user's function may have changed directory) -------
    try:
        with allow_overwrite(args.force):
            _write(graph, out, direction, args)
    except FFmpegNotFoundError as err:  # checked above; kept for a check that fails later
        raise UsageError(str(err)) from err
    except (OSError, FFmpegError) as err:
        raise RunError(f"cannot write {shown!r}: {one_line(err)}") from err
    return shown


def _write(graph: Any, out: Path, direction: str, args: argparse.Namespace) -> None:
    """Draw or animate ``graph`` into ``out`` with the options of the command line."""
    if direction == "none":
        graph.save(
            out, with_all=True, theme=args.theme, layout=args.layout, dpi=args.dpi,
            depth=args.depth,
        )
        return
    kwargs: dict[str, Any] = {"theme": args.theme, "layout": args.layout, "depth": args.depth}
    if args.fps is not None:
        kwargs["fps"] = args.fps
    if args.dpi is not None:
        kwargs["dpi"] = args.dpi
    graph.animate(direction, **kwargs).save(out, player=args.player)


def join_lists(tokens: Sequence[str]) -> list[str]:
    """Join the pieces of a bracketed list that the shell split at spaces (``x=[1,`` ``2]``)."""
    out: list[str] = []
    group: list[str] = []  # the pieces of one value, joined once (no quadratic string growth)
    depth = 0
    for tok in tokens:
        group.append(tok)
        depth += tok.count("[") - tok.count("]")
        if depth <= 0:
            out.append(" ".join(group))
            group, depth = [], 0
    if group:  # a list still open at the end is reported by parse_value (missing ']')
        out.append(" ".join(group))
    return out


def _split_at(target: str | None, tokens: Sequence[str]) -> tuple[str, list[tuple[str, str]]]:
    """Group ``--at`` tokens into ``(name, value)`` pairs.

    A list value split by the shell (``--at x=[1, 2]`` unquoted) is joined back, and a single
    token that is not a pair is taken as TARGET when TARGET is missing (``--at`` takes every token
    after it, so ``render --at x=2 "sin(x)"`` puts the expression there).
    """
    pairs: list[tuple[str, str]] = []
    others: list[str] = []
    for tok in join_lists(tokens):
        m = _PAIR_RE.match(tok)
        if m is None:
            others.append(tok.strip())
        else:
            pairs.append((m.group(1), m.group(2)))
    if target is None and len(others) == 1:
        target = others.pop()
    if others:
        raise UsageError(f"--at takes NAME=VALUE pairs, got {shorten(others[0])!r}")
    if target is None:
        raise UsageError(
            "missing TARGET: give an expression or FILE.py:FUNC, e.g. graphanim render "
            '"sin(a*x + c)" --at x=2 a=3 c=4'
        )
    return target, pairs

def _parse_pairs(pairs: Sequence[tuple[str, str]], reserved: Sequence[str]) -> dict[str, Any]:
    if len(pairs) > MAX_INPUTS:
        raise UsageError(f"--at: too many names ({len(pairs)}; limit {MAX_INPUTS})")
    values: dict[str, Any] = {}
    given: dict[str, str] = {}
    total = 0
    for raw_name, raw_value in pairs:
        name = check_name(raw_name, reserved)
        if name in values:
            raise UsageError(
                f"--at {name} given twice ({given[name]} and "
                f"{shorten(f'{raw_name}={raw_value.strip()}')}); "
                "give each name once"
            )
        values[name] = parse_value(raw_value, f"--at {name}")
        given[name] = shorten(f"{raw_name}={raw_value.strip()}")
        total += _numel(shape_of(values[name]))
        if total > MAX_TOTAL_ELEMENTS:
            raise UsageError(
                f"--at: too many numbers in all ({total:,} up to {name}; limit "
                f"{MAX_TOTAL_ELEMENTS:,})"
            )
    return values


def capture_expression(
    text: str, values: dict[str, Any], seeds: list[Any] | None, backward: bool
) -> Any:
    """The graph of the expression ``text`` at ``values``: a ``TorchGraph``.

    The expression is checked and its output shapes worked out first; ``seeds`` (one per
    output, from ``--grad-output``) must fit them, and without seeds a non-scalar output is
    refused when the backward pass is drawn.

    Raises
    ------
    UsageError
        For no values, or seeds that do not fit the outputs.
    ExprError
        For an expression the language refuses.
    """
    from .expression import compile_expression

    if not values:
        raise UsageError(f"no --at values: give a value for each name in {text!r}, e.g. --at x=2")
    compiled = compile_expression(text, values)
    for name in compiled.unused:
        warn(f"--at {name} is not used in the expression; skipped")
    shapes = compiled.output_shapes
    if seeds is not None:
        if len(seeds) != len(shapes):
            raise UsageError(
                f"--grad-output has {len(seeds)} value{'s' if len(seeds) != 1 else ''} but the "
                f"expression has {len(shapes)} output{'s' if len(shapes) != 1 else ''}; give one "
                "per output"
            )
        for i, (seed, shape) in enumerate(zip(seeds, shapes, strict=True)):
            sshape = shape_of(seed, "--grad-output")
            if sshape != shape and _numel(sshape) != 1:
                which = f"value {i + 1} " if len(shapes) > 1 else ""
                raise UsageError(
                    f"--grad-output {which}has shape {sshape} but output "
                    f"{compiled.expression.outputs[i]!r} has shape {shape}; the seed must match "
                    "(or be one number)"
                )
    elif backward:
        for src, shape in zip(compiled.expression.outputs, shapes, strict=True):
            if _numel(shape) != 1:
                raise UsageError(
                    f"{src!r} has shape {shape}, not a single number, so the backward pass needs "
                    f"a seed: --grad-output 1 (every element seeded with 1) or a list of that "
                    f"shape; or reduce it, e.g. sum({src})"
                )

    from .. import TorchGraph

    return TorchGraph(
        compiled.func,
        list(compiled.args),
        None if seeds is None else seed_tensors(seeds),
        names=list(compiled.names),
        backward=backward,
    )


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
