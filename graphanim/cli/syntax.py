"""Reading an expression: parsed with ``ast``, the whole tree checked against the allow-list
before anything is computed, then built into a plan (constants folded)."""

from __future__ import annotations

import ast
import difflib
import math
from collections.abc import Collection, Sequence
from typing import Any

from .language import (
    ARITY,
    BINOPS,
    CMPOPS,
    CONSTANTS,
    FUNCTIONS,
    INT64_MAX,
    MARKERS,
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NODES,
    MAX_POWER_BITS,
    OPERATORS,
    REDUCTIONS,
    REFUSED_BINOPS,
    REFUSED_CMPOPS,
    REFUSED_NODES,
    UNARYOPS,
    Apply,
    Const,
    ExprError,
    Input,
    Number,
    Plan,
    cleaned,
    quoted,
)

__all__ = [
    "PlanBuilder",
    "check_syntax",
    "measure",
    "parse_tree",
]



def parse_tree(text: str) -> ast.Expression:
    """``text`` parsed with ``ast`` (mode ``"eval"``); a parser failure is an :class:`ExprError`."""
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
            f"invalid expression{where}: {cleaned(err.msg or 'invalid syntax', 100)} "
            '(EXPR must be one Python expression, e.g. "sin(a*x + c)")'
        ) from None
    except (RecursionError, MemoryError):
        raise ExprError(
            f"expression nested too deeply for the parser (limit {MAX_DEPTH} levels)"
        ) from None
    except ValueError as err:  # e.g. null bytes on older Pythons, integer-string limits
        raise ExprError(f"invalid expression: {cleaned(str(err), 100)}") from None
    return tree


def measure(tree: ast.Expression) -> None:
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
            if not isinstance(child, MARKERS):
                stack.append((child, depth + 1))


def _is_dunder(name: str) -> bool:
    return name.startswith("__")


def _describe_call_target(func: ast.expr, seg: str) -> str:
    if isinstance(func, ast.Attribute):
        hint = ""
        if func.attr in ARITY:
            hint = f" (call functions by bare name: {func.attr}(...))"
        return f"unsupported syntax: attribute access {quoted(seg)}{hint}"
    if isinstance(func, ast.Call):
        return f"unsupported syntax: call of a call result {quoted(seg)}"
    return f"unsupported syntax: call of an expression {quoted(seg)} (call functions by name)"


def check_syntax(tree: ast.Expression, text: str) -> None:
    """Refuse every node that is not on the allow-list; outermost offenders are reported first."""

    def seg(node: ast.AST) -> str:
        return ast.get_source_segment(text, node) or type(node).__name__

    queue: list[ast.AST] = [tree.body]
    i = 0
    while i < len(queue):
        node = queue[i]
        i += 1
        if isinstance(node, ast.BinOp):
            if type(node.op) not in BINOPS:
                sym = REFUSED_BINOPS.get(type(node.op), type(node.op).__name__)
                raise ExprError(
                    f"unsupported syntax: operator '{sym}' in {quoted(seg(node))} "
                    "(operators: + - * / ** @)"
                )
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in UNARYOPS:
                sym = "not" if isinstance(node.op, ast.Not) else "~"
                raise ExprError(f"unsupported syntax: operator '{sym}' in {quoted(seg(node))}")
        elif isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                raise ExprError(
                    f"unsupported syntax: chained comparison {quoted(seg(node))} "
                    "(compare two values at a time)"
                )
            if type(node.ops[0]) not in CMPOPS:
                sym = REFUSED_CMPOPS.get(type(node.ops[0]), type(node.ops[0]).__name__)
                raise ExprError(
                    f"unsupported syntax: operator '{sym}' in {quoted(seg(node))} "
                    "(comparisons: < <= > >= == !=)"
                )
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                shown = node if isinstance(node.func, ast.Call) else node.func
                raise ExprError(_describe_call_target(node.func, seg(shown)))
            name = node.func.id
            if _is_dunder(name):
                raise ExprError(f"unsupported syntax: dunder name {quoted(name)}")
            if name not in ARITY:
                close = difflib.get_close_matches(name, FUNCTIONS, n=1)
                hint = f"did you mean {close[0]}?" if close else f"functions: {' '.join(FUNCTIONS)}"
                raise ExprError(f"unsupported syntax: call to {quoted(name)} ({hint})")
            for kw in node.keywords:
                what = "'**' argument" if kw.arg is None else f"keyword argument '{kw.arg}='"
                raise ExprError(
                    f"unsupported syntax: {what} in {quoted(seg(node))} "
                    "(pass arguments by position)"
                )
            queue.extend(node.args)
            continue  # the function name itself is checked above
        elif isinstance(node, ast.Name):
            if _is_dunder(node.id):
                raise ExprError(f"unsupported syntax: dunder name {quoted(node.id)}")
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or value is None:
                raise ExprError(f"unsupported syntax: {value!r} (use numbers, e.g. 1 or 0)")
            if isinstance(value, (str, bytes)):
                kind = "string" if isinstance(value, str) else "bytes"
                raise ExprError(f"unsupported syntax: {kind} literal {quoted(seg(node))}")
            if isinstance(value, complex):
                raise ExprError(f"unsupported syntax: complex number {quoted(seg(node))}")
            if not isinstance(value, (int, float)):
                raise ExprError(f"unsupported syntax: {quoted(seg(node))}")
        elif isinstance(node, ast.Tuple):
            if node is not tree.body:
                raise ExprError(
                    f"unsupported syntax: tuple {quoted(seg(node))} (only the whole expression may "
                    'be a tuple of outputs, e.g. "a*b, a+b")'
                )
        elif isinstance(node, MARKERS):
            continue
        else:
            what, _, hint = REFUSED_NODES.get(type(node), type(node).__name__).partition(" (")
            hint = f" ({hint}" if hint else ""
            raise ExprError(f"unsupported syntax: {what} {quoted(seg(node))}{hint}")
        queue.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, MARKERS))




