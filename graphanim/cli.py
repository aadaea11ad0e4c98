"""The ``graphanim`` command line: argument parsing, input checks, output safety and exit codes.

``graphanim render EXPR --at NAME=VALUE ... -o OUT`` draws or animates the autograd graph of an
expression (see :mod:`graphanim.expr` for the safe expression language) or of a function in the
user's own file (``path/to/file.py:func``). Exit status: 0 on success, 2 for a usage or input error
(one ``error: ...`` line on stderr, no traceback), 1 for a failure while running (the user's
function raised, a file could not be written, stdout failed, or an internal error; ``--debug``
shows the traceback), 128 + the signal's number when interrupted (130 Ctrl-C, 143 SIGTERM, 129
SIGHUP).
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import inspect
import os
import re
import signal
import sys
import textwrap
import traceback
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from .expr import (
    CONSTANTS,
    FUNCTIONS,
    MAX_DEPTH,
    MAX_ELEMENTS,
    MAX_INPUTS,
    MAX_LENGTH,
    MAX_NODES,
    MAX_POWER_BITS,
    MAX_TOTAL_ELEMENTS,
    ExprError,
    check_name,
    parse_value,
    shape_of,
)
from .writers import (
    ANIMATION_FORMATS,
    STATIC_FORMATS,
    FFmpegError,
    FFmpegNotFoundError,
    allow_overwrite,
    check_fps,
    check_output_path,
    check_replaceable,
    check_writable,
)

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

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

#: Where ``render`` writes when ``-o`` is not given and the picture is static.
DEFAULT_OUTPUT = "graph.png"
#: Where ``render`` writes when ``-o`` is not given and ``--direction`` asks for an animation.
DEFAULT_ANIMATION_OUTPUT = "graph.gif"
#: Values of ``--direction``; ``"none"`` is a static picture.
DIRECTIONS = ("forward", "backward", "both", "none")

_FFMPEG_FORMATS = (".mp4", ".webm")
_SHORT_OPTIONS = ("-o", "-h")
_LONG_OPTION_RE = re.compile(r"--[A-Za-z][\w-]*(=.*)?\Z", re.DOTALL)
_DPI_RANGE = (10, 600)
#: More options than this are refused before argparse reads them: its parsing time grows with
#: the square of the number of options, and no valid command needs this many (--at takes all
#: the pairs after one flag, and at most MAX_INPUTS names).
_MAX_OPTIONS = 1000
_MAX_MESSAGE = 4000  # characters of an error line; longer ones are cut
# Characters that reorder or hide text: refused in output paths (the path is printed back).
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

# "NAME=VALUE": a name (anything up to the first '=') followed by exactly one '='
_PAIR_RE = re.compile(r"\s*([^\s=\[\](){}<>!*+\-/%@,.:'\"]+)\s*=(?!=)(.*)\Z", re.DOTALL)
_FILE_SPEC_RE = re.compile(r"(?P<path>.+\.py)(?::(?P<func>.*))?\Z", re.DOTALL)


class UsageError(ValueError):
    """A usage or input error: reported as one ``error: ...`` line, exit status 2."""


class _RunError(RuntimeError):
    """A failure while running (the user's code raised, a file could not be written): exit 1."""


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM or SIGHUP, as ``KeyboardInterrupt`` is on SIGINT.

    Being a ``KeyboardInterrupt``, it runs the same clean-up (a partial file is removed, an
    existing one kept); the command line exits with status 128 + :attr:`signum`.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: Signals that stop a run cleanly; SIGINT raises KeyboardInterrupt already.
_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted(signum)


@contextmanager
def _stop_signals_raise() -> Iterator[None]:
    """SIGTERM/SIGHUP raise :class:`Interrupted` inside the block (main thread only)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        sig: signal.signal(sig, _raise_interrupted)
        for sig in _STOP_SIGNALS
        if signal.getsignal(sig) is not signal.SIG_IGN  # kept ignored, e.g. under nohup
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --------------------------------------------------------------------------------------------
# the parser


_DESCRIPTION = """\
Draw or animate the autograd graph of an expression or of a Python function: forward values
and gradients on every node and edge, as a picture (PNG, SVG, PDF) or an animation (GIF, MP4,
WebM, HTML player)."""

_RENDER_EPILOG = f"""\
examples, one per output format:
  PNG, a static picture with values and gradients:
    graphanim render "sin(a*x + c)" --at x=2 a=3 c=4 -o sin.png
  SVG:
    graphanim render "((x**2 + y) * z)**2" --at x=1 y=2 z=4 -o square.svg
  PDF, dark theme:
    graphanim render "(a + b) * (b + 1)" --at a=2 b=1 -o e.pdf --theme dark
  GIF, gradients flowing backward (the default direction of animations):
    graphanim render "1 / -max(exp(x0*w0 + x1*w1), w2)" --at x0=4 w0=1 x1=-2 w1=2 w2=0.5 -o max.gif
  MP4, forward then backward (needs ffmpeg; imageio-ffmpeg provides one):
    graphanim render "sigmoid(dot(w, x) + b)" --at w=[1,2] x=[3,-1] b=0.5 --direction both \\
        -o neuron.mp4
  WebM, the forward pass at 1 frame per second, with a vector input (quote lists with spaces):
    graphanim render "sum(x**2)" --at "x=[1, 2, 3]" --direction forward --fps 1 -o fwd.webm
  HTML, a self-contained player, from a function in your own file:
    graphanim render model.py:loss --at w=0.5 b=0.1 -o loss.html

TARGET is an expression or FILE.py:FUNC.
  An expression is one Python expression over the --at names, checked before anything runs:
    numbers, the --at names, pi, + - * / ** @, unary - and +, comparisons < <= > >= == != (for
    where), parentheses, and calls by bare name to:
{textwrap.fill(" ".join(FUNCTIONS), width=96, initial_indent=" " * 6, subsequent_indent=" " * 6)}
    max(a, b) and min(a, b) are elementwise (torch.maximum/minimum); max(x) and min(x) reduce.
    sum/mean/prod/softmax/log_softmax take an optional integer dimension: sum(x, 0).
    "a*b, a+b" has two outputs (give one --grad-output per output).
    Anything else (attributes, subscripts, strings, lambdas, keyword arguments, ...) is refused.
    Limits: {MAX_LENGTH:,} characters, {MAX_DEPTH} levels of nesting, {MAX_NODES} parts,
    {MAX_ELEMENTS:,} elements per tensor, integer powers below 2**{MAX_POWER_BITS}.
  FILE.py:FUNC imports your file as Python does (its top-level code runs) and renders FUNC with
    the --at values passed by position, in the order of FUNC's parameters.

values:
  --at NAME=VALUE ...   a number (2, -1.5, 3e-4, inf) or a bracketed list ([1,2,3],
                        [[1,2],[3,4]]); each name once; may be repeated. Names that the
                        expression does not use are skipped with a warning.
  --grad-output V ...   the seed of the backward pass, one per output: a number (every element)
                        or a list of the output's shape. Default: 1 for a scalar output; a
                        vector output needs one (--grad-output 1), or reduce it with sum(...).

output:
  The format follows the suffix of -o:
    static pictures, values and gradients:      {" ".join(STATIC_FORMATS)}
    animations (--direction, default backward): {" ".join(ANIMATION_FORMATS)}
  Without -o the output is {DEFAULT_OUTPUT} in the current folder ({DEFAULT_ANIMATION_OUTPUT} when
  --direction asks for an animation), replaced if it exists, like any -o file. A file is replaced
  only once the new one is complete (written to a temporary file, then renamed); a path whose
  suffix is not an output format (e.g. script.py) is never written. A path that is a symbolic
  link is replaced by the new file: the file it points to is never written. Paths are taken as
  given (relative ones, "..", absolute ones), from the folder the command started in (a
  function that changes directory does not move them); "-" (stdout), folders, names ending in
  "/" and names with control characters are refused. A write-protected (read-only) file is kept
  and refused, unless --force. The path written is printed on stdout.

exit status:
  0 success; 2 usage or input error (one "error: ..." line on stderr); 1 the function raised, the
  file could not be written, stdout failed, or an internal error (--debug shows the traceback);
  128 + the signal's number when interrupted (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP): the temporary
  file is removed and an existing file kept.
"""


_RENDER_USAGE = """\
graphanim render TARGET [--at NAME=VALUE ...] [--grad-output V ...] [-o OUT]
                        [--direction {forward,backward,both,none}] [--fps N]
                        [--theme {light,dark}] [--layout {layered,dot}] [--depth K]
                        [--dpi N] [--force] [--debug]"""


class _Extend(argparse.Action):
    """argparse's ``extend`` action without its copy of the whole list at every repetition
    (which makes ``--at a=1 --at b=2 ...`` quadratic in the number of flags)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        items = getattr(namespace, self.dest, None)
        if items is None:
            items = []
            setattr(namespace, self.dest, items)
        items.extend(values)


def is_value(arg: str) -> bool:
    """True when a command-line argument that starts with '-' is a value, not an option.

    ``render "-x*2"``, ``--at x=-1e3``, ``-o -x.png``, ``--depth -1``: an argument that starts with
    a single '-' and is not one of the short options (``-o``, ``-h``, also with the value joined:
    ``-ox.png``), or with '--' but is not shaped like a long option (``--name`` or
    ``--name=value``), is a value. Other arguments (options, and anything not starting with '-')
    give False.
    """
    if arg.startswith("--"):
        return arg != "--" and not _LONG_OPTION_RE.match(arg)
    return arg.startswith("-") and len(arg) > 1 and arg[:2] not in _SHORT_OPTIONS


class _Parser(argparse.ArgumentParser):
    """argparse, except that values starting with '-' (see :func:`is_value`) are values.

    argparse reads any argument starting with '-' as an option unless it looks like a plain
    negative number; here such a value is handed on exactly as given.
    """

    def _parse_optional(self, arg_string: str) -> Any:
        if is_value(arg_string):
            return None  # argparse's answer for a positional argument (a value)
        return super()._parse_optional(arg_string)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=28, width=100)


