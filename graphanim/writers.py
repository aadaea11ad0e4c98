"""Output files (kept for imports): the writers now live in :mod:`graphanim.io`.

Everything public here is :mod:`graphanim.io`'s, under the same names; new code imports from
there.
"""

from __future__ import annotations

from . import io as _io
from .io import *  # noqa: F403 - the same public names

__all__ = list(_io.__all__)