def _number(value: Any, src: str) -> Number:
    """A folded constant as torch can take it: bools, int64 ints, or real floats."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if -INT64_MAX <= value <= INT64_MAX:
            return value
        try:
            return float(value)
        except OverflowError:
            raise ExprError(f"number too large in {quoted(src)} (beyond the float range)") from None
    if isinstance(value, float):
        if not math.isfinite(value):  # 1e400, or 1e300 * 1e300: Python gives inf, no error
            raise ExprError(
                f"number too large in {quoted(src)} (beyond the float range, about 1.8e308)"
            )
        return value
    if isinstance(value, complex):
        raise ExprError(f"{quoted(src)} has no real value (the result would be complex)")
    raise ExprError(f"{quoted(src)} is not a number")  # pragma: no cover - checked earlier


def _power(a: Number, b: Number, src: str) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b >= 0:
        if abs(a) > 1 and b * math.log2(abs(a)) > MAX_POWER_BITS:
            digits = b * math.log10(abs(a))
            raise ExprError(
                f"integer power too large: {quoted(src)} would have about {digits:,.0f} digits "
                f"(limit 2**{MAX_POWER_BITS}); it is not computed"
            )
        return a**b
    return float(a) ** float(b)


def _fold(op: str, args: Sequence[Number], src: str) -> Number:
    try:
        if op == "**":
            result = _power(args[0], args[1], src)
        elif op == "@":
            raise ExprError(f"matrix product of two numbers in {quoted(src)}; '@' needs tensors")
        else:
            result = OPERATORS[op](*args)
    except ZeroDivisionError:
        raise ExprError(f"division by zero in {quoted(src)}") from None
    except OverflowError:
        raise ExprError(f"number too large in {quoted(src)} (beyond the float range)") from None
    return _number(result, src)




class PlanBuilder:
    """Builds the plan of a checked tree, folding constant parts and noting the inputs used."""
    def __init__(self, text: str, names: Collection[str]) -> None:
        self.text = text
        self.names = names
        self.used: list[str] = []

    def seg(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or type(node).__name__

    def build(self, node: ast.expr) -> Plan:
        src = self.seg(node)
        if isinstance(node, ast.Constant):
            return Const(_number(node.value, src), src)
        if isinstance(node, ast.Name):
            if node.id in self.names:
                if node.id not in self.used:
                    self.used.append(node.id)
                return Input(node.id, src)
            return Const(CONSTANTS[node.id], src)
        if isinstance(node, ast.UnaryOp):
            operand = self.build(node.operand)
            op = UNARYOPS[type(node.op)]
            if op == "pos":  # +x is x, as in Python (torch would add a no-op node)
                return operand
            if isinstance(operand, Const):
                return Const(_fold(op, [operand.value], src), src)
            return Apply("op", op, (operand,), src)
        if isinstance(node, (ast.BinOp, ast.Compare)):
            if isinstance(node, ast.BinOp):
                op = BINOPS[type(node.op)]
                parts = [node.left, node.right]
            else:
                op = CMPOPS[type(node.ops[0])]
                parts = [node.left, node.comparators[0]]
            args = tuple(self.build(p) for p in parts)
            if all(isinstance(a, Const) for a in args):
                return Const(_fold(op, [a.value for a in args], src), src)  # type: ignore[union-attr]
            return Apply("op", op, args, src)
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)  # checked by check_syntax
            return self.call(node.func.id, node, src)
        raise ExprError(f"unsupported syntax: {quoted(src)}")  # pragma: no cover - checked earlier

    def call(self, name: str, node: ast.Call, src: str) -> Plan:
        lo, hi = ARITY[name]
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            if hi is None:
                want = f"at least {lo} argument{'s' if lo > 1 else ''}"
            elif lo == hi:
                want = f"{lo} argument{'s' if lo > 1 else ''}"
            else:
                want = f"{lo} to {hi} arguments"
            raise ExprError(f"{name}() takes {want}, got {n} in {quoted(src)}")
        args = tuple(self.build(a) for a in node.args)
        if name in REDUCTIONS and n == 2:
            dim = args[1]
            if not (isinstance(dim, Const) and type(dim.value) is int):
                raise ExprError(
                    f"the second argument of {name}() is a dimension and must be an integer, "
                    f"e.g. {name}(x, 0); got {quoted(dim.src)}"
                )
        if name == "pow" and all(isinstance(a, Const) for a in args):
            return Const(_fold("**", [a.value for a in args], src), src)  # type: ignore[union-attr]
        return Apply("call", name, args, src)
