"""One table of op knowledge: how each op is shown, differentiated, captioned and spelled.

Every module that needs to know something about an op reads it here: the capture (the display
symbol of a recorded op), the chain-rule explanation (the op as a torch function, to
differentiate it on its own), the animation captions (the forward formula and the local
derivative over names) and the CLI's expression language (the op's name there).

Look an op up with :func:`op_info` (any name: an unknown op gets an entry made from its name)
and read the fields of its :class:`OpInfo`; ``OPS`` holds the known ones. To teach graphanim a
new op, add one ``OpInfo`` to ``_TABLE``. A name in its ``cli`` spellings is a function CLI
expressions may call (:data:`graphanim.cli.language.FUNCTIONS`), with one elementwise argument
unless :mod:`graphanim.cli.language` gives it other arguments, calling its ``torch_name``.

Templates use ``{0}``, ``{1}``, ... for the operands' names (or values) and ``{y}`` for the
output: its name, or the call written out (``tanh(x)``) when it has none of its own. A
derivative written as equal parts (``exp({0}) = {y}``) is shown with repeated parts once:
``exp(x)`` when the output has no name of its own.

Examples
--------
>>> op_info("mul").symbol, op_info("mul").caption.format("a", "b")
('×', 'a × b')
>>> op_info("sin").derivative[0].format("x")
'cos(x)'
>>> op_info("tanh").derivative[0].format("x", y="h")
'1 − h²'
>>> op_info("add").cli, op_info("pow").cli, op_info("my_op").symbol
(('+',), ('**', 'pow'), 'my_op')
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .graph import format_number, plain_text

__all__ = ["OPS", "OpInfo", "op_info", "op_label", "superscript"]


@dataclass(frozen=True)
class OpInfo:
    """What graphanim knows about one op (a normalised torch op name such as ``"mul"``).

    Attributes
    ----------
    name : str
        The op name as captured (``Node.op``): ``"mul"``, ``"sin"``, ``"add_"``.
    symbol : str
        Display symbol, plain text (``"×"``, ``"σ"``, ``"x²"``); drawn in the op's circle.
    mathtext : str
        The symbol as matplotlib mathtext / LaTeX math (``r"$\\times$"``), for backends that
        typeset math.
    caption : str or None
        The forward formula over the operands, ``"{0} × {1}"``; ``None``: written as a call,
        ``symbol(operands)``.
    infix : str or None
        The operator written between two operands in captions (``"×"``), ``None`` if not infix.
    derivative : tuple of str, or None
        The local derivative with respect to each operand, as templates (``("{1}", "{0}")``
        for ``mul``); ``None`` where there is no standard closed form (the number is shown).
    torch_name : str or None
        The ``torch`` function computing the op from its operands (``"maximum"`` for ``max``),
        used to differentiate the op on its own; ``None`` if none does.
    cli : tuple of str
        The op's spellings in the CLI expression language: operators (``"*"``) and function
        names (``"sin"``); ``()`` if expressions cannot write it.
    name_infix : str or None
        The operator a caption writes between two operands when the op is labelled by its name
        rather than its symbol (``"/"`` for ``div``: a slash reads as division in running
        text); ``None``: written as a call.
    power : bool
        The op raises its operand to a power: with one operand and a constant exponent
        (``attrs["exponent"]``) captions write ``xᵏ`` and its derivative ``k·xᵏ⁻¹``.
    """

    name: str
    symbol: str
    mathtext: str = ""
    caption: str | None = None
    infix: str | None = None
    derivative: tuple[str, ...] | None = None
    torch_name: str | None = None
    cli: tuple[str, ...] = ()
    name_infix: str | None = None
    power: bool = False

    @property
    def function(self) -> Callable[..., Any] | None:
        """The torch function named by :attr:`torch_name` (imports torch), or ``None``."""
        if self.torch_name is None:
            return None
        import torch

        fn: Callable[..., Any] = getattr(torch, self.torch_name)
        return fn


def _infix(
    name: str, symbol: str, tex: str, derivative: tuple[str, ...], cli: str, named: str = ""
) -> OpInfo:
    """An infix operator; ``named`` (default: ``symbol``) is its :attr:`OpInfo.name_infix`."""
    caption = "{0} " + symbol + " {1}"
    return OpInfo(name, symbol, tex, caption, symbol, derivative, name, (cli,), named or symbol)


def _call(
    name: str,
    symbol: str | None = None,
    tex: str | None = None,
    derivative: str | None = None,
    *,
    torch: str | None = "",
    cli: tuple[str, ...] | None = None,
) -> OpInfo:
    """A function-like op: ``sin(x)``; ``torch`` (its torch function) and ``cli`` default to
    the op name."""
    return OpInfo(
        name,
        symbol or name,
        tex or rf"$\mathrm{{{name}}}$",
        None,
        None,
        None if derivative is None else (derivative,),
        name if torch == "" else torch,
        (name,) if cli is None else cli,
    )


_TABLE: tuple[OpInfo, ...] = (
    _infix("add", "+", "$+$", ("1", "1"), "+"),
    _infix("sub", "−", "$-$", ("1", "−1"), "-"),
    _infix("mul", "×", r"$\times$", ("{1}", "{0}"), "*"),
    _infix("div", "÷", r"$\div$", ("1/{1}", "−{0}/{1}²"), "/", "/"),
    OpInfo("matmul", "@", "$@$", "{0} @ {1}", "@", None, "matmul", ("@", "matmul"), "@"),
    OpInfo("mm", "@", "$@$", "{0} @ {1}", "@", None, "mm", (), "@"),
    OpInfo("bmm", "@", "$@$", "{0} @ {1}", "@", None, "bmm"),
    OpInfo("add_", "+=", "$+=$"),
    OpInfo("sub_", "−=", "$-=$"),
    OpInfo("mul_", "×=", r"$\times=$"),
    OpInfo("div_", "÷=", r"$\div=$"),
    OpInfo("neg", "−x", "$-x$", "−{0}", None, ("−1",), "neg", ("-",)),
    # torch.negative: capture records it as neg; graphs built by hand may name it so
    OpInfo("negative", "−x", "$-x$", "−{0}", None, ("−1",)),
    OpInfo("pow", "xʸ", "$x^y$", "{0}^{1}", None, None, "pow", ("**", "pow"), power=True),
    OpInfo("getitem", "[ ]", "$[\\,]$"),
    OpInfo("setitem", "[ ]=", "$[\\,]=$"),
    _call("sqrt", "√", r"$\sqrt{x}$"),
    _call("abs", "|x|", "$|x|$"),
    _call("sum", "Σ", r"$\Sigma$"),
    _call("mean"),
    _call("prod"),
    _call("maximum", "max"),
    _call("minimum", "min"),
    _call("max", torch="maximum"),
    _call("min", torch="minimum"),
    _call("sigmoid", "σ", r"$\sigma$", "{y}·(1 − {y})"),
    _call("reciprocal", "1/x", "$1/x$"),
    _call("square", "x²", "$x^2$"),
    _call("relu", "ReLU", r"$\mathrm{ReLU}$"),
    _call("positive", derivative="1", torch=None, cli=("+",)),  # returns its input: no node
    _call("sin", derivative="cos({0})"),
    _call("cos", derivative="−sin({0})"),
    _call("tan"),
    _call("exp", derivative="exp({0}) = {y}"),
    _call("log", derivative="1/{0}"),
    _call("tanh", derivative="1 − {y}²"),
    *(
        _call(name)
        for name in (
            "acos acosh asin asinh atan atanh cosh erf exp2 expm1 log10 log1p log2 rsqrt sign "
            "sinh atan2 dot"
        ).split()
    ),
    # no torch function to differentiate them alone with the operands only (they live in
    # torch.nn.functional, or need a dim or a condition)
    *(
        _call(name, torch=None)
        for name in "gelu logsigmoid silu softplus softmax log_softmax clamp where".split()
    ),
    _call("norm", torch=None),
)

#: The known ops by name.
OPS: dict[str, OpInfo] = {info.name: info for info in _TABLE}


@functools.cache
def op_info(name: str) -> OpInfo:
    """The :class:`OpInfo` of op ``name``; an op not in ``OPS`` gets one made from its name
    (symbol and call-style caption; no derivative, torch function or CLI spelling)."""
    info = OPS.get(name)
    if info is not None:
        return info
    return OpInfo(name, plain_text(name), rf"$\mathrm{{{_tex_escape(name)}}}$")


def _tex_escape(text: str) -> str:
    return "".join("\\" + c if c in "_#%&{}$" else c for c in text)


_SUPERSCRIPT = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")


def superscript(number: str) -> str:
    """A number written as an exponent: ``"-2.5"`` -> ``"⁻²·⁵"`` (other characters kept)."""
    return number.translate(_SUPERSCRIPT)


def op_label(op: str, attrs: dict[str, Any] | None = None) -> str:
    """Display symbol of an op: ``+``, ``×``, ``÷``, ``x²``, ``sin``, ... (plain text).

    ``pow`` with a small constant exponent is shown with it: ``x²``, ``x⁰·⁵``; other powers are
    ``xⁿ`` (constant exponent) or ``xʸ`` (tensor exponent).
    """
    if op in ("pow", "pow_") and attrs and "exponent" in attrs:
        e = attrs["exponent"]
        if isinstance(e, (int, float)) and not isinstance(e, bool) and math.isfinite(e):
            text = format_number(float(e), 3)
            if len(text) <= 4 and all(c in "0123456789-." for c in text):
                return "x" + superscript(text)
        return "xⁿ"
    if op == "pow_":
        return "xʸ"
    return op_info(op).symbol
