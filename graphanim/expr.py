"""The command line's expression language (kept for imports): it lives in :mod:`graphanim.cli`.

The public names here are those of :mod:`graphanim.cli.language` (limits, functions, the error
type), :mod:`graphanim.cli.values` and :mod:`graphanim.cli.expression`; new code imports from
there.
"""

from __future__ import annotations

from .cli import expression as _expression
from .cli import language as _language
from .cli import values as _values
from .cli.expression import *  # noqa: F403 - the same public names
from .cli.language import *  # noqa: F403
from .cli.values import *  # noqa: F403

__all__ = [*_language.__all__, *_values.__all__, *_expression.__all__]
