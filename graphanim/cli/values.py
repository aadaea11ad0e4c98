"""``--at`` and ``--grad-output`` values: numbers and bracketed lists read without ``eval``,
their shapes, and the names they are given to."""

from __future__ import annotations

import keyword
import math
import re
import unicodedata
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

from .language import (
    CONSTANTS,
    MAX_ELEMENTS,
    MAX_LENGTH,
    MAX_LIST_DEPTH,
    ExprError,
    quoted,
)

__all__ = [
    "check_name",
    "parse_value",
    "seed_tensors",
    "shape_of",
]



_NUMBER_RE = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)",
    re.IGNORECASE | re.ASCII,
)
_TOKEN_RE = re.compile(r"\s*(?:(\[)|(\])|(,)|([^\s\[\],]+))", re.ASCII)


def _number_value(token: str, what: str) -> float:
    if not _NUMBER_RE.fullmatch(token):
        raise ExprError(
            f"{what}: {quoted(token, 40)} is not a number (numbers look like 2, -1.5, 3e-4, inf; "
            "lists like [1, 2, 3])"
        )
    value = float(token)
    if math.isinf(value) and "inf" not in token.lower():
        raise ExprError(
            f"{what}: {quoted(token, 40)} is beyond the float range (about 1.8e308); "
            "write inf for infinity"
        )
    return value


def _list_tokens(text: str, what: str) -> list[str]:
    """The tokens of a bracketed list: ``[``, ``]``, ``,`` and number texts."""
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
        raise ExprError(f"{what}: cannot read {quoted(text, 40)}")
    return tokens


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

    tokens = _list_tokens(text, what)
    count = 0
    # an explicit stack of open lists: no recursion on hostile nesting
    stack: list[list[Any]] = []
    result: list[Any] | None = None
    expect_item = True
    for tok in tokens:
        if result is not None:
            raise ExprError(f"{what}: unexpected {quoted(tok, 20)} after the closing ']'")
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
                raise ExprError(f"{what}: missing ',' before {quoted(tok, 20)}")
            if not stack:  # pragma: no cover - the text starts with '['
                raise ExprError(f"{what}: unexpected {quoted(tok, 20)}")
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
            f"{what}: {quoted(name, 40)} is not a valid name (letters, digits and '_', "
            "not starting with a digit)"
        )
    if keyword.iskeyword(normal):
        raise ExprError(f"{what}: {quoted(name, 40)} is a Python keyword; pick another name")
    if normal.startswith("__"):
        raise ExprError(f"{what}: names may not start with '__' ({quoted(name, 40)})")
    if normal in reserved:
        kind = "constant" if normal in CONSTANTS else "function"
        raise ExprError(
            f"{what}: {normal!r} is a {kind} of the expression language; pick another name"
        )
    return normal


def seed_tensors(seeds: Sequence[Any]) -> list[torch.Tensor]:
    """The ``--grad-output`` seeds (numbers or nested lists) as float64 tensors."""
    import torch

    return [torch.tensor(s, dtype=torch.float64) for s in seeds]
