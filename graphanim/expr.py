"""The command line's expression language: parsed with ``ast``, checked, then run as torch calls.

An expression such as ``"sin(a*x + c)"`` is text from a command line, so nothing in it is ever
given to ``eval`` or ``compile``. :func:`parse_expression` parses it with ``ast`` (mode ``"eval"``)
and checks the whole tree against an allow-list *before* anything is computed: numbers, the input
names, ``+ - * / ** @``, unary ``-``/``+``, single comparisons, parentheses, a top-level tuple of
outputs, and calls by bare name to the functions in :data:`FUNCTIONS`. Everything else (attribute
access, subscripts, lambdas, comprehensions, ``:=``, strings and f-strings, keyword or starred
arguments, dunder names, calls of anything else) is an :class:`ExprError` whose message starts with
``unsupported syntax:``. The checked tree becomes a small plan of :class:`_Const`/:class:`_Input`/
:class:`_Apply` steps that a plain Python function walks, calling torch directly.

Python reads identifiers in NFKC normal form (``ｓｉｎ`` is ``sin``), and the checks see the names
of the parsed tree, so look-alike spellings are checked as the names Python would use.

Limits, each with its own message: :data:`MAX_LENGTH` characters, :data:`MAX_DEPTH` levels of
nesting, :data:`MAX_NODES` tree nodes, integer powers up to ``2**MAX_POWER_BITS`` (``9**9**9`` is
refused before it is computed), :data:`MAX_ELEMENTS` elements in any tensor the expression creates
and :data:`MAX_TOTAL_ELEMENTS` in all of them together. Shapes are worked out by torch's rules
(broadcasting, ``matmul``, reductions) from the input shapes alone before the real run, so an
expression that would broadcast to a huge tensor is refused without allocating it, and shapes that
do not fit are reported with the part of the expression that needs them.
"""

from __future__ import annotations

import ast
import difflib
import functools
import keyword
import math
import operator
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "MAX_INPUTS",
    "MAX_LENGTH",
    "MAX_LIST_DEPTH",
    "MAX_NODES",
    "MAX_POWER_BITS",
    "MAX_TOTAL_ELEMENTS",
    "CompiledExpression",
    "ExprError",
    "Expression",
    "check_name",
    "compile_expression",
    "parse_expression",
    "parse_value",
    "shape_of",
]

#: Longest expression accepted, in characters.
MAX_LENGTH = 2000
#: Deepest nesting of the expression tree (``sin(sin(...))``, ``-(-(...))``). A chain such as
#: ``a + b + c`` nests one level per operator, so this also bounds such chains.
MAX_DEPTH = 100
#: Most nodes in the expression tree (numbers, names, operators, calls).
MAX_NODES = 500
#: Integer powers of constants whose result would need more bits than this are refused.
MAX_POWER_BITS = 1024
#: Most elements in one tensor: an ``--at`` list, a seed, or anything the expression creates.
MAX_ELEMENTS = 1_000_000
#: Most elements in all tensors of one expression together (inputs and every intermediate).
MAX_TOTAL_ELEMENTS = 10_000_000
#: Most ``--at`` names.
MAX_INPUTS = 256
#: Deepest nesting of a bracketed list value (``[[1, 2], [3, 4]]`` is 2).
MAX_LIST_DEPTH = 16

_INT64_MAX = 2**63 - 1

# name -> (fewest, most) arguments; ``None`` means no upper bound.
_UNARY = (
    "abs acos acosh asin asinh atan atanh cos cosh erf exp exp2 expm1 gelu log log10 log1p log2 "
    "logsigmoid reciprocal relu rsqrt sigmoid sign silu sin sinh softplus sqrt square tan tanh"
).split()
_REDUCTIONS = ("sum", "mean", "prod", "softmax", "log_softmax")  # optional integer dim
_ARITY: dict[str, tuple[int, int | None]] = {
    **{name: (1, 1) for name in _UNARY},
    **{name: (1, 2) for name in _REDUCTIONS},
    "norm": (1, 1),
    "max": (1, None),
    "min": (1, None),
    "maximum": (2, 2),
    "minimum": (2, 2),
    "pow": (2, 2),
    "atan2": (2, 2),
    "dot": (2, 2),
    "matmul": (2, 2),
    "clamp": (2, 3),
    "where": (3, 3),
}

#: The functions an expression may call, by bare name.
FUNCTIONS: tuple[str, ...] = tuple(sorted(_ARITY))

#: Named constants an expression may use.
CONSTANTS: dict[str, float] = {"pi": math.pi}