def _depth(text: str) -> int | str:
    """--depth: a nesting level (0, 1, ...) or 'full'."""
    if text.strip().lower() == "full":
        return "full"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number >= 0 or 'full', got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0 or 'full', got {text!r}")
    return value


def _fps(text: str) -> float:
    """--fps: a finite number above 0 (each format's limits are checked with -o's suffix)."""
    try:
        return check_fps(float(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: {err}") from None


def _dpi(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    lo, hi = _DPI_RANGE
    if not lo <= value <= hi:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range ({lo} to {hi})")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``graphanim`` argument parser (``render`` is its one command).

    Returns
    -------
    argparse.ArgumentParser
    """
    from . import __version__

    parser = _Parser(
        prog="graphanim",
        description=_DESCRIPTION,
        epilog='Run "graphanim render --help" for the options and examples.',
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"graphanim {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    render = commands.add_parser(
        "render",
        usage=_RENDER_USAGE,
        help="draw or animate the graph of an expression or of FILE.py:FUNC",
        description=_DESCRIPTION,
        epilog=_RENDER_EPILOG,
        formatter_class=_Formatter,
    )
    render.add_argument(
        "target",
        nargs="?",
        metavar="TARGET",
        help='an expression such as "sin(a*x + c)", or FILE.py:FUNC',
    )
    render.add_argument(
        "--at",
        action=_Extend,
        nargs="+",
        default=None,
        metavar="NAME=VALUE",
        help="input values: numbers or bracketed lists (repeatable)",
    )
    render.add_argument(
        "--grad-output",
        action=_Extend,
        nargs="+",
        default=None,
        metavar="V",
        help="seed(s) of the backward pass, one per output (default: 1 for scalar outputs)",
    )
    render.add_argument(
        "--direction",
        choices=DIRECTIONS,
        default=None,
        help="animation direction, or none for a static picture (default: none for "
        f"{'/'.join(STATIC_FORMATS)}, backward for {'/'.join(ANIMATION_FORMATS)})",
    )
    render.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        default=None,
        help=f"output file; the suffix picks the format (default: {DEFAULT_OUTPUT}, or "
        f"{DEFAULT_ANIMATION_OUTPUT} with --direction forward/backward/both)",
    )
    render.add_argument(
        "--fps",
        type=_fps,
        default=None,
        metavar="N",
        help="animation frames per second (default: 2)",
    )
    render.add_argument("--theme", choices=("light", "dark"), default="light", help="colours")
    render.add_argument(
        "--layout",
        choices=("layered", "dot"),
        default="layered",
        help="node placement: built-in layered (default) or Graphviz dot (needs Graphviz)",
    )
    render.add_argument(
        "--depth",
        type=_depth,
        default=None,
        metavar="K",
        help="nn.Module nesting shown open; each call of a deeper module folds into one node "
        "(default: automatic for big graphs; 'full' never folds)",
    )
    render.add_argument(
        "--dpi",
        type=_dpi,
        default=None,
        metavar="N",
        help=f"resolution in dots per inch ({_DPI_RANGE[0]} to {_DPI_RANGE[1]})",
    )
    render.add_argument(
        "--force",
        action="store_true",
        help="replace the output file even when it is write-protected (read-only)",
    )
    render.add_argument(
        "--debug", action="store_true", help="show the full traceback when something fails"
    )
    return parser


# --------------------------------------------------------------------------------------------
# entry point


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
        with _stop_signals_raise():
            return _main(sys.argv[1:] if argv is None else list(argv))
    except Interrupted as stop:  # between the steps that report it themselves
        return _interrupted(stop, "starting")


def _main(args_list: list[str]) -> int:
    closed = _hold_closed_stdout()
    parser = build_parser()
    if not args_list:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    options = _count_options(args_list)
    if options > _MAX_OPTIONS:
        _error(
            f"too many options ({options:,}; limit {_MAX_OPTIONS:,}): give all NAME=VALUE pairs "
            "after one --at"
        )
        return EXIT_USAGE
    try:
        args = parser.parse_args(args_list)
    except SystemExit as stop:  # --help, --version, or argparse's own usage error
        code = stop.code if isinstance(stop.code, int) else EXIT_USAGE
        return code or _to_stdout(None, closed=closed)
    if args.command != "render":  # pragma: no cover - "render" is the only command
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    code, out = _run(args)
    if code != EXIT_OK:
        return code
    return _to_stdout(out, closed=closed)


def _hold_closed_stdout() -> bool:
    """True when the program started with stdout closed (``>&-``).

    The null device then takes its file descriptor, so that no file opened later (the output's
    temporary file, ffmpeg's pipe) becomes "stdout" by chance.
    """
    if sys.stdout is not None:
        return False
    try:
        os.fstat(1)
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        if devnull != 1:  # pragma: no cover - the lowest free descriptor is 1 here
            os.dup2(devnull, 1)
            os.close(devnull)
    return True


def _to_stdout(path: str | None, *, closed: bool) -> int:
    """Print the written ``path`` (if any) and flush stdout; the exit status.

    A reader that went away (``| head -0``) is no error: status 0, the file is written. A closed
    stdout (``>&-``) or one that fails (``> /dev/full``) is reported in one line on stderr,
    status 1; the file is complete all the same. After a failure stdout is pointed at the null
    device, so that the flush at exit does not fail again.
    """
    try:
        if closed:
            raise OSError(errno.EBADF, "stdout is closed")
        if path is not None:
            _print_path(path)
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_stdout()
        return EXIT_OK
    except OSError as err:
        _drop_stdout()
        written = f"; {path!a} was written" if path else ""
        _error(f"cannot write to stdout ({err.strerror or err}){written}")
        return EXIT_FAILURE
    return EXIT_OK


def _drop_stdout() -> None:
    """Point stdout at the null device: its pending output is dropped, the exit flush passes."""
    if sys.stdout is None:
        return
    with suppress(OSError, ValueError):
        fd = sys.stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


def _run(args: argparse.Namespace) -> tuple[int, str]:
    """Render; the exit status and the path written (as given), or the error reported."""
    debug = bool(args.debug)
    what = "rendering"
    try:
        out = _render(args)
    except (UsageError, ExprError) as err:
        if debug:
            traceback.print_exc()
        _error(str(err))
        return EXIT_USAGE, ""
    except _RunError as err:
        if debug:
            traceback.print_exc()
        _error(str(err) + ("" if debug else " (run with --debug for the traceback)"))
        return EXIT_FAILURE, ""
    except KeyboardInterrupt as stop:
        if args.output is not None:
            what = f"rendering {args.output!r}"
        return _interrupted(stop, what), ""
    except Exception as err:
        if debug:
            traceback.print_exc()
        _error(
            f"internal error: {_one_line(err)}"
            + ("" if debug else " (run with --debug for the traceback and please report it)")
        )
        return EXIT_FAILURE, ""
    return EXIT_OK, out


def _interrupted(stop: KeyboardInterrupt, what: str) -> int:
    """Report an interruption in one line; the exit status is 128 + the signal's number."""
    signum = stop.signum if isinstance(stop, Interrupted) else int(signal.SIGINT)
    name = signal.Signals(signum).name
    _error(f"interrupted by {name} while {what}; nothing was written (an existing file is kept)")
    return 128 + signum


def _count_options(argv: Sequence[str]) -> int:
    """Option flags in ``argv`` (see :func:`is_value`), up to a ``--`` terminator."""
    count = 0
    for arg in argv:
        if arg == "--":
            break
        count += arg.startswith("-") and not is_value(arg)
    return count


def _print_path(path: str) -> None:
    """Print the written path on stdout, byte for byte even when stdout cannot encode it."""
    try:
        print(path)
        sys.stdout.flush()
    except UnicodeEncodeError:  # e.g. 'é' on an ASCII terminal, or undecodable bytes in the name
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is None:
            print(path.encode("ascii", "backslashreplace").decode("ascii"))
        else:
            buffer.write(os.fsencode(path) + b"\n")
            buffer.flush()
        sys.stdout.flush()


def _one_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _error(message: str) -> None:
    # one line, whatever the message holds, and of a readable length (it may quote user input)
    text = " ".join(message.split("\n"))
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    print(f"error: {text}", file=sys.stderr)


def _short(text: str, limit: int = 60) -> str:
    """``text`` shortened for a message (a list value can be megabytes long)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# render


def _render(args: argparse.Namespace) -> str:
    target, pairs = _split_at(args.target, args.at or [])
    target = target.strip()

    # ---- the output first: nothing else runs when it cannot be written ----------------------
    out, shown, direction = _check_output(args.output, args.direction, args.fps, args.force)
    if args.layout == "dot":
        _check_dot()

    # ---- the inputs -------------------------------------------------------------------------
    spec = _FILE_SPEC_RE.match(target)
    is_file = spec is not None
    reserved = () if is_file else (*FUNCTIONS, *CONSTANTS)
    values = _parse_pairs(pairs, reserved)
    seeds = None
    if args.grad_output is not None:
        seeds = [parse_value(v, "--grad-output") for v in _join_lists(args.grad_output)]
    backward = direction != "forward" or seeds is not None

    # ---- the graph --------------------------------------------------------------------------
    if spec is not None:
        graph = _capture_file(spec.group("path"), spec.group("func"), values, seeds, backward)
    else:
        graph = _capture_expression(target, values, seeds, backward)

    # ---- the file (its absolute path: the user's function may have changed directory) -------
    try:
        with allow_overwrite(args.force):
            _write(graph, out, direction, args)
    except FFmpegNotFoundError as err:  # checked above; kept for a check that fails later
        raise UsageError(str(err)) from err
    except (OSError, FFmpegError) as err:
        raise _RunError(f"cannot write {shown!r}: {_one_line(err)}") from err
    return shown


def _write(graph: Any, out: Path, direction: str, args: argparse.Namespace) -> None:
    """Draw or animate ``graph`` into ``out`` with the options of the command line."""
    if direction == "none":
        graph.save(
            out, with_all=True, theme=args.theme, layout=args.layout, dpi=args.dpi,
            depth=args.depth,
        )
        return
    kwargs: dict[str, Any] = {"theme": args.theme, "layout": args.layout, "depth": args.depth}
    if args.fps is not None:
        kwargs["fps"] = args.fps
    if args.dpi is not None:
        kwargs["dpi"] = args.dpi
    graph.animate(direction, **kwargs).save(out)


def _join_lists(tokens: Sequence[str]) -> list[str]:
    """Join the pieces of a bracketed list that the shell split at spaces (``x=[1,`` ``2]``)."""
    out: list[str] = []
    group: list[str] = []  # the pieces of one value, joined once (no quadratic string growth)
    depth = 0
    for tok in tokens:
        group.append(tok)
        depth += tok.count("[") - tok.count("]")
        if depth <= 0:
            out.append(" ".join(group))
            group, depth = [], 0
    if group:  # a list still open at the end is reported by parse_value (missing ']')
        out.append(" ".join(group))
    return out


def _split_at(target: str | None, tokens: Sequence[str]) -> tuple[str, list[tuple[str, str]]]:
    """Group ``--at`` tokens into ``(name, value)`` pairs.

    A list value split by the shell (``--at x=[1, 2]`` unquoted) is joined back, and a single
    token that is not a pair is taken as TARGET when TARGET is missing (``--at`` takes every token
    after it, so ``render --at x=2 "sin(x)"`` puts the expression there).
    """
    pairs: list[tuple[str, str]] = []
    others: list[str] = []
    for tok in _join_lists(tokens):
        m = _PAIR_RE.match(tok)
        if m is None:
            others.append(tok.strip())
        else:
            pairs.append((m.group(1), m.group(2)))
    if target is None and len(others) == 1:
        target = others.pop()
    if others:
        raise UsageError(f"--at takes NAME=VALUE pairs, got {_short(others[0])!r}")
    if target is None:
        raise UsageError(
            "missing TARGET: give an expression or FILE.py:FUNC, e.g. graphanim render "
            '"sin(a*x + c)" --at x=2 a=3 c=4'
        )
    return target, pairs


def _check_output(
    output: str | None, direction: str | None, fps: float | None, force: bool
) -> tuple[Path, str, str]:
    """Check the output path and settle the direction, before any other work.

    Returns the absolute path to write (fixed now: the user's code may change directory), the
    path as given (printed back) and the direction.
    """
    if output is None:
        animated = direction not in (None, "none")
        output = DEFAULT_ANIMATION_OUTPUT if animated else DEFAULT_OUTPUT
    if not output.strip():
        raise UsageError("-o: empty path; name the output file, e.g. -o graph.png")
    if output == "-":
        raise UsageError("-o -: writing to stdout is not supported; name a file, e.g. -o graph.png")
    _check_path_characters(output)
    try:
        path = check_output_path(output, STATIC_FORMATS + ANIMATION_FORMATS)
    except (ValueError, OSError) as err:
        raise UsageError(f"-o: {err}") from None
    if path.exists() and not path.is_file():
        raise UsageError(f"-o: {str(path)!r} exists and is not a regular file; name a file")
    try:
        check_replaceable(path, overwrite=force, hint="pass --force")
        check_writable(path)  # creates and removes a temporary file: what writing will do first
    except OSError as err:
        raise UsageError(f"-o: {err.strerror or err}") from None
    absolute = Path(os.getcwd(), path)  # not resolved: a symbolic link stays the link
    direction = _check_kind(path, direction, fps)
    return absolute, str(path), direction


def _check_kind(path: Path, direction: str | None, fps: float | None) -> str:
    """The direction for the output format of ``path``; ``--fps`` within what it holds."""
    suffix = path.suffix.lower()
    if suffix in STATIC_FORMATS:
        if direction not in (None, "none"):
            raise UsageError(
                f"--direction {direction} makes an animation, but {suffix} is a static picture; "
                f"use an animation suffix ({', '.join(ANIMATION_FORMATS)}) or --direction none"
            )
        if fps is not None:
            raise UsageError(
                f"--fps applies to animations, but {suffix} is a static picture; "
                f"use an animation suffix ({', '.join(ANIMATION_FORMATS)}) or drop --fps"
            )
        return "none"
    if direction == "none":
        raise UsageError(
            f"--direction none draws a static picture, but {suffix} is an animation; "
            f"use {', '.join(STATIC_FORMATS)} or --direction forward/backward/both"
        )
    if fps is not None:
        try:
            check_fps(fps, suffix)
        except ValueError as err:
            raise UsageError(f"--fps: {err}") from None
    if suffix in _FFMPEG_FORMATS and not _ffmpeg_available():
        raise UsageError(
            f"writing {suffix} needs ffmpeg, which was not found (pip install imageio-ffmpeg, or "
            f"install ffmpeg); or write a GIF instead: -o {path.with_suffix('.gif').name}"
        )
    return direction or "backward"


def _check_path_characters(output: str) -> None:
    """Refuse control characters and text-reordering marks in an output path.

    The path is printed back on stdout for scripts to read, one line per file; a newline or a
    right-to-left override in it would make that line lie about the file.
    """
    for ch in output:
        if ch in _BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            name = unicodedata.name(ch, "a control character")
            raise UsageError(
                f"-o: the path {output!a} contains U+{ord(ch):04X} ({name.lower()}); "
                "name the file without control characters"
            )


def _ffmpeg_available() -> bool:
    """True when an ffmpeg program can be found (imageio-ffmpeg's, or one on the PATH)."""
    from .io import video

    return video.find_ffmpeg() is not None


def _check_dot() -> None:
    import shutil

    if shutil.which("dot") is None:
        raise UsageError(
            "--layout dot needs the Graphviz 'dot' program, which was not found; install "
            "Graphviz or use --layout layered"
        )


def _parse_pairs(pairs: Sequence[tuple[str, str]], reserved: Sequence[str]) -> dict[str, Any]:
    if len(pairs) > MAX_INPUTS:
        raise UsageError(f"--at: too many names ({len(pairs)}; limit {MAX_INPUTS})")
    values: dict[str, Any] = {}
    given: dict[str, str] = {}
    total = 0
    for raw_name, raw_value in pairs:
        name = check_name(raw_name, reserved)
        if name in values:
            raise UsageError(
                f"--at {name} given twice ({given[name]} and "
                f"{_short(f'{raw_name}={raw_value.strip()}')}); "
                "give each name once"
            )
        values[name] = parse_value(raw_value, f"--at {name}")
        given[name] = _short(f"{raw_name}={raw_value.strip()}")
        total += _numel(shape_of(values[name]))
        if total > MAX_TOTAL_ELEMENTS:
            raise UsageError(
                f"--at: too many numbers in all ({total:,} up to {name}; limit "
                f"{MAX_TOTAL_ELEMENTS:,})"
            )
    return values


def _seed_tensors(seeds: Sequence[Any]) -> list[Any]:
    import torch

    return [torch.tensor(s, dtype=torch.float64) for s in seeds]


def _capture_expression(
    text: str, values: dict[str, Any], seeds: list[Any] | None, backward: bool
) -> Any:
    from .expr import compile_expression

    if not values:
        raise UsageError(f"no --at values: give a value for each name in {text!r}, e.g. --at x=2")
    compiled = compile_expression(text, values)
    for name in compiled.unused:
        _warn(f"--at {name} is not used in the expression; skipped")
    shapes = compiled.output_shapes
    if seeds is not None:
        if len(seeds) != len(shapes):
            raise UsageError(
                f"--grad-output has {len(seeds)} value{'s' if len(seeds) != 1 else ''} but the "
                f"expression has {len(shapes)} output{'s' if len(shapes) != 1 else ''}; give one "
                "per output"
            )
        for i, (seed, shape) in enumerate(zip(seeds, shapes, strict=True)):
            sshape = shape_of(seed, "--grad-output")
            if sshape != shape and _numel(sshape) != 1:
                which = f"value {i + 1} " if len(shapes) > 1 else ""
                raise UsageError(
                    f"--grad-output {which}has shape {sshape} but output "
                    f"{compiled.expression.outputs[i]!r} has shape {shape}; the seed must match "
                    "(or be one number)"
                )
    elif backward:
        for src, shape in zip(compiled.expression.outputs, shapes, strict=True):
            if _numel(shape) != 1:
                raise UsageError(
                    f"{src!r} has shape {shape}, not a single number, so the backward pass needs "
                    f"a seed: --grad-output 1 (every element seeded with 1) or a list of that "
                    f"shape; or reduce it, e.g. sum({src})"
                )

    from . import TorchGraph

    return TorchGraph(
        compiled.func,
        list(compiled.args),
        None if seeds is None else _seed_tensors(seeds),
        names=list(compiled.names),
        backward=backward,
    )


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


# --------------------------------------------------------------------------------------------
# FILE.py:FUNC


def _defined_functions(path: Path) -> list[str]:
    """Names of the top-level functions in ``path``, read with ``ast`` (nothing runs)."""
    import ast

    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
        return []
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and not node.name.startswith("_")
    ]


def load_function(
    path: str | os.PathLike[str], func: str, *, shown: str | None = None
) -> Callable[..., Any]:
    """Import the Python file ``path`` as Python does and return its attribute ``func``.

    The file's folder is put first on ``sys.path`` while it runs (so its own imports work, as
    when Python runs a script), and the module is registered in ``sys.modules`` under a private
    name (``__name__`` is not ``"__main__"``, so a ``if __name__ == "__main__":`` block does not
    run). The file's top-level code runs: it is the user's own code.

    Parameters
    ----------
    path : str or path-like
        The file; a relative path is taken from the current folder now, before its code runs.
    func : str
        The name of the function (any callable) to return.
    shown : str, optional
        The path as the user gave it, for messages (default: ``path``).

    Raises
    ------
    UsageError
        If the file does not exist, is not valid Python, or has no callable ``func`` (the
        functions it defines are listed).
    _RunError
        If running the file's top-level code raised.
    """
    p = Path(os.getcwd(), path)
    name = os.fspath(path) if shown is None else shown
    if not p.is_file():
        raise UsageError(f"no such file: {name!r}")
    defined = _defined_functions(p)
    listing = f" (functions defined there: {', '.join(defined)})" if defined else ""
    if not func:
        raise UsageError(f"name the function to render: {name}:FUNC{listing}")
    if not func.isidentifier():
        raise UsageError(f"{func!r} is not a function name{listing}")
    stem = re.sub(r"\W", "_", p.stem)
    module_name = f"_graphanim_user_{stem}"
    spec = importlib.util.spec_from_file_location(module_name, p)
    if spec is None or spec.loader is None:  # pragma: no cover - .py files always have a loader
        raise UsageError(f"cannot import {name!r}")
    module = importlib.util.module_from_spec(spec)
    folder = str(p.resolve().parent)
    sys.modules[module_name] = module
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        sys.modules.pop(module_name, None)
        raise UsageError(f"cannot import {name!r}: {_one_line(err)}") from err
    except (Exception, SystemExit) as err:  # the file's own code failed (or called exit)
        sys.modules.pop(module_name, None)
        raise _RunError(f"importing {name!r} raised {_one_line(err)}") from err
    finally:
        _remove_path(folder)
    obj = getattr(module, func, None)
    if obj is None or not callable(obj):
        what = "no function" if obj is None else "not a function:"
        raise UsageError(f"{what} {func!r} in {name!r}{listing}")
    return obj  # type: ignore[no-any-return]


def _remove_path(folder: str) -> None:
    try:
        sys.path.remove(folder)
    except ValueError:  # the user's code removed it itself
        pass


def _signature_target(func: Callable[..., Any]) -> Any:
    forward = getattr(func, "forward", None)
    if (
        forward is not None
        and callable(forward)
        and not inspect.isfunction(func)
        and not isinstance(func, type)
    ):
        return forward  # an nn.Module instance: its forward's parameters
    return func


def _arguments(
    func: Callable[..., Any], label: str, values: dict[str, Any]
) -> tuple[list[str], list[Any]]:
    """The ``--at`` values in ``func``'s parameter order, with clear errors for mismatches."""
    try:
        params = list(inspect.signature(_signature_target(func)).parameters.values())
    except (TypeError, ValueError):
        return list(values), list(values.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    var_positional = any(p.kind == p.VAR_POSITIONAL for p in params)
    keyword_only = {p.name for p in params if p.kind == p.KEYWORD_ONLY}
    pos_names = [p.name for p in positional]
    shown = ", ".join(p.name for p in params) or "none"

    for name in values:
        if name in keyword_only:
            raise UsageError(
                f"{label}: parameter {name!r} is keyword-only; --at values are passed by position"
            )
        if name not in pos_names and not var_positional:
            raise UsageError(f"{label} has no parameter {name!r} (its parameters: {shown})")
    missing = [p.name for p in positional if p.name not in values and p.default is p.empty]
    missing += [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    if missing:
        fix = " ".join(f"{m}=VALUE" for m in missing)
        raise UsageError(f"{label}: missing --at value for {', '.join(missing)}: --at {fix}")
    given = [n for n in pos_names if n in values]
    if given:
        last = pos_names.index(given[-1])
        skipped = [n for n in pos_names[:last] if n not in values]
        if skipped:
            raise UsageError(
                f"{label}: give --at {skipped[0]}=VALUE too: values are passed by position and "
                f"{given[-1]!r} comes after {skipped[0]!r}"
            )
    extras = [n for n in values if n not in pos_names]  # for *args, in the order given
    names = given + extras
    return names, [values[n] for n in names]


def _capture_file(
    path: str,
    func_name: str | None,
    values: dict[str, Any],
    seeds: list[Any] | None,
    backward: bool,
) -> Any:
    label = f"{path}:{func_name or ''}"
    absolute = Path(os.getcwd(), path)  # fixed before the file's own code runs (it may chdir)
    func = load_function(absolute, func_name or "", shown=path)
    names, args = _arguments(func, label, values)
    seed_arg = None if seeds is None else _seed_tensors(seeds)

    from . import TorchGraph

    folder = str(absolute.resolve().parent)
    sys.path.insert(0, folder)  # the function may import its neighbours when it runs
    try:
        return TorchGraph(func, args, seed_arg, names=names, backward=backward)
    except (Exception, SystemExit) as err:
        if _raised_by_graphanim(err) and isinstance(err, (ValueError, TypeError)):
            # the capture refused what the function returned (a non-scalar output, ...)
            message = " ".join(str(err).split())
            if "grad_outputs" in message:
                message += " (on the command line: --grad-output V, one per output)"
            raise UsageError(f"{label}: {message}") from err
        raise _RunError(f"{label} raised {_one_line(err)}") from err
    finally:
        _remove_path(folder)


def _raised_by_graphanim(err: BaseException) -> bool:
    tb = err.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    package = str(Path(__file__).resolve().parent)
    return str(Path(tb.tb_frame.f_code.co_filename).resolve()).startswith(package + os.sep)
