"""``TorchGraph``: capture a function's autograd graph and show it (plot, save, animate)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .graph import Graph

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["TorchGraph"]

Positions = dict[str, tuple[float, float]]


class TorchGraph(Graph):
    """The computation graph of ``func(*args)``, with forward values and gradients.

    ``func`` runs once, its autograd graph is recorded op by op, and (unless ``backward=False``)
    one backward pass seeded by ``grad_outputs`` records the gradient on every value and edge.

    Parameters
    ----------
    func : callable
        The function to capture. It may return one tensor or a tuple/list of tensors.
    args : sequence
        Its arguments: Python numbers, nested lists, numpy arrays or tensors. Numbers, lists and
        arrays become floating-point leaf tensors with ``requires_grad=True``; tensors are used as
        given (one without ``requires_grad`` is a constant).
    grad_outputs : number, array or sequence of them, optional
        Seeds of the backward pass, one per output. ``None`` seeds every scalar output with 1.
    names : sequence of str, optional
        Input names; default: the parameter names of ``func``.
    backward : bool, default True
        Record the backward pass too.

    Raises
    ------
    TypeError
        If ``func`` returns something that is not a tensor (the message names its position).
    ValueError
        If a non-scalar output has no seed, or ``names``/``grad_outputs`` do not match.

    Examples
    --------
    >>> import torch
    >>> g = TorchGraph(lambda x, y: (x * y).sin(), [2.0, 3.0])
    >>> float(g.grad("x")) == float(3.0 * torch.cos(torch.tensor(6.0)))
    True
    """

    def __init__(
        self,
        func: Callable[..., Any],
        args: Sequence[Any],
        grad_outputs: Any = None,
        *,
        names: Sequence[str] | None = None,
        backward: bool = True,
    ) -> None:
        from .trace import trace

        captured = trace(func, args, grad_outputs, names=names, backward=backward)
        # adopt the captured graph's data as is (it is already indexed)
        self.__dict__.update(captured.__dict__)
        self.func = func
        self.has_backward = backward
        self._layouts: dict[Any, Positions] = {}

    # -- layout -------------------------------------------------------------------------------
    def layout(self, layout: Any = None, **kwargs: Any) -> Positions:
        """Node positions ``{node_id: (x, y)}``, computed once per layout choice and cached.

        ``layout`` is ``None``/``"layered"`` (embedded layered layout, no system program needed),
        ``"dot"`` (Graphviz, when installed) or a dict of positions.
        """
        from .layout import compute_layout

        if isinstance(layout, dict):
            return compute_layout(self, layout, **kwargs)
        key = (layout, tuple(sorted(kwargs.items())))
        if key not in self._layouts:
            self._layouts[key] = compute_layout(self, layout, **kwargs)
        return self._layouts[key]

    # -- pictures -----------------------------------------------------------------------------
    def plot(
        self,
        with_all: bool = False,
        *,
        values: bool = True,
        grads: bool | None = None,
        ax: Axes | None = None,
        layout: Any = None,
        theme: str = "light",
        figsize: tuple[float, float] | None = None,
        **kwargs: Any,
    ) -> Figure:
        """Draw the graph; see :func:`graphanim.render.plot` for the visual encoding."""
        from .render import plot

        return plot(
            self,
            with_all,
            values=values,
            grads=grads,
            ax=ax,
            layout=layout,
            theme=theme,
            figsize=figsize,
            **kwargs,
        )

    def save(
        self, path: str | os.PathLike[str], *, dpi: float | None = None, **plot_kwargs: Any
    ) -> str:
        """Write the static picture to ``path`` (``.png``, ``.svg`` or ``.pdf`` by suffix).

        Raises
        ------
        ValueError
            For an unknown suffix (the message lists the supported ones).
        """
        from .render import save

        return str(save(self, path, dpi=dpi, **plot_kwargs))

    def _repr_png_(self) -> bytes:
        from .render import to_png_bytes

        return to_png_bytes(self)

    # -- animation ----------------------------------------------------------------------------
    def animate(
        self,
        direction: str = "forward",
        *,
        fps: float = 2,
        layout: Any = None,
        theme: str = "light",
        **kwargs: Any,
    ) -> Any:
        """An :class:`graphanim.animation.Animation` of the forward and/or backward pass."""
        from .animation import Animation

        return Animation(self, direction, fps=fps, layout=layout, theme=theme, **kwargs)