_BINOPS: dict[type, str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
    ast.MatMult: "@",
}
_REFUSED_BINOPS: dict[type, str] = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}
_UNARYOPS: dict[type, str] = {ast.USub: "neg", ast.UAdd: "pos"}
_CMPOPS: dict[type, str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
_REFUSED_CMPOPS: dict[type, str] = {
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}

_OPERATORS: dict[str, Callable[..., Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
    "@": operator.matmul,
    "neg": operator.neg,
    "pos": operator.pos,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}

_REFUSED_NODES: dict[type, str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscript",
    ast.Slice: "slice",
    ast.Lambda: "lambda",
    ast.ListComp: "list comprehension",
    ast.SetComp: "set comprehension",
    ast.DictComp: "dict comprehension",
    ast.GeneratorExp: "generator expression",
    ast.NamedExpr: "assignment expression ':='",
    ast.JoinedStr: "f-string",
    ast.FormattedValue: "f-string",
    ast.IfExp: "conditional expression (use where(cond, a, b))",
    ast.BoolOp: "'and'/'or' (use where(...), or multiply comparisons)",
    ast.List: "list display (give lists as values: --at x=[1,2,3])",
    ast.Set: "set display",
    ast.Dict: "dict display",
    ast.Starred: "starred argument '*'",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield from",
}

# AST nodes that are fixed markers (Load, Add, ...), not parts of the expression.
_MARKERS = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)

Number = int | float | bool


class ExprError(ValueError):
    """An expression or value the command line refuses; the message says what and how to fix it."""


# --------------------------------------------------------------------------------------------
# the checked plan


@dataclass(frozen=True)
class _Const:
    value: Number
    src: str


@dataclass(frozen=True)
class _Input:
    name: str
    src: str


@dataclass(frozen=True)
class _Apply:
    kind: str  # "op" (an operator from _OPERATORS) or "call" (a function from FUNCTIONS)
    name: str
    args: tuple[_Plan, ...]
    src: str


_Plan = _Const | _Input | _Apply


def _clean(text: str, limit: int = 60) -> str:
    """``text`` for a one-line message: control characters escaped, long text shortened."""
    text = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quote(text: str, limit: int = 60) -> str:
    """``text`` quoted as Python would (``repr``), shortened to about ``limit`` characters."""
    text = str(text)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _names_list(names: Iterable[str]) -> str:
    return ", ".join(names) or "(none)"


# --------------------------------------------------------------------------------------------
# parsing and checking


def _parse_tree(text: str) -> ast.Expression:
    if not isinstance(text, str):
        raise ExprError(f"the expression must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExprError(
            f"expression too long: {len(text):,} characters (limit {MAX_LENGTH:,}); "
            "split it into a Python function and render FILE.py:FUNC instead"
        )
    if not text.strip():
        raise ExprError('empty expression; give one such as "sin(a*x + c)"')
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        where = f" at column {err.offset}" if err.offset else ""
        raise ExprError(
            f"invalid expression{where}: {_clean(err.msg or 'invalid syntax', 100)} "
            '(EXPR must be one Python expression, e.g. "sin(a*x + c)")'
        ) from None
    except (RecursionError, MemoryError):
        raise ExprError(
            f"expression nested too deeply for the parser (limit {MAX_DEPTH} levels)"
        ) from None
    except ValueError as err:  # e.g. null bytes on older Pythons, integer-string limits
        raise ExprError(f"invalid expression: {_clean(str(err), 100)}") from None
    return tree


def _measure(tree: ast.Expression) -> None:
    """Depth and node count, walked with an explicit stack (no recursion on hostile trees)."""
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ExprError(
                f"expression too large: more than {MAX_NODES} parts (numbers, names, operators); "
                "write it as a Python function and render FILE.py:FUNC instead"
            )
        if depth > MAX_DEPTH:
            raise ExprError(
                f"expression nested too deeply: more than {MAX_DEPTH} levels (each call, operator "
                "or sign adds one, a chain a + b + c + ... one per '+'); write it as a Python "
                "function and render FILE.py:FUNC instead"
            )
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, _MARKERS):
                stack.append((child, depth + 1))


def _is_dunder(name: str) -> bool:
    return name.startswith("__")


def _describe_call_target(func: ast.expr, seg: str) -> str:
    if isinstance(func, ast.Attribute):
        hint = ""
        if func.attr in _ARITY:
            hint = f" (call functions by bare name: {func.attr}(...))"
        return f"unsupported syntax: attribute access {_quote(seg)}{hint}"
    if isinstance(func, ast.Call):
        return f"unsupported syntax: call of a call result {_quote(seg)}"
    return f"unsupported syntax: call of an expression {_quote(seg)} (call functions by name)"


