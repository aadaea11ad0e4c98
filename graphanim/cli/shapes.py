"""Shapes by torch's rules (broadcasting, ``matmul``, reductions), worked out from the input
shapes alone before the real run, so a huge or ill-fitting expression is refused first."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .language import (
    CMPOPS,
    MAX_ELEMENTS,
    MAX_TOTAL_ELEMENTS,
    REDUCTIONS,
    UNARY,
    Apply,
    Const,
    ExprError,
    Input,
    Plan,
    quoted,
)

__all__ = [
    "ShapeInfo",
    "infer_shape",
    "uses_input",
]


def uses_input(plan: Plan) -> bool:
    """True when ``plan`` depends on at least one input (it has a gradient to show)."""
    if isinstance(plan, Input):
        return True
    if isinstance(plan, Apply):
        return any(uses_input(a) for a in plan.args)
    return False


@dataclass(frozen=True)
class ShapeInfo:
    """What shape inference knows about a value: its shape, ``"float"`` or ``"bool"``, and
    whether it is a plain number (a folded constant) rather than a tensor."""

    shape: tuple[int, ...]
    dtype: str
    number: bool = False


def _broadcast(shapes: Sequence[tuple[int, ...]], src: str) -> tuple[int, ...]:
    ndim = max((len(s) for s in shapes), default=0)
    out: list[int] = []
    for i in range(-ndim, 0):
        sizes = {s[i] for s in shapes if len(s) >= -i and s[i] != 1}
        if len(sizes) > 1:
            listed = " and ".join(str(s) for s in shapes)
            raise ExprError(f"cannot compute {quoted(src)}: shapes {listed} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _matmul_shape(a: tuple[int, ...], b: tuple[int, ...], src: str) -> tuple[int, ...]:
    if not a or not b:
        raise ExprError(
            f"cannot compute {quoted(src)}: a matrix product needs tensors of at least one "
            f"dimension, got shapes {a} and {b}"
        )
    aa = (1, *a) if len(a) == 1 else a
    bb = (*b, 1) if len(b) == 1 else b
    if aa[-1] != bb[-2]:
        raise ExprError(
            f"cannot compute {quoted(src)}: shapes {a} and {b} cannot be multiplied "
            f"({aa[-1]} != {bb[-2]})"
        )
    batch = _broadcast([aa[:-2], bb[:-2]], src)
    out = [*batch]
    if len(a) > 1:
        out.append(aa[-2])
    if len(b) > 1:
        out.append(bb[-1])
    return tuple(out)


def _reduce_shape(shape: tuple[int, ...], dim: int | None, name: str, src: str) -> tuple[int, ...]:
    if dim is None:
        return ()
    n = max(len(shape), 1)
    if not -n <= dim < n:
        raise ExprError(
            f"cannot compute {quoted(src)}: dimension {dim} is out of range for shape {shape} "
            f"(expected {-n} to {n - 1})"
        )
    if not shape:
        return ()
    d = dim % len(shape)
    return shape if name in ("softmax", "log_softmax") else shape[:d] + shape[d + 1 :]


def infer_shape(plan: Plan, inputs: Mapping[str, ShapeInfo], total: list[int]) -> ShapeInfo:
    """Shape and dtype of ``plan``, with the element limits checked at every step."""
    if isinstance(plan, Const):
        return ShapeInfo((), "bool" if isinstance(plan.value, bool) else "float", number=True)
    if isinstance(plan, Input):
        return inputs[plan.name]
    args = [infer_shape(a, inputs, total) for a in plan.args]
    info = _infer_step(plan, args)
    n = math.prod(info.shape)
    if n > MAX_ELEMENTS:
        raise ExprError(
            f"tensor too large: {quoted(plan.src)} would have shape {info.shape}, "
            f"{n:,} elements (limit {MAX_ELEMENTS:,})"
        )
    total[0] += n
    if total[0] > MAX_TOTAL_ELEMENTS:
        raise ExprError(
            f"tensors too large: the expression's values would hold more than "
            f"{MAX_TOTAL_ELEMENTS:,} elements in all; use smaller inputs"
        )
    return info


def _infer_step(plan: Apply, args: list[ShapeInfo]) -> ShapeInfo:
    src, name = plan.src, plan.name
    shapes = [a.shape for a in args]
    bools = [a.dtype == "bool" for a in args]

    def refuse_bool(*positions: int) -> None:
        for i in positions or range(len(args)):
            if bools[i]:
                raise ExprError(
                    f"cannot compute {quoted(src)}: {quoted(plan.args[i].src)} is a comparison "
                    "(true/false); use where(cond, a, b) to pick values"
                )

    if plan.kind == "op":
        if name in ("neg", "pos"):
            refuse_bool()
            return ShapeInfo(shapes[0], "float")
        if name in CMPOPS.values():
            return ShapeInfo(_broadcast(shapes, src), "bool")
        if name == "@":
            if any(a.number for a in args):
                raise ExprError(f"cannot compute {quoted(src)}: '@' needs two tensors")
            refuse_bool()
            return ShapeInfo(_matmul_shape(shapes[0], shapes[1], src), "float")
        # as torch: a comparison counts as 0/1 in + * / (a mask: (x > 0) * x), but '-' refuses it
        if name == "-" or (name == "**" and all(bools)):
            refuse_bool()
        both = all(bools) and name in ("+", "*")
        return ShapeInfo(_broadcast(shapes, src), "bool" if both else "float")

    if name == "where":
        if not bools[0]:
            raise ExprError(
                f"cannot compute {quoted(src)}: the first argument of where() must be a "
                f"comparison, e.g. where(x > 0, x, 0), got {quoted(plan.args[0].src)}"
            )
        refuse_bool(1, 2)
        return ShapeInfo(_broadcast(shapes, src), "float")
    refuse_bool()
    if name in UNARY:
        return ShapeInfo(shapes[0], "float")
    if name in REDUCTIONS:
        dim: int | None = None
        if len(plan.args) == 2:
            dim = int(plan.args[1].value)  # type: ignore[union-attr]  # an int Const, checked
        elif name in ("softmax", "log_softmax"):
            dim = -1
        return ShapeInfo(_reduce_shape(shapes[0], dim, name, src), "float")
    if name == "norm" or (name in ("max", "min") and len(args) == 1):
        return ShapeInfo((), "float")
    if name in ("dot", "matmul"):
        if name == "dot" and (len(shapes[0]) != 1 or shapes[0] != shapes[1]):
            raise ExprError(
                f"cannot compute {quoted(src)}: dot() needs two 1-D tensors of the same length, "
                f"got shapes {shapes[0]} and {shapes[1]}"
            )
        return ShapeInfo(_matmul_shape(shapes[0], shapes[1], src), "float")
    # max/min of several, maximum, minimum, atan2, pow, clamp: elementwise with broadcasting
    return ShapeInfo(_broadcast(shapes, src), "float")
