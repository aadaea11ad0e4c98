"""The ``graphanim`` command line (``graphanim render ...``, ``python -m graphanim``).

=========== ====================================================================
module      job
=========== ====================================================================
main        the entry point :func:`main`: one run, its outcome as an exit status
args        the argument parser, its help text, values that start with '-'
run         one ``render``: values read, the graph captured, the file written
output      the output path checked (and fixed) before any work
userfile    ``FILE.py:FUNC``: the user's file imported, its function called
values      ``--at`` / ``--grad-output`` values: numbers and lists, their shapes, names
language    the expression language's table: limits, functions, operators, the plan
syntax      an expression parsed with ``ast`` and checked against the allow-list
shapes      shapes by torch's rules, worked out before anything runs
expression  a checked expression compiled to a function of torch calls
messages    exit codes, error types, one-line messages
signals     SIGTERM/SIGHUP stop a run as Ctrl-C does
stdout      printing the written path when stdout is closed, full or gone
=========== ====================================================================
"""

from __future__ import annotations

from .args import DEFAULT_ANIMATION_OUTPUT, DEFAULT_OUTPUT, DIRECTIONS, build_parser
from .main import main
from .messages import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError
from .signals import Interrupted
from .userfile import load_function

__all__ = [
    "DEFAULT_ANIMATION_OUTPUT",
    "DEFAULT_OUTPUT",
    "DIRECTIONS",
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "Interrupted",
    "UsageError",
    "build_parser",
    "load_function",
    "main",
]