def _check_syntax(tree: ast.Expression, text: str) -> None:
    """Refuse every node that is not on the allow-list; outermost offenders are reported first."""

    def seg(node: ast.AST) -> str:
        return ast.get_source_segment(text, node) or type(node).__name__

    queue: list[ast.AST] = [tree.body]
    i = 0
    while i < len(queue):
        node = queue[i]
        i += 1
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                sym = _REFUSED_BINOPS.get(type(node.op), type(node.op).__name__)
                raise ExprError(
                    f"unsupported syntax: operator '{sym}' in {_quote(seg(node))} "
                    "(operators: + - * / ** @)"
                )
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARYOPS:
                sym = "not" if isinstance(node.op, ast.Not) else "~"
                raise ExprError(f"unsupported syntax: operator '{sym}' in {_quote(seg(node))}")
        elif isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                raise ExprError(
                    f"unsupported syntax: chained comparison {_quote(seg(node))} "
                    "(compare two values at a time)"
                )
            if type(node.ops[0]) not in _CMPOPS:
                sym = _REFUSED_CMPOPS.get(type(node.ops[0]), type(node.ops[0]).__name__)
                raise ExprError(
                    f"unsupported syntax: operator '{sym}' in {_quote(seg(node))} "
                    "(comparisons: < <= > >= == !=)"
                )
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                shown = node if isinstance(node.func, ast.Call) else node.func
                raise ExprError(_describe_call_target(node.func, seg(shown)))
            name = node.func.id
            if _is_dunder(name):
                raise ExprError(f"unsupported syntax: dunder name {_quote(name)}")
            if name not in _ARITY:
                close = difflib.get_close_matches(name, FUNCTIONS, n=1)
                hint = f"did you mean {close[0]}?" if close else f"functions: {' '.join(FUNCTIONS)}"
                raise ExprError(f"unsupported syntax: call to {_quote(name)} ({hint})")
            for kw in node.keywords:
                what = "'**' argument" if kw.arg is None else f"keyword argument '{kw.arg}='"
                raise ExprError(
                    f"unsupported syntax: {what} in {_quote(seg(node))} "
                    "(pass arguments by position)"
                )
            queue.extend(node.args)
            continue  # the function name itself is checked above
        elif isinstance(node, ast.Name):
            if _is_dunder(node.id):
                raise ExprError(f"unsupported syntax: dunder name {_quote(node.id)}")
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or value is None:
                raise ExprError(f"unsupported syntax: {value!r} (use numbers, e.g. 1 or 0)")
            if isinstance(value, (str, bytes)):
                kind = "string" if isinstance(value, str) else "bytes"
                raise ExprError(f"unsupported syntax: {kind} literal {_quote(seg(node))}")
            if isinstance(value, complex):
                raise ExprError(f"unsupported syntax: complex number {_quote(seg(node))}")
            if not isinstance(value, (int, float)):
                raise ExprError(f"unsupported syntax: {_quote(seg(node))}")
        elif isinstance(node, ast.Tuple):
            if node is not tree.body:
                raise ExprError(
                    f"unsupported syntax: tuple {_quote(seg(node))} (only the whole expression may "
                    'be a tuple of outputs, e.g. "a*b, a+b")'
                )
        elif isinstance(node, _MARKERS):
            continue
        else:
            what, _, hint = _REFUSED_NODES.get(type(node), type(node).__name__).partition(" (")
            hint = f" ({hint}" if hint else ""
            raise ExprError(f"unsupported syntax: {what} {_quote(seg(node))}{hint}")
        queue.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, _MARKERS))


# --------------------------------------------------------------------------------------------
# constants, folded with guards


