"""The command line's expression language (kept for imports): it lives in :mod:`graphanim.cli`
(``language``, ``syntax``, ``shapes``, ``expression``, ``values``); new code imports from there.
"""

from __future__ import annotations

from .cli.expression import (
    CompiledExpression,
    Expression,
    compile_expression,
    parse_expression,
)
from .cli.language import (
    CONSTANTS,
    FUNCTIONS,
    MAX_DEPTH,
    MAX_ELEMENTS,
    MAX_INPUTS,
    MAX_LENGTH,
    MAX_LIST_DEPTH,
    MAX_NODES,
    MAX_POWER_BITS,
    MAX_TOTAL_ELEMENTS,
    ExprError,
)
from .cli.values import (
    check_name,
    parse_value,
    shape_of,
)

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
