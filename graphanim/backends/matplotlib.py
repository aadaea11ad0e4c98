"""The matplotlib backend for static pictures: ``plot`` (on a new figure or a given Axes),
``save`` (PNG, SVG, PDF) and the bytes for notebook reprs."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from ..graph import Graph
from ..scene.build import measure_options
from ..scene.geometry import (
    MeasuredLayout,
    auto_figsize,
    fit_with_local,
    legibility,
    measure_layout,
    node_positions,
)
from ..scene.themes import DEFAULT_DPI, rc_context, theme_colors
from .artists import paint

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["check_plot_kwargs", "draw_figure", "mpl_has_root", "new_figure", "plot",
           "png_bytes"]


def mpl_has_root() -> bool:
    import inspect

    from matplotlib.artist import Artist

    return "root" in inspect.signature(Artist.get_figure).parameters


def new_figure(figsize: tuple[float, float], dpi: float, managed: bool) -> Figure:
    if managed:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, dpi=dpi)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MFigure

    fig = MFigure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _draw(
    graph: Graph,
    with_all: bool,
    *,
    values: bool,
    grads: bool | None,
    ax: Axes | None,
    layout: Any,
    theme: str,
    figsize: tuple[float, float] | None,
    dpi: float | None,
    edge_grads: bool | None,
    labels: bool | None,
    managed: bool,
    kind: str = "raster",
    direction: str | None = None,
    local: bool | None = None,
    check: Any = None,
    modules: bool | None = None,
) -> Figure:
    th = theme_colors(theme)
    if ax is not None:
        _check_axes(ax)
    measure, local_first = measure_options(graph, with_all, values=values, grads=grads,
                                           edge_grads=edge_grads, check=check, local=local,
                                           modules=modules)
    pos = node_positions(graph, layout, direction)
    with rc_context():
        lay = measure_layout(graph, pos, local=local_first, **measure)
        fig, ax, area, user_size = _target(ax, lay, figsize, dpi, managed, kind, th)
        lay, fit = fit_with_local(graph, pos, lay, area, measure, local is None and user_size)
        draw_labels = legibility(lay, fit.f, labels, user_size, "plot", kind)
        paint(ax, lay, fit, th, labels=draw_labels, thumbnails=labels is not False,
              show_values=measure["show_values"], animated=False)
    return fig  # type: ignore[return-value]


def _check_axes(ax: Any) -> None:
    """Refuse an Axes that cannot hold the picture: a projection other than the plain 2-D one
    (polar, 3-D, geographic) maps data coordinates to angles or depth."""
    name = getattr(ax, "name", None)
    if name != "rectilinear":
        raise ValueError(
            f"plot(ax=...) needs a plain 2-D Axes, got one with the {name!r} projection; pass an "
            "Axes made without projection= (e.g. fig, ax = plt.subplots()), or omit ax"
        )


def _target(ax: Axes | None, lay: MeasuredLayout, figsize: tuple[float, float] | None,
            dpi: float | None, managed: bool, kind: str, th: dict[str, str]
            ) -> tuple[Any, Axes, tuple[float, float], bool]:
    """The figure and Axes to draw on, the drawing area (pt) and whether the user chose its
    size: the given ``ax``; else the current pyplot figure when it is empty (and no ``figsize``
    is given), or a new figure of ``figsize`` or of the natural size capped for ``kind``."""
    user_size = True
    if ax is not None:
        fig: Any = ax.get_figure(root=True) if mpl_has_root() else ax.figure
        bb = ax.get_position()
        fw, fh = fig.get_size_inches()
        return fig, ax, (bb.width * fw * 72.0, bb.height * fh * 72.0), user_size
    fig = None
    if figsize is None and managed:
        import matplotlib.pyplot as plt

        if plt.get_fignums() and not plt.gcf().get_axes():
            fig = plt.gcf()  # an empty figure the user just made: draw into it
    if fig is None:
        if figsize is None:
            w_in, h_in = auto_figsize(lay, kind, float(dpi or DEFAULT_DPI))
            user_size = False
        else:
            w_in, h_in = float(figsize[0]), float(figsize[1])
        fig = new_figure((w_in, h_in), float(dpi or DEFAULT_DPI), managed)
    fig.set_facecolor(th["background"])
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    fw, fh = fig.get_size_inches()
    return fig, ax, (fw * 72.0, fh * 72.0), user_size


def plot(
    graph: Graph,
    with_all: bool = False,
    *,
    values: bool = True,
    grads: bool | None = None,
    ax: Axes | None = None,
    layout: Any = None,
    theme: str = "light",
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    edge_grads: bool | None = None,
    labels: bool | None = None,
    direction: str | None = None,
    local: bool | None = None,
    check: Any = None,
    modules: bool | None = None,
) -> Figure:
    """Draw the computation graph: values, gradients and the chain rule at a glance.

    Visual encoding (the single source; the README legend repeats it):

    - **Value nodes** are rounded record boxes ``name | value | ∂ grad``: the name (bold) is the
      argument, parameter or variable name; *value* is the forward value; ``∂ grad`` (vermillion)
      is the gradient of the seeded outputs with respect to this value, ``∂out/∂name``. Scalars
      read as one row. Numbers have 4 significant digits; ``nan`` and ``inf`` appear as such.
    - **Tensors** are cards, fields stacked: the name with the shape and dtype in small grey type
      (``W  20×10 float32``), then the value, then the gradient. Up to 4×4 (at most 4 rows and 4
      columns) every element is shown, a matrix one row per line. A larger tensor is a heatmap
      thumbnail next to its shape and min/mean/max: a diverging colormap (``RdBu_r``: blue
      negative, white 0, red positive) scaled to the tensor's largest magnitude, so 0 is always
      white; vectors are one row, matrices themselves, more dimensions tile their trailing
      matrices (feature maps, heads) in a grid; above 32 cells a side, cells are block means;
      NaN/inf cells are grey. Values and gradients get one each. On edges a large tensor's
      gradient is named by its shape (the numbers are on the node it flows into).
    - The box colour says the role (Okabe-Ito colour-blind-safe hues): **inputs** blue
      (#0072B2) with a thick border, **parameters** (``nn.Parameter`` leaves) reddish purple
      (#CC79A7) with a thick border, **outputs** bluish green (#009E73) with a thick border,
      intermediate values grey, **constants** (tensors that get no gradient, such as the ``1``
      in ``b + 1``) small grey boxes in smaller type.
    - **Op nodes** are orange (#E69F00) circles, or ellipses for long names, with the operation's
      symbol: ``+ − × ÷ x² sin exp max σ``...; a ``trackable_function`` shows its ``name``
      (mathtext). A **collapsed module** (``graphanim.modules.collapse``) is an orange rounded
      box with its label (``net.0 · Linear``) and the number of ops it stands for.
    - **Edges** are grey arrows in the direction of the forward pass (operands into an op, the op
      into its result). With ``with_all=True`` each edge carries a vermillion label near its
      middle: the gradient contribution flowing back along it. In ``e = (a+b)(b+1)`` the two
      edges out of ``b`` carry 2 and 3, and ``b`` shows ``∂ 5``, their sum.
    - **Local derivatives** (``local``): on an edge into an op the gradient label is preceded by
      the op's local derivative with respect to that operand, in grey: ``×2 → 2`` reads
      *upstream gradient × ∂op/∂operand → gradient on this edge* (the edge ``c → ×`` of
      ``e = c·d`` at d = 2). The factor is :func:`graphanim.explain.local_derivative` (edge
      gradient ÷ upstream gradient, or the op differentiated alone where the upstream is 0);
      tensor edges have none.
    - **Gradient check** (``check``): each input gets a last field with the finite-difference
      gradient next to autograd's: ``✓ numeric 5`` (bluish green) when they agree within the
      check's tolerance, ``✗ numeric 2.5`` (crimson) and a crimson ring around the node when
      they do not; for a tensor ``✓ numeric: all 12 agree`` or ``✗ numeric: 3 of 12 differ``.
    - **Module boxes** (``modules``): the ops that ran inside an ``nn.Module`` call, with the
      values they computed and the module's own parameters, sit on a light rounded box labelled
      ``path: Class`` in its top-left corner (``net.0: Linear``), drawn behind edges and nodes;
      boxes nest like the modules (translucent, so deeper boxes are a shade darker). A module
      that only wraps one child module (a model whose forward calls one ``Sequential``) shares
      the child's box, labelled ``model: Model › model.body: Sequential``. A collapsed module
      sits in its parent's box. A module called again after other work (the one ``ReLU`` of a
      ResNet block) gets a box per call (SVG ids ``graphanim-module-<path>``, then
      ``...-call2``, ...). Sibling boxes never overlap, and no node outside a box lies on it:
      the layout does not know the modules, so a node it placed among a box's members (the
      loss's ``target`` in the column of the network's output) moves to a column of its own
      just past the box (or, when its edges forbid that, to a slot above or below it), and the
      spacing keeps each box clear of its siblings and of the nodes beside it, counting its
      padding and label row.
    - Themes ``"light"`` (white background) and ``"dark"`` use the same hues (lightened where
      needed for contrast); all colours are in :data:`THEMES`. Animations (:class:`Scene`) add:
      the active step yellow with an orange border, finished nodes bordered in the pass colour
      (forward blue, backward vermillion), active edges thick in the pass colour (forward: the
      head on the edge's own tip; backward: the grey tip is hidden and the head points at the
      operand, against the arrow, the way the gradient flows), sums of gradient contributions
      (``2 + 3 = 5``) under the value that receives them, and in a backward step the forward
      values the op's backward reads (its saved tensors) tinted blue with a blue outline, named
      in a blue line under the caption (``sin′ uses the saved input x``).
    - Text is DejaVu Sans at 10 pt (op symbols 12 pt, edge labels and constants 9 pt, shapes,
      statistics and module labels 8.5 pt) at the default size; the figure grows with the graph
      so it stays at least 8 pt.

    Parameters
    ----------
    graph : Graph
        The graph to draw (usually a :class:`~graphanim.TorchGraph`).
    with_all : bool, default False
        Show values, gradients and the gradient on every edge.
    values : bool, default True
        Show forward values on value nodes.
    grads : bool, optional
        Show gradients on value nodes; default: when a backward pass was recorded and
        ``with_all`` is true.
    ax : matplotlib Axes, optional
        Draw here (its figure is returned). Default: a new figure, or the current pyplot figure
        when it is empty (so ``plt.figure(figsize=...)`` before ``plot`` is honoured). A plain
        2-D Axes: a polar, 3-D or other projection is refused.
    layout : None, str or dict, optional
        Node positions: ``None``/``"layered"`` (built in), ``"dot"`` (Graphviz), or a dict
        ``{node_id: (x, y)}`` in layout units (1.0 per layer and per slot).
    theme : {"light", "dark"}
        Colour theme.
    figsize : (float, float), optional
        Figure size in inches. Default: grown from the layout so that text is at least 8 pt,
        capped at 25 megapixels (32000 px a side) for pictures shown or saved as PNG, 200 in a
        side for PDF, 20000 in for SVG. When the cap forces text below 8 pt a
        :class:`LegibilityWarning` says so; below 6 pt the labels are hidden (``labels=True``
        draws them anyway; SVG has room for them at full size).
    dpi : float, optional
        Resolution of a new figure (default 100).
    edge_grads : bool, optional
        Label edges with their gradient contributions; default as ``grads``.
    labels : bool, optional
        ``None`` (default): hide the text when it would be illegible; ``True``: always draw it;
        ``False``: shapes only.
    direction : {"LR", "TB"}, optional
        Passed to the layout: left to right (its default) or top to bottom.
    local : bool, optional
        Local derivatives before the edge gradients (``×2 → 2``). Default: shown with the edge
        gradients, except on a figure whose size is given (``figsize``, ``ax``) where they
        would push the text below 8 pt.
    check : bool or GradCheck, optional
        Gradient-check overlay: ``True`` runs ``graph.check()`` (a :class:`~graphanim.TorchGraph`
        re-runs its function), or pass the result of ``graph.check(...)``; shows the gradients
        too. Default: none.
    modules : bool, optional
        Module boxes; default: drawn when the graph ran through modules (``nn.Module`` calls).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        For an unknown ``theme`` (the message lists the themes), a layout dict without a
        position for every node, or an ``ax`` with a projection (polar, 3-D) instead of a plain
        2-D Axes.
    TypeError
        For ``check=True`` on a graph that cannot re-run its function, or a ``check`` that is not
        a gradient-check result; for a ``local``/``modules`` that is not a bool or None.

    Examples
    --------
    >>> from graphanim import TorchGraph
    >>> g = TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])
    >>> fig = plot(g, with_all=True)
    >>> fig = plot(g, check=True)  # finite differences next to autograd's gradients
    """
    if ax is None:
        _resolve_backend()
    return _draw(graph, with_all, values=values, grads=grads, ax=ax, layout=layout, theme=theme,
                 figsize=figsize, dpi=dpi, edge_grads=edge_grads, labels=labels, managed=True,
                 direction=direction, local=local, check=check, modules=modules)


def _resolve_backend() -> None:
    """Let matplotlib pick its backend (and IPython switch on inline mode) before drawing.

    pyplot loads its backend module lazily, at the first figure. The inline backend switches
    interactive mode on as it loads; if that happened inside graphanim's rc context, the flag would
    be undone when the context ends, and later figures would no longer show at the end of a cell.
    """
    import sys

    if "IPython" in sys.modules:
        import matplotlib.pyplot as plt

        load = getattr(plt, "_get_backend_mod", None)
        if load is not None:
            load()
        else:  # pragma: no cover - older matplotlib
            plt.close(plt.figure())


#: The keyword arguments of :func:`plot` that files and reprs take (``ax`` aside).
PLOT_KWARGS = ("with_all", "values", "grads", "layout", "theme", "figsize", "dpi", "edge_grads",
               "labels", "direction", "local", "check", "modules")


def check_plot_kwargs(plot_kwargs: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``plot_kwargs``; a ``TypeError`` naming any that :func:`plot` does not take."""
    unknown = set(plot_kwargs) - set(PLOT_KWARGS)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}; "
                        f"expected some of {', '.join(PLOT_KWARGS)}")
    return dict(plot_kwargs)


def png_bytes(graph: Graph, **kw: Any) -> bytes:
    """The picture as PNG bytes; ``kw`` as for :func:`plot`."""
    fig = draw_figure(graph, kw, "raster")
    buf = io.BytesIO()
    with rc_context():
        fig.savefig(buf, format="png", dpi="figure", metadata={"Software": None})
    return buf.getvalue()


def draw_figure(graph: Graph, plot_kwargs: dict[str, Any], kind: str) -> Figure:
    """A figure not registered with pyplot (nothing to close, no GUI), for files and reprs;
    ``kind`` (raster, svg, pdf) sets the automatic size cap."""
    kw = check_plot_kwargs(plot_kwargs)
    with_all = bool(kw.pop("with_all", False))
    return _draw(
        graph, with_all, values=kw.get("values", True), grads=kw.get("grads"), ax=None,
        layout=kw.get("layout"), theme=kw.get("theme", "light"), figsize=kw.get("figsize"),
        dpi=kw.get("dpi"), edge_grads=kw.get("edge_grads"), labels=kw.get("labels"),
        managed=False, kind=kind, direction=kw.get("direction"), local=kw.get("local"),
        check=kw.get("check"), modules=kw.get("modules"),
    )
