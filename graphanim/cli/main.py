"""The ``graphanim`` entry point: arguments read, one render run, its outcome as an exit status.

``graphanim render EXPR --at NAME=VALUE ... -o OUT`` draws or animates the autograd graph of an
expression (see :mod:`graphanim.cli.expression` for the safe expression language) or of a
function in the user's own file (``path/to/file.py:func``). Exit status: 0 on success, 2 for a
usage or input error (one ``error: ...`` line on stderr, no traceback), 1 for a failure while
running (the user's function raised, a file could not be written, stdout failed, or an internal
error; ``--debug`` shows the traceback), 128 + the signal's number when interrupted (130 Ctrl-C,
143 SIGTERM, 129 SIGHUP).
"""

from __future__ import annotations

import argparse
import signal
import sys
import traceback

from .args import (
    MAX_OPTIONS,
    build_parser,
    count_options,
)
from .language import (
    ExprError,
)
from .messages import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    RunError,
    UsageError,
    one_line,
    report_error,
)
from .run import (
    render,
)
from .signals import (
    Interrupted,
    stop_signals_raise,
)
from .stdout import (
    hold_closed_stdout,
    to_stdout,
)

__all__ = [
    "main",
]



def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and return the exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name.

    Returns
    -------
    int
        0 on success, 2 for a usage or input error, 1 for a failure while running (stdout
        failing included), 128 + the signal's number when interrupted (130 for Ctrl-C, 143 for
        SIGTERM, 129 for SIGHUP).

    Examples
    --------
    >>> argv = ["render", "sin(a*x + c)", "--at", "x=2", "a=3", "c=4", "-o", "sin.png"]
    >>> main(argv)  # doctest: +SKIP
    sin.png
    0
    """
    try:
        with stop_signals_raise():
            return _main(sys.argv[1:] if argv is None else list(argv))
    except Interrupted as stop:  # between the steps that report it themselves
        return _interrupted(stop, "starting")


def _main(args_list: list[str]) -> int:
    closed = hold_closed_stdout()
    parser = build_parser()
    if not args_list:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    options = count_options(args_list)
    if options > MAX_OPTIONS:
        report_error(
            f"too many options ({options:,}; limit {MAX_OPTIONS:,}): give all NAME=VALUE pairs "
            "after one --at"
        )
        return EXIT_USAGE
    try:
        args = parser.parse_args(args_list)
    except SystemExit as stop:  # --help, --version, or argparse's own usage error
        code = stop.code if isinstance(stop.code, int) else EXIT_USAGE
        return code or to_stdout(None, closed=closed)
    if args.command != "render":  # pragma: no cover - "render" is the only command
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    code, out = _run(args)
    if code != EXIT_OK:
        return code
    return to_stdout(out, closed=closed)

def _run(args: argparse.Namespace) -> tuple[int, str]:
    """Render; the exit status and the path written (as given), or the error reported."""
    debug = bool(args.debug)
    what = "rendering"
    try:
        out = render(args)
    except (UsageError, ExprError) as err:
        if debug:
            traceback.print_exc()
        report_error(str(err))
        return EXIT_USAGE, ""
    except RunError as err:
        if debug:
            traceback.print_exc()
        report_error(str(err) + ("" if debug else " (run with --debug for the traceback)"))
        return EXIT_FAILURE, ""
    except KeyboardInterrupt as stop:
        if args.output is not None:
            what = f"rendering {args.output!r}"
        return _interrupted(stop, what), ""
    except Exception as err:
        if debug:
            traceback.print_exc()
        report_error(
            f"internal error: {one_line(err)}"
            + ("" if debug else " (run with --debug for the traceback and please report it)")
        )
        return EXIT_FAILURE, ""
    return EXIT_OK, out


def _interrupted(stop: KeyboardInterrupt, what: str) -> int:
    """Report an interruption in one line; the exit status is 128 + the signal's number."""
    signum = stop.signum if isinstance(stop, Interrupted) else int(signal.SIGINT)
    name = signal.Signals(signum).name
    report_error(
        f"interrupted by {name} while {what}; nothing was written (an existing file is kept)"
    )
    return 128 + signum
