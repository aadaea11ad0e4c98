"""The argument parser: options, help text with an example per format, and values that start
with '-' (``-o -x.png``, ``--at x=-1``) read as values, exactly as given."""

from __future__ import annotations

import argparse
import re
import textwrap
from collections.abc import Sequence
from typing import Any

from ..io import (
    ANIMATION_FORMATS,
    STATIC_FORMATS,
    check_fps,
)
from .language import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_ELEMENTS,
    MAX_LENGTH,
    MAX_NODES,
    MAX_POWER_BITS,
)

__all__ = [
    "DEFAULT_ANIMATION_OUTPUT",
    "DEFAULT_OUTPUT",
    "DIRECTIONS",
    "MAX_OPTIONS",
    "build_parser",
    "count_options",
    "is_value",
]


#: Where ``render`` writes when ``-o`` is not given and the picture is static.
DEFAULT_OUTPUT = "graph.png"
#: Where ``render`` writes when ``-o`` is not given and ``--direction`` asks for an animation.
DEFAULT_ANIMATION_OUTPUT = "graph.gif"
#: Values of ``--direction``; ``"none"`` is a static picture.
DIRECTIONS = ("forward", "backward", "both", "none")

_SHORT_OPTIONS = ("-o", "-h")
_LONG_OPTION_RE = re.compile(r"--[A-Za-z][\w-]*(=.*)?\Z", re.DOTALL)
_DPI_RANGE = (10, 600)
#: More options than this are refused before argparse reads them: its parsing time grows with
#: the square of the number of options, and no valid command needs this many (--at takes all
#: the pairs after one flag, and at most MAX_INPUTS names).
MAX_OPTIONS = 1000



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
  .html is the interactive explorer (step through the pass, click a node to inspect it, search,
  zoom, collapse modules; one offline file); --player frames writes the raster frames with play
  controls instead.
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
    from .. import __version__

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
    _add_inputs(render)
    _add_outputs(render)
    return parser


def _add_inputs(render: argparse.ArgumentParser) -> None:
    """TARGET, --at and --grad-output: what is drawn, at which values."""
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


def _add_outputs(render: argparse.ArgumentParser) -> None:
    """The options of the file written: format, timing, look, and --force / --debug."""
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
        help="animation frames per second (default: 2; a GIF holds at most 50)",
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
        "--player",
        choices=("explorer", "frames"),
        default="explorer",
        help="what an .html output holds: the interactive explorer (default) or the raster "
        "frames in a player",
    )
    render.add_argument(
        "--debug", action="store_true", help="show the full traceback when something fails"
    )


def count_options(argv: Sequence[str]) -> int:
    """Option flags in ``argv`` (see :func:`is_value`), up to a ``--`` terminator."""
    count = 0
    for arg in argv:
        if arg == "--":
            break
        count += arg.startswith("-") and not is_value(arg)
    return count
