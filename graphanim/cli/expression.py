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
import math
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

from ..ops import op_info
from .language import (
    ARITY,
    CONSTANTS,
    FUNCTIONS,
    MAX_ELEMENTS,
    MAX_INPUTS,
    OPERATORS,
    REDUCTIONS,
    Const,
    ExprError,
    Input,
    Plan,
    names_list,
    quoted,
)
from .shapes import (
    ShapeInfo,
    infer_shape,
    uses_input,
)
from .syntax import (
    PlanBuilder,
    check_syntax,
    measure,
    parse_tree,
)
from .values import shape_of

__all__ = [
    "CompiledExpression",
    "Expression",
    "compile_expression",
    "parse_expression",
]


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
    _plans: tuple[Plan, ...]

    def function(self, names: Sequence[str]) -> Callable[..., Any]:
        """A Python function of the tensors ``names`` (in that order) that computes the expression.

        It returns one tensor, or a tuple of tensors for a tuple expression. It walks the checked
        plan and calls torch directly; it holds no tensors itself.
        """
        order = tuple(names)
        missing = [n for n in self.inputs if n not in order]
        if missing:
            raise ExprError(f"no value for {names_list(missing)}")
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
        inputs: dict[str, ShapeInfo] = {}
        total = 0
        for name in self.inputs:
            shape = tuple(int(s) for s in shapes[name])
            inputs[name] = ShapeInfo(shape, "float")
            total += math.prod(shape)
        counter = [total]
        out: list[tuple[int, ...]] = []
        for src, plan in zip(self.outputs, self._plans, strict=True):
            info = infer_shape(plan, inputs, counter)
            what = ("output " if len(self._plans) > 1 else "the expression ") + quoted(src)
            if info.dtype == "bool":
                raise ExprError(
                    f"{what} is a comparison (true/false), which has no gradient; "
                    "use it inside where(cond, a, b) or multiply it by a value"
                )
            out.append(info.shape)
        return tuple(out)


def _check_names(tree: ast.Expression, known: Sequence[str]) -> None:
    """Every name is known: an input, a constant, or a function that is called."""
    # every name, in order of appearance: unknown ones are reported together
    unknown: list[str] = []
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if id(node) in called:
            continue
        if isinstance(node, ast.Name) and node.id not in known and node.id not in CONSTANTS:
            if node.id in ARITY:
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
            f"(given: {names_list(known)}){extra}"
        )


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
    graphanim.cli.language.ExprError: unsupported syntax: attribute access 'x.__class__'
    """
    # Python reads identifiers in NFKC form: 'e' + a combining accent in a name is the 'é' of the
    # parsed expression, and so is a name given either way
    known = list(dict.fromkeys(unicodedata.normalize("NFKC", n) for n in names))
    tree = parse_tree(text)
    measure(tree)
    check_syntax(tree, text.strip())

    _check_names(tree, known)

    builder = PlanBuilder(text.strip(), set(known))
    body = tree.body
    parts = body.elts if isinstance(body, ast.Tuple) else [body]
    if not parts:
        raise ExprError("unsupported syntax: empty tuple '()'")
    plans = tuple(builder.build(p) for p in parts)
    srcs = tuple(builder.seg(p) for p in parts)
    for src, plan in zip(srcs, plans, strict=True):
        if not uses_input(plan):
            what = "the expression" if len(plans) == 1 else "output"
            raise ExprError(
                f"{what} {quoted(src)} does not depend on any --at name, so it has no gradient "
                "to show; use the names given with --at"
            )
    return Expression(text, tuple(builder.used), srcs, plans)




@functools.cache
@functools.cache
def _torch_functions() -> dict[str, Callable[..., Any]]:
    """Function name -> the torch function it calls: the op table's torch function where it is
    the function of that name, else the ones below (they take a dim, a bound or a condition,
    live in ``torch.nn.functional``, or are a vector norm). ``max``/``min`` are in :func:`_call`."""
    import torch
    import torch.nn.functional as F

    table = {
        name: fn
        for name in FUNCTIONS
        if op_info(name).torch_name == name and (fn := op_info(name).function) is not None
    }
    return {
        **table,
        "gelu": F.gelu,
        "logsigmoid": F.logsigmoid,
        "silu": F.silu,
        "softplus": F.softplus,
        "softmax": torch.softmax,
        "log_softmax": torch.log_softmax,
        "norm": torch.linalg.vector_norm,
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
    if name in REDUCTIONS:
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


def _evaluate(plan: Plan, env: Mapping[str, Any]) -> Any:
    """Run the plan on real tensors; torch's own errors propagate unchanged."""
    if isinstance(plan, Const):
        return plan.value
    if isinstance(plan, Input):
        return env[plan.name]
    args = [_evaluate(a, env) for a in plan.args]
    if plan.kind == "op":
        return OPERATORS[plan.name](*args)
    return _call(plan.name, args)



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
                f"the name {name!r} is given twice ({quoted(key, 40)} is the same name)"
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