def _number(value: Any, src: str) -> Number:
    """A folded constant as torch can take it: bools, int64 ints, or real floats."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if -_INT64_MAX <= value <= _INT64_MAX:
            return value
        try:
            return float(value)
        except OverflowError:
            raise ExprError(f"number too large in {_quote(src)} (beyond the float range)") from None
    if isinstance(value, float):
        if not math.isfinite(value):  # 1e400, or 1e300 * 1e300: Python gives inf, no error
            raise ExprError(
                f"number too large in {_quote(src)} (beyond the float range, about 1.8e308)"
            )
        return value
    if isinstance(value, complex):
        raise ExprError(f"{_quote(src)} has no real value (the result would be complex)")
    raise ExprError(f"{_quote(src)} is not a number")  # pragma: no cover - checked earlier


def _power(a: Number, b: Number, src: str) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b >= 0:
        if abs(a) > 1 and b * math.log2(abs(a)) > MAX_POWER_BITS:
            digits = b * math.log10(abs(a))
            raise ExprError(
                f"integer power too large: {_quote(src)} would have about {digits:,.0f} digits "
                f"(limit 2**{MAX_POWER_BITS}); it is not computed"
            )
        return a**b
    return float(a) ** float(b)


def _fold(op: str, args: Sequence[Number], src: str) -> Number:
    try:
        if op == "**":
            result = _power(args[0], args[1], src)
        elif op == "@":
            raise ExprError(f"matrix product of two numbers in {_quote(src)}; '@' needs tensors")
        else:
            result = _OPERATORS[op](*args)
    except ZeroDivisionError:
        raise ExprError(f"division by zero in {_quote(src)}") from None
    except OverflowError:
        raise ExprError(f"number too large in {_quote(src)} (beyond the float range)") from None
    return _number(result, src)


# --------------------------------------------------------------------------------------------
# building the plan


class _Builder:
    def __init__(self, text: str, names: Collection[str]) -> None:
        self.text = text
        self.names = names
        self.used: list[str] = []

    def seg(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or type(node).__name__

    def build(self, node: ast.expr) -> _Plan:
        src = self.seg(node)
        if isinstance(node, ast.Constant):
            return _Const(_number(node.value, src), src)
        if isinstance(node, ast.Name):
            if node.id in self.names:
                if node.id not in self.used:
                    self.used.append(node.id)
                return _Input(node.id, src)
            return _Const(CONSTANTS[node.id], src)
        if isinstance(node, ast.UnaryOp):
            operand = self.build(node.operand)
            op = _UNARYOPS[type(node.op)]
            if op == "pos":  # +x is x, as in Python (torch would add a no-op node)
                return operand
            if isinstance(operand, _Const):
                return _Const(_fold(op, [operand.value], src), src)
            return _Apply("op", op, (operand,), src)
        if isinstance(node, (ast.BinOp, ast.Compare)):
            if isinstance(node, ast.BinOp):
                op = _BINOPS[type(node.op)]
                parts = [node.left, node.right]
            else:
                op = _CMPOPS[type(node.ops[0])]
                parts = [node.left, node.comparators[0]]
            args = tuple(self.build(p) for p in parts)
            if all(isinstance(a, _Const) for a in args):
                return _Const(_fold(op, [a.value for a in args], src), src)  # type: ignore[union-attr]
            return _Apply("op", op, args, src)
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)  # checked by _check_syntax
            return self.call(node.func.id, node, src)
        raise ExprError(f"unsupported syntax: {_quote(src)}")  # pragma: no cover - checked earlier

    def call(self, name: str, node: ast.Call, src: str) -> _Plan:
        lo, hi = _ARITY[name]
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            if hi is None:
                want = f"at least {lo} argument{'s' if lo > 1 else ''}"
            elif lo == hi:
                want = f"{lo} argument{'s' if lo > 1 else ''}"
            else:
                want = f"{lo} to {hi} arguments"
            raise ExprError(f"{name}() takes {want}, got {n} in {_quote(src)}")
        args = tuple(self.build(a) for a in node.args)
        if name in _REDUCTIONS and n == 2:
            dim = args[1]
            if not (isinstance(dim, _Const) and type(dim.value) is int):
                raise ExprError(
                    f"the second argument of {name}() is a dimension and must be an integer, "
                    f"e.g. {name}(x, 0); got {_quote(dim.src)}"
                )
        if name == "pow" and all(isinstance(a, _Const) for a in args):
            return _Const(_fold("**", [a.value for a in args], src), src)  # type: ignore[union-attr]
        return _Apply("call", name, args, src)


def _uses_input(plan: _Plan) -> bool:
    if isinstance(plan, _Input):
        return True
    if isinstance(plan, _Apply):
        return any(_uses_input(a) for a in plan.args)
    return False


@dataclass(frozen=True)
class _Info:
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
            raise ExprError(f"cannot compute {_quote(src)}: shapes {listed} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _matmul_shape(a: tuple[int, ...], b: tuple[int, ...], src: str) -> tuple[int, ...]:
    if not a or not b:
        raise ExprError(
            f"cannot compute {_quote(src)}: a matrix product needs tensors of at least one "
            f"dimension, got shapes {a} and {b}"
        )
    aa = (1, *a) if len(a) == 1 else a
    bb = (*b, 1) if len(b) == 1 else b
    if aa[-1] != bb[-2]:
        raise ExprError(
            f"cannot compute {_quote(src)}: shapes {a} and {b} cannot be multiplied "
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
            f"cannot compute {_quote(src)}: dimension {dim} is out of range for shape {shape} "
            f"(expected {-n} to {n - 1})"
        )
    if not shape:
        return ()
    d = dim % len(shape)
    return shape if name in ("softmax", "log_softmax") else shape[:d] + shape[d + 1 :]


def _infer(plan: _Plan, inputs: Mapping[str, _Info], total: list[int]) -> _Info:
    """Shape and dtype of ``plan``, with the element limits checked at every step."""
    if isinstance(plan, _Const):
        return _Info((), "bool" if isinstance(plan.value, bool) else "float", number=True)
    if isinstance(plan, _Input):
        return inputs[plan.name]
    args = [_infer(a, inputs, total) for a in plan.args]
    info = _infer_step(plan, args)
    n = math.prod(info.shape)
    if n > MAX_ELEMENTS:
        raise ExprError(
            f"tensor too large: {_quote(plan.src)} would have shape {info.shape}, "
            f"{n:,} elements (limit {MAX_ELEMENTS:,})"
        )
    total[0] += n
    if total[0] > MAX_TOTAL_ELEMENTS:
        raise ExprError(
            f"tensors too large: the expression's values would hold more than "
            f"{MAX_TOTAL_ELEMENTS:,} elements in all; use smaller inputs"
        )
    return info


def _infer_step(plan: _Apply, args: list[_Info]) -> _Info:
    src, name = plan.src, plan.name
    shapes = [a.shape for a in args]
    bools = [a.dtype == "bool" for a in args]

    def refuse_bool(*positions: int) -> None:
        for i in positions or range(len(args)):
            if bools[i]:
                raise ExprError(
                    f"cannot compute {_quote(src)}: {_quote(plan.args[i].src)} is a comparison "
                    "(true/false); use where(cond, a, b) to pick values"
                )

    if plan.kind == "op":
        if name in ("neg", "pos"):
            refuse_bool()
            return _Info(shapes[0], "float")
        if name in _CMPOPS.values():
            return _Info(_broadcast(shapes, src), "bool")
        if name == "@":
            if any(a.number for a in args):
                raise ExprError(f"cannot compute {_quote(src)}: '@' needs two tensors")
            refuse_bool()
            return _Info(_matmul_shape(shapes[0], shapes[1], src), "float")
        # as torch: a comparison counts as 0/1 in + * / (a mask: (x > 0) * x), but '-' refuses it
        if name == "-" or (name == "**" and all(bools)):
            refuse_bool()
        both = all(bools) and name in ("+", "*")
        return _Info(_broadcast(shapes, src), "bool" if both else "float")

    if name == "where":
        if not bools[0]:
            raise ExprError(
                f"cannot compute {_quote(src)}: the first argument of where() must be a "
                f"comparison, e.g. where(x > 0, x, 0), got {_quote(plan.args[0].src)}"
            )
        refuse_bool(1, 2)
        return _Info(_broadcast(shapes, src), "float")
    refuse_bool()
    if name in _UNARY:
        return _Info(shapes[0], "float")
    if name in _REDUCTIONS:
        dim: int | None = None
        if len(plan.args) == 2:
            dim = int(plan.args[1].value)  # type: ignore[union-attr]  # an int _Const, checked
        elif name in ("softmax", "log_softmax"):
            dim = -1
        return _Info(_reduce_shape(shapes[0], dim, name, src), "float")
    if name == "norm" or (name in ("max", "min") and len(args) == 1):
        return _Info((), "float")
    if name in ("dot", "matmul"):
        if name == "dot" and (len(shapes[0]) != 1 or shapes[0] != shapes[1]):
            raise ExprError(
                f"cannot compute {_quote(src)}: dot() needs two 1-D tensors of the same length, "
                f"got shapes {shapes[0]} and {shapes[1]}"
            )
        return _Info(_matmul_shape(shapes[0], shapes[1], src), "float")
    # max/min of several, maximum, minimum, atan2, pow, clamp: elementwise with broadcasting
    return _Info(_broadcast(shapes, src), "float")


@dataclass(frozen=True)
class Expression:
    """A parsed and checked expression, ready to run.

    Attributes
    ----------
    text : str
        The expression as given.
    inputs : tuple of str
        The input names it uses, in order of first appearance.
    outputs : tuple of str
        The source text of each output (one, or several for a top-level tuple).
    """

    text: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    _plans: tuple[_Plan, ...]

    def function(self, names: Sequence[str]) -> Callable[..., Any]:
        """A Python function of the tensors ``names`` (in that order) that computes the expression.

        It returns one tensor, or a tuple of tensors for a tuple expression. It walks the checked
        plan and calls torch directly; it holds no tensors itself.
        """
        order = tuple(names)
        missing = [n for n in self.inputs if n not in order]
        if missing:
            raise ExprError(f"no value for {_names_list(missing)}")
        plans = self._plans
        single = len(plans) == 1

        def expression(*args: Any) -> Any:
            if len(args) != len(order):
                raise TypeError(
                    f"expected {len(order)} arguments ({', '.join(order)}), got {len(args)}"
                )
            env = dict(zip(order, args, strict=True))
            if single:
                return _evaluate(plans[0], env)
            return tuple(_evaluate(p, env) for p in plans)

        expression.__qualname__ = expression.__name__ = "expression"
        expression.__doc__ = f"Computes {self.text!r}."
        return expression

    def infer_shapes(self, shapes: Mapping[str, Sequence[int]]) -> tuple[tuple[int, ...], ...]:
        """Shapes of the outputs for inputs of the given shapes, worked out without any data.

        Shapes follow torch's rules (broadcasting, ``matmul``, reductions) step by step, so sizes
        and mismatches are caught before anything is allocated or computed.

        Raises
        ------
        ExprError
            If a tensor would have more than :data:`MAX_ELEMENTS` elements, all of them together
            more than :data:`MAX_TOTAL_ELEMENTS`, shapes do not fit (broadcasting, ``@``, ``dot``),
            a dimension is out of range, or an output is not a floating-point tensor.
        """
        inputs: dict[str, _Info] = {}
        total = 0
        for name in self.inputs:
            shape = tuple(int(s) for s in shapes[name])
            inputs[name] = _Info(shape, "float")
            total += math.prod(shape)
        counter = [total]
        out: list[tuple[int, ...]] = []
        for src, plan in zip(self.outputs, self._plans, strict=True):
            info = _infer(plan, inputs, counter)
            what = ("output " if len(self._plans) > 1 else "the expression ") + _quote(src)
            if info.dtype == "bool":
                raise ExprError(
                    f"{what} is a comparison (true/false), which has no gradient; "
                    "use it inside where(cond, a, b) or multiply it by a value"
                )
            out.append(info.shape)
        return tuple(out)


def parse_expression(text: str, names: Iterable[str]) -> Expression:
    """Parse and check ``text`` over the input ``names``; nothing is computed.

    Parameters
    ----------
    text : str
        A Python expression such as ``"sin(a*x + c)"`` or ``"a*b, a+b"`` (several outputs).
    names : iterable of str
        The input names it may use (the ``--at`` names), compared in NFKC form as Python
        compares identifiers.

    Returns
    -------
    Expression

    Raises
    ------
    ExprError
        For syntax outside the allow-list (``unsupported syntax: ...``), a limit exceeded, an
        unknown name (all are listed), a wrong number of arguments, an output that does not depend
        on any input, or a constant that cannot be computed (``1/0``, ``9**9**9``).

    Examples
    --------
    >>> e = parse_expression("sin(a*x + c)", ["x", "a", "c"])
    >>> e.inputs
    ('a', 'x', 'c')
    >>> parse_expression("x.__class__", ["x"])
    Traceback (most recent call last):
    ...
    graphanim.expr.ExprError: unsupported syntax: attribute access 'x.__class__'
    """
    # Python reads identifiers in NFKC form: 'e' + a combining accent in a name is the 'é' of the
    # parsed expression, and so is a name given either way
    known = list(dict.fromkeys(unicodedata.normalize("NFKC", n) for n in names))
    tree = _parse_tree(text)
    _measure(tree)
    _check_syntax(tree, text.strip())

    # every name, in order of appearance: unknown ones are reported together
    unknown: list[str] = []
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if id(node) in called:
            continue
        if isinstance(node, ast.Name) and node.id not in known and node.id not in CONSTANTS:
            if node.id in _ARITY:
                raise ExprError(f"{node.id!r} is a function; call it, e.g. {node.id}(x)")
            if node.id not in unknown:
                unknown.append(node.id)
    if unknown:
        plural = len(unknown) > 1
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            if close:
                hints.append(f"{name!r} (did you mean {close[0]!r}?)")
        listed = ", ".join(repr(n) for n in unknown)
        fix = " ".join(f"{n}=VALUE" for n in unknown)
        extra = f"; {'; '.join(hints)}" if hints else ""
        raise ExprError(
            f"unknown name{'s' if plural else ''} {listed} in the expression: give "
            f"{'their values' if plural else 'its value'} with --at {fix} "
            f"(given: {_names_list(known)}){extra}"
        )

    builder = _Builder(text.strip(), set(known))
    body = tree.body
    parts = body.elts if isinstance(body, ast.Tuple) else [body]
    if not parts:
        raise ExprError("unsupported syntax: empty tuple '()'")
    plans = tuple(builder.build(p) for p in parts)
    srcs = tuple(builder.seg(p) for p in parts)
    for src, plan in zip(srcs, plans, strict=True):
        if not _uses_input(plan):
            what = "the expression" if len(plans) == 1 else "output"
            raise ExprError(
                f"{what} {_quote(src)} does not depend on any --at name, so it has no gradient "
                "to show; use the names given with --at"
            )
    return Expression(text, tuple(builder.used), srcs, plans)


# --------------------------------------------------------------------------------------------
# running the plan


@functools.cache
def _torch_functions() -> dict[str, Callable[..., Any]]:
    import torch
    import torch.nn.functional as F

    return {
        "abs": torch.abs,
        "acos": torch.acos,
        "acosh": torch.acosh,
        "asin": torch.asin,
        "asinh": torch.asinh,
        "atan": torch.atan,
        "atanh": torch.atanh,
        "cos": torch.cos,
        "cosh": torch.cosh,
        "erf": torch.erf,
        "exp": torch.exp,
        "exp2": torch.exp2,
        "expm1": torch.expm1,
        "gelu": F.gelu,
        "log": torch.log,
        "log10": torch.log10,
        "log1p": torch.log1p,
        "log2": torch.log2,
        "logsigmoid": F.logsigmoid,
        "reciprocal": torch.reciprocal,
        "relu": torch.relu,
        "rsqrt": torch.rsqrt,
        "sigmoid": torch.sigmoid,
        "sign": torch.sign,
        "silu": F.silu,
        "sin": torch.sin,
        "sinh": torch.sinh,
        "softplus": F.softplus,
        "sqrt": torch.sqrt,
        "square": torch.square,
        "tan": torch.tan,
        "tanh": torch.tanh,
        "sum": torch.sum,
        "mean": torch.mean,
        "prod": torch.prod,
        "softmax": torch.softmax,
        "log_softmax": torch.log_softmax,
        "norm": torch.linalg.vector_norm,
        "maximum": torch.maximum,
        "minimum": torch.minimum,
        "atan2": torch.atan2,
        "dot": torch.dot,
        "matmul": torch.matmul,
        "pow": torch.pow,
        "clamp": torch.clamp,
        "where": torch.where,
    }


def _tensor(value: Any) -> torch.Tensor:
    import torch

    if isinstance(value, torch.Tensor):
        return value
    dtype = torch.bool if isinstance(value, bool) else torch.float64
    return torch.tensor(value, dtype=dtype)


def _call(name: str, args: list[Any]) -> Any:
    fns = _torch_functions()
    if name in ("max", "min"):
        if len(args) == 1:
            import torch

            return (torch.max if name == "max" else torch.min)(_tensor(args[0]))
        pairwise = fns["maximum" if name == "max" else "minimum"]
        return functools.reduce(lambda a, b: pairwise(a, b), (_tensor(a) for a in args))
    fn = fns[name]
    if name in _REDUCTIONS:
        x = _tensor(args[0])
        if len(args) == 2:
            return fn(x, args[1])
        if name in ("softmax", "log_softmax"):
            return fn(x, -1)
        return fn(x)
    if name == "pow":  # torch.pow takes a number for either side (never both: those are folded)
        return fn(*args)
    if name == "clamp":
        x = _tensor(args[0])
        bounds = list(args[1:])
        if any(_is_tensor(b) for b in bounds):
            bounds = [_tensor(b) for b in bounds]
        return fn(x, *bounds)
    return fn(*(_tensor(a) for a in args))


def _is_tensor(value: Any) -> bool:
    return not isinstance(value, (bool, int, float))


def _evaluate(plan: _Plan, env: Mapping[str, Any]) -> Any:
    """Run the plan on real tensors; torch's own errors propagate unchanged."""
    if isinstance(plan, _Const):
        return plan.value
    if isinstance(plan, _Input):
        return env[plan.name]
    args = [_evaluate(a, env) for a in plan.args]
    if plan.kind == "op":
        return _OPERATORS[plan.name](*args)
    return _call(plan.name, args)


