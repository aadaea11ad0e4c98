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
        from .capture import capture

        super().__init__(**capture(func, args, grad_outputs, names=names, backward=backward))
        self.func = func
        self.args = list(args)
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
        depth: Any = None,
        **kwargs: Any,
    ) -> Figure:
        """Draw the graph; see :func:`graphanim.render.plot` for the visual encoding.

        ``depth`` collapses ``nn.Module`` calls into single nodes (see
        :func:`graphanim.modules.collapse`): ``None``/``"auto"`` (default) only when the graph has
        more ops than fit a picture, an int ``k >= 0`` keeps module levels up to ``k`` open,
        ``"full"``/``False`` never collapses.
        """
        from .modules import at_depth
        from .render import plot

        fig = plot(
            at_depth(self, depth, layout=layout),
            with_all,
            values=values,
            grads=grads,
            ax=ax,
            layout=layout,
            theme=theme,
            figsize=figsize,
            **kwargs,
        )
        if ax is None:
            _show_once_in_notebooks(fig)
        return fig

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        dpi: float | None = None,
        depth: Any = None,
        overwrite: bool = False,
        **plot_kwargs: Any,
    ) -> str:
        """Write the static picture to ``path`` (``.png``, ``.svg`` or ``.pdf`` by suffix).

        ``depth`` collapses modules as in :meth:`plot`. An existing write-protected file at
        ``path`` is refused unless ``overwrite=True``.

        Raises
        ------
        ValueError
            For an unknown suffix (the message lists the supported ones) or ``depth``.
        graphanim.writers.ReadOnlyTargetError
            For a write-protected file at ``path`` without ``overwrite=True`` (left as it was).
        """
        from .io import overwriting
        from .modules import at_depth
        from .render import save

        graph = at_depth(self, depth, layout=plot_kwargs.get("layout"))
        with overwriting(overwrite):
            return str(save(graph, path, dpi=dpi, **plot_kwargs))

    def _repr_svg_(self) -> str:
        # SVG written from the picture's data: selectable text, a tooltip per node and edge
        from .modules import at_depth
        from .render import to_svg_text

        return to_svg_text(at_depth(self, None))

    def _repr_png_(self) -> bytes:
        # a notebook shows the graph as plot() would: big networks folded to a depth that fits
        from .modules import at_depth
        from .render import to_png_bytes

        return to_png_bytes(at_depth(self, None))

    # -- the chain rule, explained and checked ------------------------------------------------
    def explain(self, key: str | Any, *, max_paths: int = 12) -> Any:
        """Why ``grad(key)`` has its value: the chain rule as a sum over paths.

        See :func:`graphanim.explain.explain`. ``str()`` of the result is plain text such as
        ``∂e/∂b = ∂e/∂c·∂c/∂b + ∂e/∂d·∂d/∂b = 2·1 + 3·1 = 5``; in a notebook it shows as LaTeX.
        """
        from .explain import explain

        return explain(self, key, max_paths=max_paths)

    def check(self, eps: float = 1e-6, *, atol: float = 1e-5, rtol: float = 1e-4) -> Any:
        """Finite-difference gradients of every input next to autograd's (re-runs ``func``).

        Returns a :class:`graphanim.explain.GradCheck`: ``.ok``, ``.rows``, a printable table.
        A custom Function with a wrong ``backward`` shows up here as a mismatch.
        """
        from .capture import as_input
        from .explain import check

        if not self.has_backward:
            raise ValueError(
                "check() compares with the recorded gradients: capture with backward=True"
            )
        names = list(self.inputs)
        values = []
        it = iter(names)
        for a in self.args:
            v = as_input(a, "arg")
            if hasattr(v, "detach"):
                name = next(it, None)
                node = self.inputs.get(name) if name is not None else None
                if node is not None and node.kind == "input":
                    v = v.detach().double()
            values.append(v)
        return check(self, self.func, values, self.seeds, eps=eps, atol=atol, rtol=rtol)

    # -- animation ----------------------------------------------------------------------------
    def animate(
        self,
        direction: str = "forward",
        *,
        fps: float = 2,
        layout: Any = None,
        theme: str = "light",
        depth: Any = None,
        **kwargs: Any,
    ) -> Any:
        """An :class:`graphanim.animation.Animation` of the forward and/or backward pass.

        ``depth`` collapses modules as in :meth:`plot`; a collapsed module is one step.
        """
        from .animation import Animation
        from .modules import at_depth

        graph = at_depth(self, depth, layout=layout)
        return Animation(graph, direction, fps=fps, layout=layout, theme=theme, **kwargs)

    def explore(self, direction: str = "both", *, depth: Any = None, **options: Any) -> Any:
        """An interactive :class:`graphanim.explorer.Explorer` page of this graph.

        In a notebook it shows itself; ``.save("graph.html")`` writes one offline HTML file.
        ``direction`` is the pass(es) to step through (``"both"``, ``"forward"``,
        ``"backward"`` or ``"none"``); ``depth`` collapses modules as in :meth:`plot`;
        ``options`` (``step``, ``max_frames``, ``theme``) as for :meth:`animate`.
        """
        from .explorer import Explorer
        from .modules import at_depth

        return Explorer(at_depth(self, depth), direction, **options)


def _show_once_in_notebooks(fig: Figure) -> None:
    """Avoid the double picture of ``graph.plot()`` as the last line of a notebook cell.

    The inline backend shows every open pyplot figure when the cell ends, and IPython also shows
    the returned Figure. Whichever comes first shows the picture and releases the figure from
    pyplot, so the other finds nothing left to show.
    """
    import sys

    if "IPython" not in sys.modules:
        return

    def _ipython_display_() -> None:
        import io

        import matplotlib.pyplot as plt
        from IPython.display import Image, display

        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        display(Image(buf.getvalue()))
        plt.close(fig)

    fig._ipython_display_ = _ipython_display_  # type: ignore[attr-defined]
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        # drawing ran inside graphanim's own rc context; tell the inline backend afresh that a
        # figure awaits showing at the end of the cell
        plt.draw_if_interactive()

