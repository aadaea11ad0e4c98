"""The ``@trackable_function`` registry: custom autograd Functions shown as one op node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["function_label", "is_trackable", "registered", "trackable_function"]

T = TypeVar("T", bound=type)

#: Qualified class name (``module.QualName``) -> the decorated class. A class decorated again
#: under the same name (a notebook cell run twice) replaces the earlier entry.
_REGISTRY: dict[str, type] = {}

#: The recorders of the captures in progress, innermost last (see ``graphanim.capture``). A
#: decorated ``apply`` reports to the innermost one; with none active it adds no work.
RECORDERS: list[Any] = []


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _own_name(cls: type) -> Any:
    """The ``name`` class attribute defined by ``cls`` or a user base class (not by torch)."""
    import torch

    for klass in cls.__mro__:
        if klass is torch.autograd.Function or klass.__module__.startswith("torch."):
            break
        if "name" in vars(klass):
            return vars(klass)["name"]
    return None


def _check_mathtext(text: str, cls: type) -> None:
    """Raise ``ValueError`` naming ``cls`` if matplotlib cannot parse ``text``."""
    unescaped = text.replace(r"\$", "")
    if unescaped.count("$") == 0:
        return
    if unescaped.count("$") % 2:
        raise ValueError(
            f"{cls.__qualname__}.name = {text!r} has an unbalanced '$': mathtext needs pairs "
            r"like '$\sigma$' (write '\$' for a literal dollar sign)"
        )
    from matplotlib.mathtext import MathTextParser

    try:
        MathTextParser("path").parse(text)
    except ValueError as err:
        first = str(err).strip().splitlines()[-1] if str(err).strip() else "parse error"
        raise ValueError(
            f"{cls.__qualname__}.name = {text!r} is not valid matplotlib mathtext ({first})"
        ) from err


def trackable_function(cls: T) -> T:
    """Class decorator: show calls of a custom ``torch.autograd.Function`` as ONE op node.

    The node is labelled by the class attribute ``name`` (matplotlib mathtext allowed, e.g.
    ``"$\\sigma$"``) or by the class name. The ops inside ``forward`` are not shown; the gradient
    shown is the one the Function's own ``backward`` produces.

    Raises
    ------
    TypeError
        If ``cls`` is not a subclass of ``torch.autograd.Function``, or ``name`` is not a string.
    ValueError
        If ``name`` is not valid mathtext (the message names the class).

    Examples
    --------
    >>> import torch
    >>> @trackable_function
    ... class Square(torch.autograd.Function):
    ...     name = "$x^2$"
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return 2 * x * g
    """
    import torch

    if not (isinstance(cls, type) and issubclass(cls, torch.autograd.Function)):
        raise TypeError(
            f"@trackable_function decorates torch.autograd.Function subclasses; "
            f"got {cls!r} ({type(cls).__name__})"
        )
    name = _own_name(cls)
    if name is not None and not isinstance(name, str):
        raise TypeError(
            f"{cls.__qualname__}.name must be a string (mathtext allowed), "
            f"got {type(name).__name__}"
        )
    if name is not None:
        _check_mathtext(name, cls)
    if "apply" not in vars(cls) or not getattr(vars(cls)["apply"], "_graphanim", False):
        original: Callable[..., Any] = cls.apply  # bound to cls

        def apply(*args: Any, **kwargs: Any) -> Any:
            if not RECORDERS:
                return original(*args, **kwargs)
            return RECORDERS[-1].record_function(cls, original, args, kwargs)

        apply._graphanim = True  # type: ignore[attr-defined]
        apply.__doc__ = original.__doc__
        cls.apply = staticmethod(apply)  # type: ignore[method-assign]
    _REGISTRY[_qualified(cls)] = cls
    return cls


def registered(cls: type) -> bool:
    """True if ``cls`` (or a class of the same qualified name) was decorated."""
    return _REGISTRY.get(_qualified(cls)) is not None


def is_trackable(cls: type) -> bool:
    """True if ``cls`` itself is the registered class for its qualified name."""
    return _REGISTRY.get(_qualified(cls)) is cls


def function_label(cls: type) -> str:
    """The label of a custom Function: its ``name`` when registered with one, else the class name.

    For an undecorated class whose name contains ``$`` the name is escaped as plain text.
    """
    from .graph import plain_text

    reg = _REGISTRY.get(_qualified(cls))
    if reg is not None:
        name = _own_name(reg)
        if isinstance(name, str):
            return name
    return plain_text(cls.__name__)