# --------------------------------------------------------------------------------------------
# values and names


_NUMBER_RE = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)",
    re.IGNORECASE | re.ASCII,
)
_TOKEN_RE = re.compile(r"\s*(?:(\[)|(\])|(,)|([^\s\[\],]+))", re.ASCII)


def _number_value(token: str, what: str) -> float:
    if not _NUMBER_RE.fullmatch(token):
        raise ExprError(
            f"{what}: {_quote(token, 40)} is not a number (numbers look like 2, -1.5, 3e-4, inf; "
            "lists like [1, 2, 3])"
        )
    value = float(token)
    if math.isinf(value) and "inf" not in token.lower():
        raise ExprError(
            f"{what}: {_quote(token, 40)} is beyond the float range (about 1.8e308); "
            "write inf for infinity"
        )
    return value


def parse_value(text: str, what: str = "value") -> float | list[Any]:
    """Read a number or a bracketed (nested) list of numbers; nothing is evaluated.

    Parameters
    ----------
    text : str
        ``"2"``, ``"-1.5e3"``, ``"inf"``, ``"[1, 2, 3]"`` or ``"[[1, 2], [3, 4]]"``.
    what : str
        How to name the value in error messages (e.g. ``"--at x"``).

    Returns
    -------
    float or list
        A float, or nested lists of floats of a rectangular shape.

    Raises
    ------
    ExprError
        For anything that is not a number or a rectangular, non-empty list of numbers, lists
        nested deeper than :data:`MAX_LIST_DEPTH`, more than :data:`MAX_ELEMENTS` numbers, or a
        number beyond the float range (``1e400``; ``inf`` is written ``inf``).

    Examples
    --------
    >>> parse_value("[[1, 2], [3, 4]]")
    [[1.0, 2.0], [3.0, 4.0]]
    """
    text = text.strip()
    if not text:
        raise ExprError(f"{what}: empty value; give a number or a list such as [1, 2, 3]")
    if not text.startswith("["):
        return _number_value(text, what)

    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:  # only trailing whitespace is left
            break
        tokens.append(m.group(m.lastindex or 0))
        pos = m.end()
        if len(tokens) > 2 * MAX_ELEMENTS + 2 * MAX_LIST_DEPTH:
            raise ExprError(f"{what}: too many numbers (limit {MAX_ELEMENTS:,})")
    if len(tokens) == 0 or text[pos:].strip():
        raise ExprError(f"{what}: cannot read {_quote(text, 40)}")

    count = 0
    # an explicit stack of open lists: no recursion on hostile nesting
    stack: list[list[Any]] = []
    result: list[Any] | None = None
    expect_item = True
    for tok in tokens:
        if result is not None:
            raise ExprError(f"{what}: unexpected {_quote(tok, 20)} after the closing ']'")
        if tok == "[":
            if not expect_item:
                raise ExprError(f"{what}: missing ',' before '['")
            if len(stack) >= MAX_LIST_DEPTH:
                raise ExprError(f"{what}: lists nested too deeply (limit {MAX_LIST_DEPTH} levels)")
            stack.append([])
            expect_item = True
        elif tok == "]":
            if not stack:
                raise ExprError(f"{what}: unbalanced ']'")
            done = stack.pop()
            if not done:
                raise ExprError(f"{what}: empty list '[]'; give at least one number")
            if expect_item:
                raise ExprError(f"{what}: missing number before ']' (trailing ',')")
            if stack:
                stack[-1].append(done)
            else:
                result = done
            expect_item = False
        elif tok == ",":
            if expect_item or not stack:
                raise ExprError(f"{what}: unexpected ','")
            expect_item = True
        else:
            if not expect_item:
                raise ExprError(f"{what}: missing ',' before {_quote(tok, 20)}")
            if not stack:  # pragma: no cover - the text starts with '['
                raise ExprError(f"{what}: unexpected {_quote(tok, 20)}")
            stack[-1].append(_number_value(tok, what))
            count += 1
            if count > MAX_ELEMENTS:
                raise ExprError(f"{what}: too many numbers (limit {MAX_ELEMENTS:,})")
            expect_item = False
    if result is None:
        raise ExprError(f"{what}: unbalanced '[' (missing ']')")
    shape_of(result, what)  # rectangular?
    return result


