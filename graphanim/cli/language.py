"""The expression language's table: its limits, the functions and operators it allows (and
those it refuses, with the reason), the plan it is compiled to, and text helpers for messages."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..ops import OPS

__all__ = [
    "ARITY",
    "BINOPS",
    "CMPOPS",
    "CONSTANTS",
    "FUNCTIONS",
    "INT64_MAX",
    "MARKERS",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "MAX_INPUTS",
    "MAX_LENGTH",
    "MAX_LIST_DEPTH",
    "MAX_NODES",
    "MAX_POWER_BITS",
    "MAX_TOTAL_ELEMENTS",
    "OPERATORS",
    "REDUCTIONS",
    "REFUSED_BINOPS",
    "REFUSED_CMPOPS",
    "REFUSED_NODES",
    "UNARY",
    "UNARYOPS",
    "Apply",
    "Const",
    "ExprError",
    "Input",
    "Number",
    "Plan",
    "cleaned",
    "names_list",
    "quoted",
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

INT64_MAX = 2**63 - 1

REDUCTIONS = ("sum", "mean", "prod", "softmax", "log_softmax")  # optional integer dim
#: The functions of other than one elementwise argument: name -> (fewest, most) arguments;
#: ``None`` means no upper bound.
_ARGUMENTS: dict[str, tuple[int, int | None]] = {
    **{name: (1, 2) for name in REDUCTIONS},
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

#: The functions an expression may call, by bare name: the op table's spellings that are names.
FUNCTIONS: tuple[str, ...] = tuple(
    sorted({s for info in OPS.values() for s in info.cli if s.isidentifier()})
)
#: The elementwise functions of one argument.
UNARY = [name for name in FUNCTIONS if name not in _ARGUMENTS]
# name -> (fewest, most) arguments
ARITY: dict[str, tuple[int, int | None]] = {**{name: (1, 1) for name in UNARY}, **_ARGUMENTS}

#: Named constants an expression may use.
CONSTANTS: dict[str, float] = {"pi": math.pi}

BINOPS: dict[type, str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
    ast.MatMult: "@",
}
REFUSED_BINOPS: dict[type, str] = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}
UNARYOPS: dict[type, str] = {ast.USub: "neg", ast.UAdd: "pos"}
CMPOPS: dict[type, str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
REFUSED_CMPOPS: dict[type, str] = {
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}

OPERATORS: dict[str, Callable[..., Any]] = {
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

REFUSED_NODES: dict[type, str] = {
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
MARKERS = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)

Number = int | float | bool


class ExprError(ValueError):
    """An expression or value the command line refuses; the message says what and how to fix it."""




@dataclass(frozen=True)
class Const:
    """A number in the plan (a literal, a constant, or a folded sub-expression)."""
    value: Number
    src: str


@dataclass(frozen=True)
class Input:
    """An input of the plan: one of the ``--at`` names."""
    name: str
    src: str


@dataclass(frozen=True)
class Apply:
    """An operator or function applied to the plans of its arguments."""
    kind: str  # "op" (an operator from OPERATORS) or "call" (a function from FUNCTIONS)
    name: str
    args: tuple[Plan, ...]
    src: str


Plan = Const | Input | Apply


def cleaned(text: str, limit: int = 60) -> str:
    """``text`` for a one-line message: control characters escaped, long text shortened."""
    text = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quoted(text: str, limit: int = 60) -> str:
    """``text`` quoted as Python would (``repr``), shortened to about ``limit`` characters."""
    text = str(text)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def names_list(names: Iterable[str]) -> str:
    """``names`` joined by commas for a message, or ``(none)``."""
    return ", ".join(names) or "(none)"