def shape_of(value: Any, what: str = "value") -> tuple[int, ...]:
    """The shape of a number (``()``), a rectangular nested list, or anything with ``.shape``.

    Raises
    ------
    ExprError
        For a ragged list (rows of different lengths, or numbers mixed with lists).
    """
    if hasattr(value, "shape"):
        return tuple(int(s) for s in value.shape)
    if not isinstance(value, list):
        return ()
    # breadth-first, level by level: every item of a level must have the same shape
    shape: list[int] = []
    level: list[Any] = [value]
    while True:
        if all(isinstance(v, list) for v in level):
            lengths = {len(v) for v in level}
            if len(lengths) != 1:
                raise ExprError(
                    f"{what}: ragged list, rows of lengths {', '.join(map(str, sorted(lengths)))}; "
                    "every row needs the same length"
                )
            shape.append(lengths.pop())
            level = [item for v in level for item in v]
        elif any(isinstance(v, list) for v in level):
            raise ExprError(f"{what}: ragged list, numbers mixed with lists at the same depth")
        else:
            return tuple(shape)


def check_name(name: str, reserved: Collection[str] = (), what: str = "--at") -> str:
    """Return ``name`` in NFKC form (as Python reads identifiers) after checking it.

    Raises
    ------
    ExprError
        If it is not an identifier, is a Python keyword, starts with ``__``, is in ``reserved``
        (the function and constant names of the expression language), or is longer than any
        expression may be (:data:`MAX_LENGTH`).
    """
    if len(name) > MAX_LENGTH:  # no expression is long enough to use it
        raise ExprError(
            f"{what}: name too long ({len(name):,} characters; an expression has at most "
            f"{MAX_LENGTH:,})"
        )
    normal = unicodedata.normalize("NFKC", name)
    if not normal:
        raise ExprError(f"{what}: empty name; write NAME=VALUE, e.g. x=2")
    if not normal.isidentifier():
        raise ExprError(
            f"{what}: {_quote(name, 40)} is not a valid name (letters, digits and '_', "
            "not starting with a digit)"
        )
    if keyword.iskeyword(normal):
        raise ExprError(f"{what}: {_quote(name, 40)} is a Python keyword; pick another name")
    if normal.startswith("__"):
        raise ExprError(f"{what}: names may not start with '__' ({_quote(name, 40)})")
    if normal in reserved:
        kind = "constant" if normal in CONSTANTS else "function"
        raise ExprError(
            f"{what}: {normal!r} is a {kind} of the expression language; pick another name"
        )
    return normal


# --------------------------------------------------------------------------------------------
# all together


@dataclass(frozen=True)
class CompiledExpression:
    """An expression checked against concrete values, ready for ``TorchGraph``.

    ``TorchGraph(c.func, list(c.args), names=list(c.names))`` captures it.

    Attributes
    ----------
    expression : Expression
        The parsed expression.
    func : callable
        ``func(*tensors)`` computes it (one tensor, or a tuple for several outputs).
    names : tuple of str
        The inputs ``func`` takes, in the order the values were given.
    args : tuple
        Their values (numbers or nested lists), in the same order.
    unused : tuple of str
        Names that were given but the expression does not use (left out of ``names``).
    output_shapes : tuple of tuple of int
        The shape of each output.
    """

    expression: Expression
    func: Callable[..., Any]
    names: tuple[str, ...]
    args: tuple[Any, ...]
    unused: tuple[str, ...]
    output_shapes: tuple[tuple[int, ...], ...]


def compile_expression(text: str, values: Mapping[str, Any]) -> CompiledExpression:
    """Parse, check and compile ``text`` for the inputs ``values`` (name -> number or list).

    Names are taken in NFKC form, as Python reads identifiers (``CompiledExpression.names`` holds
    that form).

    Shapes are checked from the input shapes first (see :meth:`Expression.infer_shapes`).

    Raises
    ------
    ExprError
        See :func:`parse_expression` and :meth:`Expression.infer_shapes`.

    Examples
    --------
    >>> import torch
    >>> c = compile_expression("sin(a*x + c)", {"x": 2.0, "a": 3.0, "c": 4.0})
    >>> c.names
    ('x', 'a', 'c')
    >>> float(c.func(*(torch.tensor(v) for v in c.args))) == float(torch.sin(torch.tensor(10.0)))
    True
    """
    if len(values) > MAX_INPUTS:
        raise ExprError(f"too many names: {len(values)} (limit {MAX_INPUTS})")
    normal: dict[str, Any] = {}
    for key, value in values.items():
        name = unicodedata.normalize("NFKC", key)
        if name in normal:
            raise ExprError(
                f"the name {name!r} is given twice ({_quote(key, 40)} is the same name)"
            )
        normal[name] = value
    values = normal
    expression = parse_expression(text, values.keys())
    names = tuple(n for n in values if n in expression.inputs)
    unused = tuple(n for n in values if n not in expression.inputs)
    shapes = {n: shape_of(values[n], f"--at {n}") for n in names}
    for n, s in shapes.items():
        if math.prod(s) > MAX_ELEMENTS:
            raise ExprError(f"--at {n}: too many numbers (limit {MAX_ELEMENTS:,})")
    output_shapes = expression.infer_shapes(shapes)
    return CompiledExpression(
        expression,
        expression.function(names),
        names,
        tuple(values[n] for n in names),
        unused,
        output_shapes,
    )
