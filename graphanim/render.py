"""Drawing graphs with matplotlib: pictures (plot, save, reprs), the animation Scene, themes."""

from __future__ import annotations

import contextlib
import io
import math
import os
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .graph import Graph, Node, format_tensor

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .frames import Frame

__all__ = [
    "THEMES",
    "LegibilityWarning",
    "Scene",
    "plot",
    "save",
    "to_png_bytes",
    "to_svg_text",
]

Positions = Mapping[str, "tuple[float, float]"]

# -- themes ------------------------------------------------------------------------------------

#: Colours of each theme (Okabe-Ito hues; tints of them as fills). Keys are documented in
#: :func:`plot`.
THEMES: dict[str, dict[str, str]] = {
    "light": {
        "background": "#ffffff",
        "text": "#1b1b1b",
        "edge": "#6e6e6e",
        "value_fill": "#f5f5f5",
        "value_edge": "#8a8a8a",
        "input_fill": "#dcebf7",
        "input_edge": "#0072B2",
        "parameter_fill": "#f7e3ee",
        "parameter_edge": "#CC79A7",
        "output_fill": "#d3efe4",
        "output_edge": "#009E73",
        "constant_fill": "#eeeeee",
        "constant_edge": "#a8a8a8",
        "constant_text": "#555555",
        "op_fill": "#fdefd3",
        "op_edge": "#E69F00",
        "grad": "#D55E00",
        "label_bg": "#ffffff",
        "active_fill": "#fbf3a6",
        "active_edge": "#E69F00",
        "forward": "#0072B2",
        "backward": "#D55E00",
    },
    "dark": {
        "background": "#1b1d23",
        "text": "#ececec",
        "edge": "#8d939c",
        "value_fill": "#2a2e36",
        "value_edge": "#7f8690",
        "input_fill": "#15324a",
        "input_edge": "#56B4E9",
        "parameter_fill": "#3c2436",
        "parameter_edge": "#CC79A7",
        "output_fill": "#0f3a2e",
        "output_edge": "#1DB489",
        "constant_fill": "#30333a",
        "constant_edge": "#6c717a",
        "constant_text": "#b4b8bf",
        "op_fill": "#3d321b",
        "op_edge": "#E69F00",
        "grad": "#F4833F",
        "label_bg": "#1b1d23",
        "active_fill": "#4d4a1c",
        "active_edge": "#F0E442",
        "forward": "#56B4E9",
        "backward": "#F4833F",
    },
}


class LegibilityWarning(UserWarning):
    """A graph is too large for its figure: labels were hidden (or drawn below 8 pt)."""


# -- fixed drawing settings --------------------------------------------------------------------

#: Font sizes in points at the natural size (the figure grows so that none is scaled down).
_FONT = {"name": 10.0, "value": 10.0, "grad": 10.0, "op": 12.0, "const": 9.0, "edge": 9.0,
         "sum": 9.0, "caption": 12.0, "phase": 11.0}
_MIN_PT_AUTO = 8.0  # smallest text drawn on an automatically sized figure
_MIN_PT_USER = 5.0  # smallest text drawn when the user fixed the size (figsize, ax, figure)
_MAX_SCALE = 1.5  # text grows at most this much to fill a large user-given figure
_MAX_STRETCH = 2.5  # node distances grow at most this much beyond the text scale
_PAD_X, _PAD_Y = 5.5, 4.0  # text padding inside a record field (pt)
_MARGIN = 10.0  # around the drawing (pt)
_GAP_CROSS = 16.0  # between nodes of one layer (pt)
_GAP_MAIN = 32.0  # between layers: room for an arrow (pt)
_ARROW_LEN, _ARROW_HALF = 7.0, 3.2  # arrow head (pt)
_EDGE_LW, _NODE_LW = 1.1, 1.0  # line widths (pt)
_BASE_STEP = 16.0  # least distance between consecutive layers, pt per layout unit
_DEFAULT_DPI = 100.0
_GLYPH_TEXTS = 600  # more labels than this: drawn as a glyph layer, not Text artists


def _rc_params() -> dict[str, Any]:
    """graphanim's own rc settings: a user's style or ``text.usetex`` cannot change a picture."""
    import matplotlib

    wanted: dict[str, Any] = {
        "text.usetex": False,
        "text.parse_math": True,
        "font.family": ["DejaVu Sans"],
        "font.style": "normal",
        "font.variant": "normal",
        "font.weight": "normal",
        "font.stretch": "normal",
        "font.size": 10.0,
        "mathtext.fontset": "dejavusans",
        "mathtext.default": "it",
        "mathtext.fallback": "cm",
        "axes.unicode_minus": True,
        "text.antialiased": True,
        "text.hinting": "force_autohint",
        "lines.antialiased": True,
        "patch.antialiased": True,
        "path.simplify": True,
        "path.simplify_threshold": 0.111111111111,
        "path.snap": True,
        "path.sketch": None,
        "path.effects": [],
        "agg.path.chunksize": 0,
        "figure.autolayout": False,
        "figure.constrained_layout.use": False,
        "figure.frameon": True,
        "savefig.bbox": None,
        "savefig.pad_inches": 0.1,
        "savefig.transparent": False,
        "savefig.facecolor": "auto",
        "savefig.edgecolor": "auto",
        "savefig.dpi": "figure",
        "svg.fonttype": "path",
        "svg.image_inline": True,
        "svg.hashsalt": "graphanim",
        "svg.id": None,
        "pdf.fonttype": 42,
        "pdf.compression": 6,
        "image.composite_image": True,
        "hatch.linewidth": 1.0,
        "axes.linewidth": 0.8,
        "axes.grid": False,
    }
    return {k: v for k, v in wanted.items() if k in matplotlib.rcParams}


_RC_VALID: dict[str, Any] = {}


@contextlib.contextmanager
def _rc() -> Iterator[None]:
    """graphanim's rc settings for the duration of the block, the user's restored after.

    Like ``matplotlib.rc_context``, but the settings are validated once and swapped in and out
    directly: an animation enters this for every frame, where copying all of ``rcParams`` would
    cost more than drawing the frame.
    """
    import matplotlib

    rc: Any = matplotlib.rcParams
    if not _RC_VALID:
        validated: Any = matplotlib.RcParams(_rc_params())  # type: ignore[arg-type]
        _RC_VALID.update(dict.items(validated))
    old = {k: dict.__getitem__(rc, k) for k in _RC_VALID}
    dict.update(rc, _RC_VALID)  # validated above; no per-key checks or deprecation warnings
    try:
        yield
    finally:
        dict.update(rc, old)


# -- text measurement --------------------------------------------------------------------------


class _Measure:
    """Widths of texts as matplotlib draws them (DejaVu Sans; mathtext), cached.

    Plain text is measured from the font's glyph advances and kerning, read once per character
    (laying out each string with FreeType costs ~0.1 ms, too much for graphs with thousands of
    labels); mathtext and characters DejaVu Sans lacks are measured by matplotlib itself.
    """

    _SIZE = 100.0  # advances are read at this size and scaled

    def __init__(self) -> None:
        self._props: dict[tuple[float, bool], Any] = {}
        self._cache: dict[tuple[str, float, bool], float] = {}
        self._fonts: dict[bool, Any] = {}
        self._adv: dict[tuple[str, bool], tuple[int, float]] = {}
        self._kern: dict[tuple[int, int, bool], float] = {}

    def prop(self, size: float, bold: bool = False) -> Any:
        key = (size, bold)
        fp = self._props.get(key)
        if fp is None:
            from matplotlib.font_manager import FontProperties

            fp = FontProperties(
                family="DejaVu Sans",
                weight="bold" if bold else "normal",
                size=size,
                math_fontfamily="dejavusans",
            )
            self._props[key] = fp
        return fp

    def width(self, text: str, size: float, bold: bool = False) -> float:
        """Width in points of the widest line of ``text``."""
        return max((self._line(line, size, bold) for line in text.split("\n")), default=0.0)

    def _font(self, bold: bool) -> Any:
        font = self._fonts.get(bold)
        if font is None:
            from matplotlib.font_manager import findfont, get_font

            font = get_font([findfont(self.prop(self._SIZE, bold))])
            self._fonts[bold] = font
        font.set_size(self._SIZE, 72)
        return font

    def _advance_width(self, text: str, bold: bool) -> float | None:
        """Sum of advances and kerning at ``_SIZE`` pt; ``None`` if a glyph is missing."""
        from matplotlib.ft2font import Kerning, LoadFlags

        total = 0.0
        prev = 0
        font = None
        for ch in text:
            got = self._adv.get((ch, bold))
            if got is None:
                font = font or self._font(bold)
                idx = font.get_char_index(ord(ch))
                adv = (font.load_char(ord(ch), flags=LoadFlags.NO_HINTING).linearHoriAdvance
                       / 65536.0 if idx else 0.0)
                got = self._adv[(ch, bold)] = (idx, adv)
            idx, adv = got
            if not idx:
                return None
            if prev:
                k = self._kern.get((prev, idx, bold))
                if k is None:
                    font = font or self._font(bold)
                    k = self._kern[(prev, idx, bold)] = (
                        font.get_kerning(prev, idx, Kerning.DEFAULT) / 64.0)  # type: ignore[arg-type]
                total += k
            total += adv
            prev = idx
        return total

    def _line(self, line: str, size: float, bold: bool) -> float:
        key = (line, size, bold)
        w = self._cache.get(key)
        if w is None:
            from matplotlib import cbook

            ismath = cbook.is_math_text(line)
            shown = line if ismath else line.replace(r"\$", "$")
            adv = None if ismath else self._advance_width(shown, bold)
            if not shown:
                w = 0.0
            elif adv is not None:
                w = adv * size / self._SIZE
            else:
                from matplotlib.textpath import text_to_path

                w = float(text_to_path.get_text_width_height_descent(
                    shown, self.prop(size, bold), ismath)[0])
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[key] = w
        return w


_MEASURE = _Measure()


def _line_height(size: float) -> float:
    """Height of one line of DejaVu Sans text as matplotlib spaces it (pt)."""
    return 1.17 * size


def _block_height(text: str, size: float) -> float:
    lines = text.count("\n") + 1
    # matplotlib puts multi-line text at 1.2 line spacing
    return _line_height(size) * (1 + 1.2 * (lines - 1))


# -- what each node shows ----------------------------------------------------------------------


def _value_text(t: Any) -> str:
    """``format_tensor`` text; a small matrix gets one line per row."""
    text = format_tensor(t)
    if text.startswith("[") and "; " in text:
        text = text.replace("; ", "\n")
    return text


def _grad_text(t: Any) -> str:
    return "∂ " + _value_text(t)


@dataclass
class _Field:
    role: str  # "name", "value", "grad", "op"
    text: str
    size: float
    bold: bool
    tw: float = 0.0  # text width, pt
    th: float = 0.0  # text block height, pt
    dx: float = 0.0  # centre of the field relative to the node centre, pt at scale 1
    dy: float = 0.0


@dataclass
class _NodeLook:
    """What one node shows and its size (pt at scale 1)."""

    node: Node
    role: str  # "input", "parameter", "output", "value", "constant", "op"
    fields: list[_Field]
    w: float
    h: float
    ellipse: bool = False
    # separator lines between fields, relative to the node centre, pt at scale 1
    separators: list[tuple[float, float, float, float]] = field(default_factory=list)


def _role(graph: Graph, node: Node) -> str:
    if node.kind == "op":
        return "op"
    if node.kind == "constant":
        return "constant"
    params = getattr(graph, "parameters", None) or {}
    if node.attrs.get("parameter") or any(p is node for p in params.values()):
        return "parameter"
    if node.kind == "output":
        return "output"
    if node.kind == "input":
        return "input"
    return "value"


def _numel(t: Any) -> int:
    shape = tuple(getattr(t, "shape", ()))
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _node_look(graph: Graph, node: Node, show_values: bool, show_grads: bool) -> _NodeLook:
    """Fields and size of a node: ops are ellipses with their symbol; values are records,
    ``name | value | ∂ grad`` in a row for scalars, stacked as a card when a field holds a
    tensor (its rows would make a row record very wide)."""
    role = _role(graph, node)
    if role == "op":
        size = _FONT["op"]
        text = node.label or node.name
        tw = _MEASURE.width(text, size)
        th = _block_height(text, size)
        d = max(25.0, th + 9.0)
        w = max(d, tw + 14.0)
        return _NodeLook(node, role, [_Field("op", text, size, False, tw, th)], w, d,
                         ellipse=True)
    fields: list[_Field] = []
    tensor = False
    if role == "constant":
        size = _FONT["const"]
        vtext = _value_text(node.value) if node.value is not None else ""
        if node.label and node.label != vtext:
            fields.append(_Field("name", node.label, size, True))
        if vtext:
            fields.append(_Field("value", vtext, size, False))
            tensor = _numel(node.value) > 1
        if not fields:
            fields.append(_Field("name", node.label or "?", size, True))
    else:
        fields.append(_Field("name", node.label or node.name, _FONT["name"], True))
        if show_values and node.value is not None:
            fields.append(_Field("value", _value_text(node.value), _FONT["value"], False))
            tensor = tensor or _numel(node.value) > 1
        if show_grads and node.grad is not None:
            fields.append(_Field("grad", _grad_text(node.grad), _FONT["grad"], False))
            tensor = tensor or _numel(node.grad) > 1
    for f in fields:
        f.tw = _MEASURE.width(f.text, f.size, f.bold)
        f.th = _block_height(f.text, f.size)
    min_h = 17.0 if role == "constant" else 21.0
    seps: list[tuple[float, float, float, float]] = []
    if tensor and len(fields) > 1:
        # a card: fields stacked top to bottom
        w = max(f.tw for f in fields) + 2 * _PAD_X
        heights = [max(f.th + 2 * _PAD_Y - 1.0, min_h - 2.0) for f in fields]
        h = sum(heights)
        y = h / 2
        for k, (f, fh) in enumerate(zip(fields, heights)):
            f.dx, f.dy = 0.0, y - fh / 2
            y -= fh
            if k < len(fields) - 1:
                seps.append((-w / 2, y, w / 2, y))
    else:
        widths = [f.tw + 2 * _PAD_X for f in fields]
        w = sum(widths)
        h = max(max(f.th for f in fields) + 2 * _PAD_Y, min_h)
        x = -w / 2
        for k, (f, fw) in enumerate(zip(fields, widths)):
            f.dx, f.dy = x + fw / 2, 0.0
            x += fw
            if k < len(fields) - 1:
                seps.append((x, -h / 2, x, h / 2))
    return _NodeLook(node, role, fields, w, h, separators=seps)


# -- spacing: layout units -> points -----------------------------------------------------------


class _AxisMap:
    """A monotone piecewise-linear map from layout units to points (extrapolated linearly).

    Layers get individual gaps (a layer of wide records needs more room than a layer of op
    circles), so the main axis is piecewise linear; the other axis is linear. Installed on the
    Axes as a ``FuncScale``, so data coordinates stay the layout's own numbers.
    """

    def __init__(self, u: Any, p: Any, slope: float) -> None:
        import numpy as np

        self.u = np.asarray(u, dtype=float)
        self.p = np.asarray(p, dtype=float)
        if len(self.u) >= 2:
            self.s0 = float((self.p[1] - self.p[0]) / (self.u[1] - self.u[0]))
            self.s1 = float((self.p[-1] - self.p[-2]) / (self.u[-1] - self.u[-2]))
        else:
            self.s0 = self.s1 = float(slope)
        self._ku: Any = None
        self._kp: Any = None

    @property
    def linear(self) -> bool:
        return len(self.u) <= 2

    def scaled(self, k: float) -> _AxisMap:
        m = _AxisMap(self.u, self.p * k, self.s0 * k)
        m.s0, m.s1 = self.s0 * k, self.s1 * k
        m._ku = None
        return m

    def _knots(self) -> tuple[Any, Any]:
        import numpy as np

        far = 1e6  # layout units: far outside any drawing, small enough to stay exact
        u = np.concatenate([[self.u[0] - far], self.u, [self.u[-1] + far]])
        p = np.concatenate([[self.p[0] - far * self.s0], self.p, [self.p[-1] + far * self.s1]])
        return u, p

    def fwd(self, x: Any) -> Any:
        import numpy as np

        if self._ku is None:
            self._ku, self._kp = self._knots()
        return np.interp(x, self._ku, self._kp)

    def inv(self, y: Any) -> Any:
        import numpy as np

        if self._ku is None:
            self._ku, self._kp = self._knots()
        return np.interp(y, self._kp, self._ku)


def _main_axis(xy: Any, src: Any, dst: Any) -> int:
    """0 if edges run mainly along x (layers are columns), 1 if along y (layers are rows).

    A layered layout puts the ends of every edge in different layers: the main axis is the one
    along which more edges move; on a tie, the one with fewer distinct coordinates.
    """
    import numpy as np

    if not len(src):
        return 0
    moves = [int((np.abs(xy[dst, k] - xy[src, k]) > 1e-9).sum()) for k in (0, 1)]
    if moves[0] != moves[1]:
        return 0 if moves[0] > moves[1] else 1
    distinct = [len(np.unique(np.round(xy[:, k], 6))) for k in (0, 1)]
    return 0 if distinct[0] <= distinct[1] else 1


def _spacing(
    xy: np.ndarray, half: np.ndarray, src: np.ndarray, dst: np.ndarray, need: np.ndarray
) -> tuple[_AxisMap, _AxisMap]:
    """Maps from layout units to points such that no two nodes overlap and every edge has room
    for its arrow and label (``need``: length wanted between its two boxes, pt).

    The main axis is the one along which edges mostly run (x for left-to-right layouts). Nodes
    with the same main coordinate form a layer; across a layer the slots get one common spacing;
    along the main axis each layer is placed as close to the previous ones as every pair of
    nodes up to three layers apart that would overlap, and every edge, allows.
    """
    import numpy as np

    n = len(xy)
    if n == 0:
        return _AxisMap([0.0, 1.0], [0.0, 72.0], 72.0), _AxisMap([0.0, 1.0], [0.0, 72.0], 72.0)
    swap = _main_axis(xy, src, dst) == 1
    if swap:
        xy = xy[:, ::-1]
        half = half[:, ::-1]
    x, y = xy[:, 0], xy[:, 1]
    hx, hy = half[:, 0], half[:, 1]
    keys, level = np.unique(np.round(x, 6), return_inverse=True)
    level = level.reshape(-1)
    order = np.lexsort((y, level))
    lv, yo = level[order], y[order]
    # 1) across a layer: one spacing for all slots
    same = lv[1:] == lv[:-1]
    dy = yo[1:] - yo[:-1]
    ok = same & (dy > 1e-9)
    sy = 2.0 * float(np.median(hy)) + _GAP_CROSS
    if ok.any():
        a, b = order[:-1][ok], order[1:][ok]
        sy = max(sy, float(((hy[a] + hy[b] + _GAP_CROSS) / dy[ok]).max()))
    # 2) along: constraints "layer j starts at least req after layer i" (i < j)
    ci: list[Any] = []
    cj: list[Any] = []
    cr: list[Any] = []
    n_levels = len(keys)
    if n_levels > 1:
        reach = (hy + float(hy.max()) + _GAP_CROSS) / sy
        span = float(yo.max() - yo.min()) + 2 * float(reach.max()) + 1.0
        key = lv * span + (yo - yo.min())
        for d in (1, 2, 3):
            tgt = level + d
            idx = np.nonzero(tgt < n_levels)[0]
            if not len(idx):
                break
            base = tgt[idx] * span + (y[idx] - yo.min())
            lo = np.searchsorted(key, base - reach[idx], "left")
            hi = np.searchsorted(key, base + reach[idx], "right")
            cnt = hi - lo
            total = int(cnt.sum())
            if total == 0:
                continue
            ii = np.repeat(idx, cnt)
            jj = order[np.arange(total) + np.repeat(lo - np.cumsum(cnt) + cnt, cnt)]
            hit = np.abs(y[ii] - y[jj]) * sy < hy[ii] + hy[jj] + _GAP_CROSS
            ii, jj = ii[hit], jj[hit]
            ci.append(level[ii])
            cj.append(level[jj])
            cr.append(hx[ii] + hx[jj] + _GAP_MAIN)
        if len(src):
            ls, ld = level[src], level[dst]
            lo_l, hi_l = np.minimum(ls, ld), np.maximum(ls, ld)
            sel = lo_l != hi_l
            ci.append(lo_l[sel])
            cj.append(hi_l[sel])
            cr.append((hx[src] + hx[dst] + need)[sel])
    pos = np.zeros(n_levels)
    if n_levels > 1:
        li = np.concatenate(ci) if ci else np.zeros(0, dtype=int)
        lj = np.concatenate(cj) if cj else np.zeros(0, dtype=int)
        req = np.concatenate(cr) if cr else np.zeros(0)
        srt = np.argsort(lj, kind="stable")
        li, lj, req = li[srt], lj[srt], req[srt]
        bounds = np.searchsorted(lj, np.arange(n_levels + 1))
        step = np.diff(keys) * _BASE_STEP
        for k in range(1, n_levels):
            p = pos[k - 1] + step[k - 1]
            s, e = bounds[k], bounds[k + 1]
            if e > s:
                p = max(p, float((pos[li[s:e]] + req[s:e]).max()))
            pos[k] = p
        slope = float((pos[-1] - pos[0]) / (keys[-1] - keys[0]))
    else:
        slope = 2.0 * float(hx.max()) + _GAP_MAIN
    main = _AxisMap(keys, pos, slope)
    cross = _AxisMap([0.0, 1.0], [0.0, sy], sy)
    return (cross, main) if swap else (main, cross)


# -- geometry ----------------------------------------------------------------------------------


@dataclass
class _Layout:
    """Everything measured before drawing: node looks, positions, spacing."""

    graph: Graph
    ids: list[str]
    looks: list[_NodeLook]
    xy: Any  # (n, 2) layout units
    half: Any  # (n, 2) pt at scale 1 (half width, half height)
    src: Any
    dst: Any
    edge_text: list[str | None]
    edge_size: Any  # (m, 2) pt at scale 1
    mx: _AxisMap
    my: _AxisMap
    extra_below: Any  # (n,) pt reserved under a node (Scene: accumulation text)
    content: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # pt, x0 y0 x1 y1 at s=1

    @property
    def natural_size(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.content
        return x1 - x0 + 2 * _MARGIN, y1 - y0 + 2 * _MARGIN


def _positions(graph: Graph, layout: Any, direction: str | None = None
               ) -> dict[str, tuple[float, float]]:
    """Node positions from ``layout`` (a dict), ``graph.layout`` or ``graphanim.layout``."""
    kw = {} if direction is None else {"direction": direction}
    if isinstance(layout, Mapping):
        pos: Mapping[str, Any] = layout
    elif callable(getattr(graph, "layout", None)):
        pos = graph.layout(layout, **kw)  # type: ignore[attr-defined]
    else:
        from .layout import compute_layout

        pos = compute_layout(graph, layout, **kw)
    missing = [n.id for n in graph.nodes if n.id not in pos]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise ValueError(
            f"the layout has no position for {len(missing)} node(s) ({shown}); "
            "pass a dict with an (x, y) pair for every node id"
        )
    out: dict[str, tuple[float, float]] = {}
    for n in graph.nodes:
        p = pos[n.id]
        x, y = float(p[0]), float(p[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"the layout position of node {n.id} is not finite: {p!r}")
        out[n.id] = (x, y)
    return out


def _measure_layout(
    graph: Graph,
    positions: Mapping[str, tuple[float, float]],
    *,
    show_values: bool,
    show_grads: bool,
    show_edge_grads: bool,
    sums: bool = False,
) -> _Layout:
    import numpy as np

    ids = [n.id for n in graph.nodes]
    index = {nid: i for i, nid in enumerate(ids)}
    looks = [_node_look(graph, n, show_values, show_grads) for n in graph.nodes]
    xy = np.array([positions[i] for i in ids], dtype=float).reshape(-1, 2)
    half = np.array([(lk.w / 2, lk.h / 2) for lk in looks], dtype=float).reshape(-1, 2)
    extra = np.zeros(len(ids))
    if sums:
        # room under a value used several times for its "2 + 3 = 5" text
        for i, n in enumerate(graph.nodes):
            if n.kind != "op" and len(graph.out_edges(n.id)) > 1 and n.grad is not None:
                extra[i] = _line_height(_FONT["sum"]) + 4.0
    src = np.array([index[e.src] for e in graph.edges], dtype=int)
    dst = np.array([index[e.dst] for e in graph.edges], dtype=int)
    edge_text: list[str | None] = []
    sizes = []
    for e in graph.edges:
        if show_edge_grads and e.grad is not None:
            t = _value_text(e.grad)
            edge_text.append(t)
            sizes.append((_MEASURE.width(t, _FONT["edge"]) + 6.0,
                          _block_height(t, _FONT["edge"]) + 3.0))
        else:
            edge_text.append(None)
            sizes.append((0.0, 0.0))
    edge_size = np.array(sizes, dtype=float).reshape(-1, 2)
    along = edge_size[:, _main_axis(xy, src, dst)]
    need = np.where(along > 0, along + 26.0, _GAP_MAIN)
    # the accumulation text hangs under its box: count it in the box for spacing
    half_sp = half.copy()
    half_sp[:, 1] += extra / 2
    mx, my = _spacing(xy, half_sp, src, dst, need)
    lay = _Layout(graph, ids, looks, xy, half, src, dst, edge_text, edge_size, mx, my, extra)
    if len(ids):
        px, py = mx.fwd(xy[:, 0]), my.fwd(xy[:, 1])
        lay.content = (
            float((px - half[:, 0]).min()),
            float((py - half[:, 1] - extra).min()),
            float((px + half[:, 0]).max()),
            float((py + half[:, 1]).max()),
        )
    return lay


@dataclass
class _Fit:
    """How a measured layout sits in a drawing area: text scale and the final axis maps."""

    f: float  # text and box scale
    mx: _AxisMap  # layout units -> pt, final
    my: _AxisMap
    cx: float  # area centre, pt
    cy: float
    width: float  # area, pt
    height: float


def _fit(lay: _Layout, width: float | None, height: float | None) -> _Fit:
    """Fit ``lay`` in an area of ``width`` x ``height`` points (``None``: the natural size)."""
    x0, y0, x1, y1 = lay.content
    nat_w, nat_h = lay.natural_size
    st_x = st_y = 1.0
    if width is None or height is None:
        f = 1.0
        width, height = nat_w, nat_h
    else:
        import numpy as np

        n = len(lay.ids)
        span_x = float(np.ptp(lay.mx.fwd(lay.xy[:, 0]))) if n else 0.0
        span_y = float(np.ptp(lay.my.fwd(lay.xy[:, 1]))) if n else 0.0
        over_x = (x1 - x0) - span_x
        over_y = (y1 - y0) - span_y
        avail_w = max(width - 2 * _MARGIN, 1.0)
        avail_h = max(height - 2 * _MARGIN, 1.0)
        f = min(avail_w / max(x1 - x0, 1e-9), avail_h / max(y1 - y0, 1e-9), _MAX_SCALE)
        if span_x > 0:
            st_x = min(max((avail_w - over_x * f) / (span_x * f), 1.0), _MAX_STRETCH)
        if span_y > 0:
            st_y = min(max((avail_h - over_y * f) / (span_y * f), 1.0), _MAX_STRETCH)
    mx, my = lay.mx.scaled(f * st_x), lay.my.scaled(f * st_y)
    if len(lay.ids):
        px, py = mx.fwd(lay.xy[:, 0]), my.fwd(lay.xy[:, 1])
        hw, hh = lay.half[:, 0] * f, lay.half[:, 1] * f
        ex = lay.extra_below * f
        cx = (float((px - hw).min()) + float((px + hw).max())) / 2
        cy = (float((py - hh - ex).min()) + float((py + hh).max())) / 2
    else:
        cx = cy = 0.0
    return _Fit(f, mx, my, cx, cy, float(width), float(height))


# -- artists -----------------------------------------------------------------------------------


def _rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float
                  ) -> tuple[list[tuple[float, float]], list[Any]]:
    from matplotlib.path import Path as MPath

    r = max(0.0, min(r, (x1 - x0) / 2, (y1 - y0) / 2))
    v = [
        (x0 + r, y0), (x1 - r, y0), (x1, y0), (x1, y0 + r), (x1, y1 - r), (x1, y1), (x1 - r, y1),
        (x0 + r, y1), (x0, y1), (x0, y1 - r), (x0, y0 + r), (x0, y0), (x0 + r, y0), (x0 + r, y0),
    ]
    c = [MPath.MOVETO, MPath.LINETO, MPath.CURVE3, MPath.CURVE3, MPath.LINETO, MPath.CURVE3,
         MPath.CURVE3, MPath.LINETO, MPath.CURVE3, MPath.CURVE3, MPath.LINETO, MPath.CURVE3,
         MPath.CURVE3, MPath.CLOSEPOLY]
    return v, c


@dataclass
class _Style:
    fill: str
    edge: str
    lw: float


def _base_style(theme: dict[str, str], role: str) -> _Style:
    key = role if role in ("input", "parameter", "output", "constant", "op") else "value"
    lw = _NODE_LW * (1.7 if role in ("input", "parameter", "output") else 1.0)
    return _Style(theme[f"{key}_fill"], theme[f"{key}_edge"], lw)


@dataclass
class _NodeArt:
    """The artists of one node (in a Scene they are updated together)."""

    index: int
    path: Any  # matplotlib Path in data coordinates
    patch: Any = None
    texts: dict[str, Any] = field(default_factory=dict)
    sum_text: Any = None


class _Painter:
    """Turns a measured layout and a fit into matplotlib artists on ``ax``.

    Geometry is computed in points (the fit's maps of the layout positions) and converted to data
    coordinates (the layout's units) in batches.
    """

    def __init__(self, lay: _Layout, fit: _Fit, theme: dict[str, str], *, labels: bool,
                 show_values: bool) -> None:
        self.lay, self.fit, self.theme = lay, fit, theme
        self.labels = labels
        self.show_values = show_values
        self.px = fit.mx.fwd(lay.xy[:, 0]) if len(lay.ids) else []
        self.py = fit.my.fwd(lay.xy[:, 1]) if len(lay.ids) else []
        self.nodes: list[_NodeArt] = []
        self.edge_geom: list[tuple[tuple[float, float], ...] | None] = []  # start, end, tip (pt)
        self.edge_labels: dict[int, Any] = {}
        self._adder: Any = None

    def to_data(self, pts: Any) -> Any:
        """(k, 2) points in pt -> data coordinates."""
        import numpy as np

        pts = np.asarray(pts, dtype=float).reshape(-1, 2)
        return np.column_stack([self.fit.mx.inv(pts[:, 0]), self.fit.my.inv(pts[:, 1])])

    def _pt(self, i: int) -> tuple[float, float]:
        return float(self.px[i]), float(self.py[i])

    def node_paths(self) -> None:
        import numpy as np
        from matplotlib.path import Path as MPath

        f = self.fit.f
        circle = MPath.unit_circle()
        circle_v: Any = np.asarray(circle.vertices)
        all_v: list[Any] = []
        all_c: list[Any] = []
        for i, lk in enumerate(self.lay.looks):
            cx, cy = self._pt(i)
            hw, hh = lk.w / 2 * f, lk.h / 2 * f
            if lk.ellipse:
                all_v.append(circle_v * [hw, hh] + [cx, cy])
                all_c.append(circle.codes)
            else:
                v, c = _rounded_rect(cx - hw, cy - hh, cx + hw, cy + hh, 4.5 * f)
                for sx0, sy0, sx1, sy1 in lk.separators:
                    v += [(cx + sx0 * f, cy + sy0 * f), (cx + sx1 * f, cy + sy1 * f)]
                    c += [MPath.MOVETO, MPath.LINETO]
                all_v.append(np.asarray(v, dtype=float))
                all_c.append(c)
        if not all_v:
            return
        cuts = np.cumsum([len(v) for v in all_v])[:-1]
        data = np.split(self.to_data(np.concatenate(all_v)), cuts)
        for i, (verts, codes) in enumerate(zip(data, all_c)):
            self.nodes.append(_NodeArt(i, MPath(verts, codes)))

    def edge_paths(self) -> None:
        """Each edge from its source's outline to an arrow tip on its target's outline (pt)."""
        import numpy as np

        f = self.fit.f
        src, dst = self.lay.src, self.lay.dst
        m = len(src)
        if not m:
            return
        px, py = np.asarray(self.px, dtype=float), np.asarray(self.py, dtype=float)
        vx, vy = px[dst] - px[src], py[dst] - py[src]
        length = np.hypot(vx, vy)
        ok = length > 1e-9
        safe = np.where(ok, length, 1.0)
        ux, uy = vx / safe, vy / safe
        # parallel edges (x * x feeds one op twice) side by side
        counts: dict[tuple[int, int], int] = {}
        rank = np.zeros(m)
        for k, pair in enumerate(zip(src.tolist(), dst.tolist())):
            rank[k] = counts.get(pair, 0)
            counts[pair] = int(rank[k]) + 1
        total = np.array([counts[p] for p in zip(src.tolist(), dst.tolist())], dtype=float)
        off = (rank - (total - 1) / 2) * 7.0 * f
        ox, oy = -uy * off, ux * off
        a = np.array([lk.w for lk in self.lay.looks]) / 2 * f
        b = np.array([lk.h for lk in self.lay.looks]) / 2 * f
        ell = np.array([lk.ellipse for lk in self.lay.looks], dtype=bool)

        def boundary(i: Any) -> Any:
            with np.errstate(divide="ignore", invalid="ignore"):
                rect = np.minimum(np.where(np.abs(ux) > 1e-12, a[i] / np.abs(ux), np.inf),
                                  np.where(np.abs(uy) > 1e-12, b[i] / np.abs(uy), np.inf))
                el = 1.0 / np.sqrt((ux / a[i]) ** 2 + (uy / b[i]) ** 2)
            return np.where(ell[i], el, rect)

        t0 = boundary(src) + 1.0 * f
        t1 = length - boundary(dst) - 1.5 * f
        short = t1 - t0 < _ARROW_LEN * f * 1.5
        t0 = np.where(short, np.maximum(0.0, t1 - _ARROW_LEN * f * 1.5), t0)
        sx_, sy_ = px[src] + ux * t0 + ox, py[src] + uy * t0 + oy
        tx, ty = px[src] + ux * t1 + ox, py[src] + uy * t1 + oy
        ex, ey = tx - ux * _ARROW_LEN * f * 0.7, ty - uy * _ARROW_LEN * f * 0.7
        rows = np.column_stack([sx_, sy_, ex, ey, tx, ty]).tolist()
        self.edge_geom = [
            ((r[0], r[1]), (r[2], r[3]), (r[4], r[5])) if good else None
            for r, good in zip(rows, ok.tolist())
        ]

    def arrow_head(self, tip: tuple[float, float], start: tuple[float, float],
                   scale: float = 1.0) -> list[tuple[float, float]]:
        """Triangle of an arrow head ending at ``tip`` (pt)."""
        f = self.fit.f * scale
        vx, vy = tip[0] - start[0], tip[1] - start[1]
        n = math.hypot(vx, vy) or 1.0
        ux, uy = vx / n, vy / n
        bx, by = tip[0] - ux * _ARROW_LEN * f, tip[1] - uy * _ARROW_LEN * f
        return [tip, (bx - uy * _ARROW_HALF * f, by + ux * _ARROW_HALF * f),
                (bx + uy * _ARROW_HALF * f, by - ux * _ARROW_HALF * f)]

    def draw_edges(self, ax: Axes) -> None:
        """All edges as one path and all arrow heads as another (one SVG element each)."""
        import numpy as np
        from matplotlib.patches import PathPatch
        from matplotlib.path import Path as MPath

        pts: list[tuple[float, float]] = []
        for g in self.edge_geom:
            if g is not None:
                start, end, tip = g
                pts += [start, end, *self.arrow_head(tip, start)]
        if not pts:
            return
        data = self.to_data(pts).reshape(-1, 5, 2)
        k = len(data)
        color = self.theme["edge"]
        codes = np.tile([MPath.MOVETO, MPath.LINETO], k)
        lines = PathPatch(MPath(data[:, :2].reshape(-1, 2), codes), facecolor="none",
                          edgecolor=color, linewidth=_EDGE_LW * max(self.fit.f, 0.3),
                          capstyle="butt", zorder=1.0, clip_on=False)
        lines.set_gid("graphanim-edges")
        ax.add_artist(lines)  # add_patch would walk every segment to update data limits
        tri = np.concatenate([data[:, 2:], data[:, 2:3]], axis=1).reshape(-1, 2)
        codes = np.tile([MPath.MOVETO, MPath.LINETO, MPath.LINETO, MPath.CLOSEPOLY], k)
        heads = PathPatch(MPath(tri, codes), facecolor=color, edgecolor="none", zorder=1.01,
                          clip_on=False)
        heads.set_gid("graphanim-arrows")
        ax.add_artist(heads)

    def draw_nodes(self, ax: Axes, compound: bool) -> None:
        """Node outlines: one collection with a path per node (in graph order); for big graphs
        one compound path per role (one SVG element per role instead of per node)."""
        from matplotlib.collections import PathCollection
        from matplotlib.patches import PathPatch
        from matplotlib.path import Path as MPath

        styles = [_base_style(self.theme, lk.role) for lk in self.lay.looks]
        f = max(self.fit.f, 0.3)
        if not compound:
            coll = PathCollection(
                [na.path for na in self.nodes],
                facecolors=[s.fill for s in styles],
                edgecolors=[s.edge for s in styles],
                linewidths=[s.lw * f for s in styles],
                zorder=2.0,
            )
            coll.set_transform(ax.transData)
            coll.set_gid("graphanim-nodes")
            ax.add_collection(coll, autolim=False)
            return
        by_role: dict[str, list[Any]] = {}
        for na, lk in zip(self.nodes, self.lay.looks):
            by_role.setdefault(lk.role, []).append(na.path)
        for role, paths in by_role.items():
            st = _base_style(self.theme, role)
            patch = PathPatch(MPath.make_compound_path(*paths), facecolor=st.fill,
                              edgecolor=st.edge, linewidth=st.lw * f, zorder=2.0, clip_on=False)
            patch.set_gid(f"graphanim-nodes-{role}")
            ax.add_artist(patch)

    def node_patches(self, ax: Axes) -> None:
        """One patch per node for a Scene, which draws them itself: not added to ``ax``
        (adding hundreds of patches costs clip paths and data-limit updates for nothing)."""
        from matplotlib.patches import PathPatch

        fig: Any = ax.get_figure()
        for na, lk in zip(self.nodes, self.lay.looks):
            st = _base_style(self.theme, lk.role)
            patch = PathPatch(na.path, facecolor=st.fill, edgecolor=st.edge,
                              linewidth=st.lw * max(self.fit.f, 0.3), zorder=2.0,
                              transform=ax.transData)
            patch.set_figure(fig)
            patch.set_gid(f"graphanim-{lk.node.id}")
            na.patch = patch

    def text(self, ax: Axes, xy: tuple[float, float], s: str, size: float, *, color: str,
             gid: str, bold: bool = False, zorder: float = 3.0, va: str = "baseline",
             **kw: Any) -> Any:
        """A Text at data position ``xy``, font scaled by the fit."""
        from matplotlib.text import Text

        t = Text(float(xy[0]), float(xy[1]), s,
                 fontproperties=_MEASURE.prop(round(size * self.fit.f, 3), bold),
                 color=color, ha="center", va=va, zorder=zorder, clip_on=False,
                 parse_math=True, usetex=False, multialignment="center", **kw)
        t.set_gid(gid)
        if self._adder is None:
            # Axes._add_text skips ax.text()'s keyword handling and clip-path setup, which
            # dominate on graphs with thousands of labels; add_artist is the public fallback
            self._adder = getattr(ax, "_add_text", ax.add_artist)
        self._adder(t)
        return t

    def node_text_requests(self) -> list[_TextReq]:
        """Where each field's text goes (pt), its font and colour."""
        if not self.labels:
            return []
        f = self.fit.f
        th = self.theme
        reqs: list[_TextReq] = []
        for na, lk in zip(self.nodes, self.lay.looks):
            cx, cy = self._pt(na.index)
            for fld in lk.fields:
                fx, fy = cx + fld.dx * f, cy + fld.dy * f
                if fld.role == "grad":
                    color = th["grad"]
                elif lk.role == "constant":
                    color = th["constant_text"]
                else:
                    color = th["text"]
                if "\n" in fld.text:
                    y, va = fy, "center"
                else:
                    # digits and capitals centred on the field: baseline ~0.36 em below its middle
                    y, va = fy - 0.36 * fld.size * f, "baseline"
                reqs.append(_TextReq(fx, y, fld.text, fld.size, fld.bold, color, va, 3.0,
                                     f"graphanim-{lk.node.id}-{fld.role}", (na.index, fld.role)))
        return reqs

    def edge_label_requests(self) -> list[_TextReq]:
        """Gradient labels near the middle of each edge, moved along it (or beside it) to avoid
        nodes and earlier labels; where no spot is free, the least crowded one."""
        if not self.labels:
            return []
        f = self.fit.f
        grid = _Grid(48.0)
        for na, lk in zip(self.nodes, self.lay.looks):
            cx, cy = self._pt(na.index)
            hw, hh = lk.w / 2 * f, lk.h / 2 * f
            grid.add((cx - hw, cy - hh, cx + hw, cy + hh))
        reqs: list[_TextReq] = []
        for ei, (text, geom) in enumerate(zip(self.lay.edge_text, self.edge_geom)):
            if text is None or geom is None:
                continue
            (sx_, sy_), _, (tx, ty) = geom
            w, h = self.lay.edge_size[ei] * f
            # candidates: along the edge from its middle outwards, then beside the line
            length = math.hypot(tx - sx_, ty - sy_) or 1.0
            nx, ny = -(ty - sy_) / length, (tx - sx_) / length
            side = abs(nx) * w / 2 + abs(ny) * h / 2 + 3.0 * f
            best: tuple[float, tuple[float, float, tuple[float, float, float, float]]] | None
            best = None
            for s, t in _LABEL_SPOTS:
                mx = sx_ + (tx - sx_) * t + nx * side * s
                my = sy_ + (ty - sy_) * t + ny * side * s
                box = (mx - w / 2, my - h / 2, mx + w / 2, my + h / 2)
                cost = grid.overlap(box)
                if best is None or cost < best[0]:
                    best = (cost, (mx, my, box))
                if cost == 0.0:
                    break
            assert best is not None
            place = best[1]
            grid.add(place[2])
            if "\n" in text:
                y, va = place[1], "center"
            else:
                y, va = place[1] - 0.36 * _FONT["edge"] * f, "baseline"
            reqs.append(_TextReq(place[0], y, text, _FONT["edge"], False, self.theme["grad"], va,
                                 4.0, f"graphanim-edge-{ei}", ("edge", ei), box=place[2]))
        return reqs

    def draw_texts(self, ax: Axes, reqs: list[_TextReq], glyphs: bool) -> None:
        """Text artists (one per label), or for big graphs a glyph layer (one collection per
        glyph, font and colour: ~5x faster to draw and save, same look)."""
        if not reqs:
            return
        if glyphs:
            _GlyphLayer(self).draw(ax, reqs)
            return
        data = self.to_data([(r.x, r.y) for r in reqs])
        bbox = {"boxstyle": "round,pad=0.18", "facecolor": self.theme["label_bg"],
                "edgecolor": "none", "linewidth": 0.0}
        for r, xy in zip(reqs, data):
            t = self.text(ax, xy, r.text, r.size, bold=r.bold, color=r.color, va=r.va,
                          zorder=r.zorder, gid=r.gid,
                          **({"bbox": bbox} if r.box is not None else {}))
            if r.key[0] == "edge":
                self.edge_labels[int(r.key[1])] = t
            else:
                self.nodes[int(r.key[0])].texts[str(r.key[1])] = t


@dataclass
class _TextReq:
    """One label to draw: anchor in pt (centre x; baseline or block centre y), font, colour."""

    x: float
    y: float
    text: str
    size: float  # pt at scale 1
    bold: bool
    color: str
    va: str  # "baseline" or "center"
    zorder: float
    gid: str
    key: tuple[Any, Any]  # (node index, role) or ("edge", edge index)
    box: tuple[float, float, float, float] | None = None  # background box (edge labels), pt


class _GlyphLayer:
    """Labels as glyph outlines: every glyph shape is one path, drawn at all its positions by
    one ``PathCollection`` per (glyph, font, colour); SVG writes it once and ``<use>``s it."""

    _cache: ClassVar[dict[tuple[str, bool], tuple[Any, float]]] = {}

    def __init__(self, painter: _Painter) -> None:
        self.p = painter

    def _glyph(self, ch: str, bold: bool) -> tuple[Any, float]:
        """Outline of ``ch`` for a 1 pt font (or of a whole mathtext string), and its advance."""
        key = (ch, bold)
        got = self._cache.get(key)
        if got is None:
            from matplotlib.ft2font import LoadFlags
            from matplotlib.path import Path as MPath

            path = None
            adv = 0.0
            if len(ch) == 1:
                font = _MEASURE._font(bold)
                idx = font.get_char_index(ord(ch))
                if idx:
                    font.load_glyph(idx, flags=LoadFlags.NO_HINTING)
                    verts, codes = font.get_path()
                    adv = font.load_char(ord(ch), flags=LoadFlags.NO_HINTING
                                         ).linearHoriAdvance / 65536.0 / _Measure._SIZE
                    path = MPath(verts / _Measure._SIZE, codes) if len(verts) else None
                    got = (path, adv)
            if got is None:  # mathtext, or a character DejaVu Sans lacks: matplotlib's layout
                from matplotlib.textpath import TextPath

                tp = TextPath((0, 0), ch, size=_Measure._SIZE, prop=_MEASURE.prop(10.0, bold))
                path = MPath(tp.vertices / _Measure._SIZE, tp.codes) if len(tp.vertices) else None
                adv = _MEASURE.width(ch, _Measure._SIZE, bold) / _Measure._SIZE
                got = (path, adv)
            if len(self._cache) > 5000:
                self._cache.clear()
            self._cache[key] = got
        return got

    def draw(self, ax: Axes, reqs: list[_TextReq]) -> None:
        import numpy as np
        from matplotlib import cbook
        from matplotlib.collections import PathCollection
        from matplotlib.transforms import Affine2D

        f = self.p.fit.f
        groups: dict[tuple[str, bool, float, str, float], list[tuple[float, float]]] = {}
        boxes = []
        for r in reqs:
            size = r.size * f
            lines = r.text.split("\n")
            pitch = 1.2 * _line_height(size)
            if r.va == "center":
                base = r.y + (len(lines) - 1) * pitch / 2 - 0.36 * size
            else:
                base = r.y
            for k, line in enumerate(lines):
                y = base - k * pitch
                if cbook.is_math_text(line):
                    units = [line]
                else:
                    units = list(line.replace(r"\$", "$"))
                width = _MEASURE.width(line, size, r.bold)
                pen = r.x - width / 2
                for u in units:
                    path, adv = self._glyph(u, r.bold)
                    if path is not None:
                        groups.setdefault((u, r.bold, size, r.color, r.zorder), []).append(
                            (pen, y))
                    pen += adv * size
            if r.box is not None:
                boxes.append(r.box)
        if boxes:
            from matplotlib.path import Path as MPath

            paths = []
            for x0, y0, x1, y1 in boxes:
                v, c = _rounded_rect(x0, y0, x1, y1, 3.0 * f)
                paths.append(MPath(self.p.to_data(v), c))
            bg = PathCollection(paths, facecolors=self.p.theme["label_bg"], edgecolors="none",
                                zorder=3.9)
            bg.set_transform(ax.transData)
            bg.set_gid("graphanim-edge-label-boxes")
            ax.add_collection(bg, autolim=False)
        fig = ax.figure
        for (u, bold, size, color, zorder), origins in groups.items():
            path, _ = self._glyph(u, bold)
            pc = PathCollection([path], offsets=self.p.to_data(np.asarray(origins)),
                                offset_transform=ax.transData, facecolors=color,
                                edgecolors="none", zorder=zorder)
            pc.set_transform(Affine2D().scale(size / 72.0) + fig.dpi_scale_trans)
            pc.set_gid("graphanim-labels")
            ax.add_collection(pc, autolim=False)


#: Where an edge label may go: (side, t) = beside the line (-1, 0, 1) at fraction t of the edge,
#: tried in order until one is free of nodes and earlier labels.
_LABEL_SPOTS = [(0, t) for t in (0.5, 0.38, 0.62, 0.27, 0.73, 0.17, 0.83)] + [
    (s, t) for t in (0.5, 0.35, 0.65) for s in (1, -1)]


class _Grid:
    """A uniform grid of boxes for quick overlap queries (pt space)."""

    def __init__(self, cell: float) -> None:
        self.cell = cell
        self.cells: dict[tuple[int, int], list[tuple[float, float, float, float]]] = {}

    def _keys(self, box: tuple[float, float, float, float]) -> Iterator[tuple[int, int]]:
        c = self.cell
        for gx in range(math.floor(box[0] / c), math.floor(box[2] / c) + 1):
            for gy in range(math.floor(box[1] / c), math.floor(box[3] / c) + 1):
                yield gx, gy

    def add(self, box: tuple[float, float, float, float]) -> None:
        for k in self._keys(box):
            self.cells.setdefault(k, []).append(box)

    def overlap(self, box: tuple[float, float, float, float]) -> float:
        """Total area of the stored boxes that ``box`` overlaps (0.0: free)."""
        area = 0.0
        seen: set[int] = set()
        for k in self._keys(box):
            for b in self.cells.get(k, ()):
                if id(b) in seen:
                    continue
                seen.add(id(b))
                dx = min(box[2], b[2]) - max(box[0], b[0])
                dy = min(box[3], b[3]) - max(box[1], b[1])
                if dx > 0 and dy > 0:
                    area += dx * dy
        return area


def _prepare_axes(ax: Axes, fit: _Fit, th: dict[str, str]) -> None:
    """Axis off, theme background, data coordinates = layout units, limits around the drawing."""
    ax.set_axis_off()
    ax.set_facecolor(th["background"])
    ax.set_aspect("auto")
    ax.set_autoscale_on(False)
    for m, set_scale in ((fit.mx, ax.set_xscale), (fit.my, ax.set_yscale)):
        if m.linear:
            set_scale("linear")
        else:
            set_scale("function", functions=(m.fwd, m.inv))
    x0, x1 = fit.mx.inv([fit.cx - fit.width / 2, fit.cx + fit.width / 2])
    y0, y1 = fit.my.inv([fit.cy - fit.height / 2, fit.cy + fit.height / 2])
    ax.set_xlim(float(x0), float(x1))
    ax.set_ylim(float(y0), float(y1))


# -- plot --------------------------------------------------------------------------------------


def _check_theme(theme: str) -> dict[str, str]:
    if not isinstance(theme, str) or theme not in THEMES:
        raise ValueError(
            f"unknown theme {theme!r} (expected one of {', '.join(sorted(THEMES))}); "
            "pass theme='light' or theme='dark'"
        )
    return THEMES[theme]


def _has_backward(graph: Graph) -> bool:
    flag = getattr(graph, "has_backward", None)
    if flag is not None:
        return bool(flag)
    return any(n.grad is not None for n in graph.nodes) or any(
        e.grad is not None for e in graph.edges
    )


def _smallest_font(lay: _Layout) -> float:
    sizes = [fld.size for lk in lay.looks for fld in lk.fields]
    if any(t is not None for t in lay.edge_text):
        sizes.append(_FONT["edge"])
    return min(sizes, default=_FONT["value"])


def _legibility(lay: _Layout, f: float, labels: bool | None, user_size: bool,
                what: str) -> bool:
    """Whether to draw the labels at text scale ``f``; warn when they are hidden or small.

    Automatically sized figures keep text at 8 pt unless the size cap forces it smaller: down to
    6 pt it is drawn with a warning, below that hidden with a warning. A size the user chose
    (``figsize``, ``ax``, an open figure) hides text below 5 pt.
    """
    if labels is False or not lay.ids:
        return labels is not False
    smallest = _smallest_font(lay) * f
    hide_below, warn_below = (_MIN_PT_USER, _MIN_PT_USER) if user_size else (6.0, _MIN_PT_AUTO)
    if smallest >= warn_below:
        return True
    n = len(lay.ids)
    fix = ("pass a larger figsize=" if user_size else
           "save as .svg (no size cap), or pass figsize=")
    if labels is True or smallest >= hide_below:
        warnings.warn(
            f"{what}: a graph of {n} nodes fits only with text at {smallest:.1f} pt, which may "
            f"not be legible; {fix}",
            LegibilityWarning, stacklevel=4,
        )
        return True
    warnings.warn(
        f"{what}: a graph of {n} nodes would need text at {smallest:.1f} pt (below "
        f"{hide_below:g} pt) to fit, so its labels are hidden; pass labels=True to draw them "
        f"anyway, or {fix.replace('pass ', '')}",
        LegibilityWarning, stacklevel=4,
    )
    return False


#: Automatic figure size limits per output: (largest side in pixels or None, largest area in
#: pixels or None, largest side in inches). Raster: below Agg's and viewers' limits (~100 MB of
#: pixels); PDF: the 200 in page limit of PDF viewers; SVG: effectively none.
_CAPS: dict[str, tuple[float | None, float | None, float]] = {
    "raster": (32000.0, 25e6, 1e9),
    "pdf": (None, None, 200.0),
    "svg": (None, None, 20000.0),
}


def _auto_figsize(lay: _Layout, kind: str, dpi: float) -> tuple[float, float]:
    """Natural figure size in inches, capped for the kind of output."""
    w, h = lay.natural_size
    w_in, h_in = max(w / 72.0, 0.5), max(h / 72.0, 0.5)
    side_px, area_px, side_in = _CAPS[kind]
    f = min(1.0, side_in / w_in, side_in / h_in)
    if side_px is not None:
        f = min(f, side_px / (w_in * dpi), side_px / (h_in * dpi))
    if area_px is not None:
        f = min(f, math.sqrt(area_px / (w_in * h_in * dpi * dpi)))
    return max(w_in * f, 0.5), max(h_in * f, 0.5)


def _mpl_has_root() -> bool:
    import inspect

    from matplotlib.artist import Artist

    return "root" in inspect.signature(Artist.get_figure).parameters


def _new_figure(figsize: tuple[float, float], dpi: float, managed: bool) -> Figure:
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
) -> Figure:
    th = _check_theme(theme)
    if not isinstance(graph, Graph):
        raise TypeError(f"plot() needs a graphanim Graph, got {type(graph).__name__}")
    backward = _has_backward(graph)
    show_grads = bool(with_all and backward) if grads is None else bool(grads)
    show_edge = bool(with_all and backward) if edge_grads is None else bool(edge_grads)
    show_values = bool(values or with_all)
    pos = _positions(graph, layout, direction)
    with _rc():
        lay = _measure_layout(graph, pos, show_values=show_values, show_grads=show_grads,
                              show_edge_grads=show_edge)
        user_size = True
        if ax is not None:
            fig: Any = ax.get_figure(root=True) if _mpl_has_root() else ax.figure
            bb = ax.get_position()
            fw, fh = fig.get_size_inches()
            area = (bb.width * fw * 72.0, bb.height * fh * 72.0)
        else:
            fig = None
            if figsize is None and managed:
                import matplotlib.pyplot as plt

                if plt.get_fignums() and not plt.gcf().get_axes():
                    fig = plt.gcf()  # an empty figure the user just made: draw into it
            if fig is None:
                if figsize is None:
                    w_in, h_in = _auto_figsize(lay, kind, float(dpi or _DEFAULT_DPI))
                    user_size = False
                else:
                    w_in, h_in = float(figsize[0]), float(figsize[1])
                fig = _new_figure((w_in, h_in), float(dpi or _DEFAULT_DPI), managed)
            fig.set_facecolor(th["background"])
            ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
            fw, fh = fig.get_size_inches()
            area = (fw * 72.0, fh * 72.0)
        fit = _fit(lay, *area)
        draw_labels = _legibility(lay, fit.f, labels, user_size, "plot")
        painter = _Painter(lay, fit, th, labels=draw_labels, show_values=show_values)
        _prepare_axes(ax, fit, th)
        painter.node_paths()
        painter.edge_paths()
        painter.draw_edges(ax)
        reqs = painter.node_text_requests() + painter.edge_label_requests()
        big = len(reqs) > _GLYPH_TEXTS or len(lay.ids) > _GLYPH_TEXTS
        painter.draw_nodes(ax, compound=big)
        painter.draw_texts(ax, reqs, glyphs=big)
    return fig  # type: ignore[return-value]


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
) -> Figure:
    """Draw the computation graph: values, gradients and the chain rule at a glance.

    Visual encoding (the single source; the README legend repeats it):

    - **Value nodes** are rounded record boxes ``name | value | ∂ grad``: the name (bold) is the
      argument, parameter or variable name; *value* is the forward value; ``∂ grad`` (vermillion)
      is the gradient of the seeded outputs with respect to this value, ``∂out/∂name``. Scalars
      read as one row; when a field holds a tensor the fields are stacked (name on top).
      Numbers have 4 significant digits; a tensor of up to 4×4 elements shows every element (a
      matrix one row per line); a larger one shows its shape and min/mean/max; ``nan`` and
      ``inf`` appear as such.
    - The box colour says the role (Okabe-Ito colour-blind-safe hues): **inputs** blue
      (#0072B2) with a thick border, **parameters** (``nn.Parameter`` leaves) reddish purple
      (#CC79A7) with a thick border, **outputs** bluish green (#009E73) with a thick border,
      intermediate values grey, **constants** (tensors that get no gradient, such as the ``1``
      in ``b + 1``) small grey boxes in smaller type.
    - **Op nodes** are orange (#E69F00) circles, or ellipses for long names, with the operation's
      symbol: ``+ − × ÷ x² sin exp max σ``...; a ``trackable_function`` shows its ``name``
      (mathtext).
    - **Edges** are grey arrows in the direction of the forward pass (operands into an op, the op
      into its result). With ``with_all=True`` each edge carries a vermillion label near its
      middle: the gradient contribution flowing back along it. In ``e = (a+b)(b+1)`` the two
      edges out of ``b`` carry 2 and 3, and ``b`` shows ``∂ 5``, their sum.
    - Themes ``"light"`` (white background) and ``"dark"`` use the same hues (lightened where
      needed for contrast); all colours are in :data:`THEMES`. Animations (:class:`Scene`) add:
      the active step yellow with an orange border, finished nodes bordered in the pass colour
      (forward blue, backward vermillion), active edges thick in the pass colour, and sums of
      gradient contributions (``2 + 3 = 5``) under the value that receives them.
    - Text is DejaVu Sans at 10 pt (op symbols 12 pt, edge labels and constants 9 pt) at the
      default size; the figure grows with the graph so it stays at least 8 pt.

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
        when it is empty (so ``plt.figure(figsize=...)`` before ``plot`` is honoured).
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

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        For an unknown ``theme`` (the message lists the themes) or a layout dict without a
        position for every node.

    Examples
    --------
    >>> from graphanim import TorchGraph
    >>> g = TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])
    >>> fig = plot(g, with_all=True)
    """
    if ax is None:
        _resolve_backend()
    return _draw(graph, with_all, values=values, grads=grads, ax=ax, layout=layout, theme=theme,
                 figsize=figsize, dpi=dpi, edge_grads=edge_grads, labels=labels, managed=True,
                 direction=direction)


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


def _figure(graph: Graph, plot_kwargs: dict[str, Any], kind: str) -> Figure:
    """A figure not registered with pyplot (nothing to close, no GUI), for files and reprs;
    ``kind`` (raster, svg, pdf) sets the automatic size cap."""
    kw = dict(plot_kwargs)
    with_all = bool(kw.pop("with_all", False))
    unknown = set(kw) - {"values", "grads", "layout", "theme", "figsize", "dpi", "edge_grads",
                         "labels", "direction"}
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    return _draw(
        graph, with_all, values=kw.get("values", True), grads=kw.get("grads"), ax=None,
        layout=kw.get("layout"), theme=kw.get("theme", "light"), figsize=kw.get("figsize"),
        dpi=kw.get("dpi"), edge_grads=kw.get("edge_grads"), labels=kw.get("labels"),
        managed=False, kind=kind, direction=kw.get("direction"),
    )


def save(graph: Graph, path: str | os.PathLike[str], *, dpi: float | None = None,
         **plot_kwargs: Any) -> Path:
    """Write the picture of ``graph`` to ``path``: PNG, SVG or PDF by suffix, atomically.

    ``plot_kwargs`` are those of :func:`plot` (``with_all``, ``theme``, ...). The same graph gives
    the same bytes.

    Raises
    ------
    ValueError
        For a suffix other than ``.png``, ``.svg``, ``.pdf`` (checked before drawing).
    """
    from .writers import STATIC_FORMATS, check_output_path, save_figure

    p = check_output_path(path, STATIC_FORMATS)
    kind = {".png": "raster", ".svg": "svg", ".pdf": "pdf"}[p.suffix.lower()]
    if dpi is not None:
        plot_kwargs["dpi"] = dpi
    fig = _figure(graph, plot_kwargs, kind)
    with _rc():
        return save_figure(fig, p, dpi=dpi)


def to_png_bytes(graph: Graph, **kw: Any) -> bytes:
    """The picture as PNG bytes (for ``_repr_png_``); ``kw`` as for :func:`save`."""
    fig = _figure(graph, kw, "raster")
    buf = io.BytesIO()
    with _rc():
        fig.savefig(buf, format="png", dpi="figure", metadata={"Software": None})
    return buf.getvalue()


def to_svg_text(graph: Graph, **kw: Any) -> str:
    """The picture as SVG text (for ``_repr_svg_``); ``kw`` as for :func:`save`."""
    fig = _figure(graph, kw, "svg")
    buf = io.StringIO()
    with _rc():
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return buf.getvalue()


# -- the animation scene -----------------------------------------------------------------------


@dataclass
class _Sprite:
    """Pixels of one artist in one state, ready to blend: ``(dst*inv + premult) / 255``."""

    x0: int  # pixel box, origin bottom-left like matplotlib's display coordinates
    y0: int
    x1: int
    y1: int
    premult: Any  # (h, w, 3) uint16: colour times alpha
    inv: Any  # (h, w, 1) uint16: 255 - alpha


#: (size, colour, bold, dpi) -> character -> (sprite, advance, glyph index)
_GLYPH_SPRITES: dict[tuple[float, str, bool, float], dict[str, tuple[Any, float, int]]] = {}
_GLYPH_KERNING: dict[tuple[float, str, bool, float], dict[tuple[int, int], float]] = {}


class _Glyphs:
    """Glyph sprites of one font size and colour, to compose captions without re-rasterising
    the whole text every frame (FreeType lays out a 40-character line in about a millisecond)."""

    def __init__(self, scene: Scene, size: float, color: str, bold: bool) -> None:
        from matplotlib.font_manager import findfont, get_font

        self.scene, self.size, self.color, self.bold = scene, size, color, bold
        self.prop = _MEASURE.prop(size, bold)
        self.font = get_font([findfont(self.prop)])
        self.px = scene._dpi / 72.0
        # glyph sprites depend only on font, size, colour and dpi: shared by every Scene
        key = (size, color, bold, scene._dpi)
        if key not in _GLYPH_SPRITES and len(_GLYPH_SPRITES) > 64:
            _GLYPH_SPRITES.clear()
            _GLYPH_KERNING.clear()
        self.sprites = _GLYPH_SPRITES.setdefault(key, {})
        self.kerning: dict[tuple[int, int], float] = _GLYPH_KERNING.setdefault(key, {})
        self.line_px = _line_height(size) * self.px

    def _glyph(self, ch: str) -> tuple[_Sprite | None, float, int]:
        got = self.sprites.get(ch)
        if got is not None:
            return got
        from matplotlib.ft2font import LoadFlags
        from matplotlib.text import Text
        from matplotlib.transforms import IdentityTransform

        self.font.set_size(self.size, self.scene._dpi)
        idx = self.font.get_char_index(ord(ch))
        if idx:
            adv = self.font.load_char(ord(ch), flags=LoadFlags.NO_HINTING).linearHoriAdvance
            advance = adv / 65536.0
        else:  # not in DejaVu Sans: matplotlib's fallback font draws it
            advance = _MEASURE.width(ch, self.size, self.bold) * self.px + 1.0
        sprite = None
        if not ch.isspace():
            ox, oy = 4 * self.line_px, 4 * self.line_px  # an origin well inside the canvas
            t = Text(ox, oy, ch.replace("$", r"\$"), fontproperties=self.prop, color=self.color,
                     ha="left", va="baseline", usetex=False, parse_math=True,
                     transform=IdentityTransform())
            t.set_figure(self.scene.fig)
            box = (int(ox - self.line_px), int(oy - self.line_px),
                   int(ox + 3 * self.line_px), int(oy + 2 * self.line_px))
            sprite = self.scene._render(t, box)
            if sprite is not None:  # store relative to the origin
                sprite = _Sprite(sprite.x0 - int(ox), sprite.y0 - int(oy), sprite.x1 - int(ox),
                                 sprite.y1 - int(oy), sprite.premult, sprite.inv)
        got = (sprite, advance, idx)
        self.sprites[ch] = got
        return got

    def layout(self, line: str) -> tuple[list[tuple[_Sprite, int]], float]:
        """Sprites of ``line`` with their pen x (pixels from the line start) and the width."""
        from matplotlib.ft2font import Kerning

        out: list[tuple[_Sprite, int]] = []
        pen = 0.0
        prev = 0
        kern = self.kerning
        for ch in line:
            sprite, adv, idx = self._glyph(ch)
            if prev and idx:
                k = kern.get((prev, idx))
                if k is None:
                    self.font.set_size(self.size, self.scene._dpi)
                    k = kern[(prev, idx)] = self.font.get_kerning(
                        prev, idx, Kerning.DEFAULT) / 64.0  # type: ignore[arg-type]
                pen += k
            if sprite is not None:
                out.append((sprite, round(pen)))
            pen += adv
            prev = idx
        return out, pen


class Scene:
    """One fixed drawing of a graph whose highlights, texts and caption change per frame.

    Every changing element (node, its texts, edge highlight, edge label, caption) is rasterised
    by matplotlib once per look it can take and kept as a sprite; :meth:`show` restores the
    background only where something changed and blends the sprites there back in drawing order.
    A frame therefore costs a few small array operations, not a figure draw, and gives the same
    pixels as drawing its state from scratch. Node positions never move.

    What a frame shows (see :class:`graphanim.frames.Frame`): nodes in ``active`` get a yellow
    fill and an orange border; nodes in ``done`` a border in the colour of their pass (forward
    blue, backward vermillion); value texts of ``values`` and gradient texts of ``grads`` appear
    in their record fields (a constant always shows its value); edges in ``active_edges`` are
    drawn thick in the pass colour; ``edge_grads`` label their edges with the gradient flowing
    back; ``sums`` put an accumulation such as ``2 + 3 = 5`` under a value; the ``caption`` is
    written under the graph and the pass name above it.

    Parameters
    ----------
    graph : Graph
        The graph.
    positions : dict or None
        ``{node_id: (x, y)}`` in layout units (``None``: the graph's default layout).
    theme : {"light", "dark"}
        Colour theme.
    figsize : (float, float), optional
        Inches; default: the natural size of the graph plus the caption band, capped at
        25.6 × 14.4 in. The pixel size is rounded up to even numbers (video encoders need it).
    dpi : float
        Pixels per inch.
    with_all : bool
        Room for gradients on nodes and edges (shown when a frame lists them).
    caption : bool
        Draw the frame caption under the graph and the pass name above it.
    labels : bool, optional
        ``None``: hide node and edge texts that would be smaller than 5 pt (with a
        :class:`LegibilityWarning`); ``True``: always draw them; ``False``: never.

    Attributes
    ----------
    fig : matplotlib.figure.Figure
        The figure (not registered with pyplot; nothing to close). It holds the static
        background; the frame itself is :meth:`rgb`.
    ax : matplotlib.axes.Axes
        The Axes holding the graph; data coordinates are the layout units.

    Examples
    --------
    >>> from graphanim import TorchGraph
    >>> from graphanim.frames import build_frames
    >>> g = TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])
    >>> scene = Scene(g, g.layout())
    >>> for frame in build_frames(g, "backward"):
    ...     scene.show(frame)
    ...     pixels = scene.rgb()  # (h, w, 3) uint8, h and w even
    """

    _CAPTION_LINES = 3
    _MAX_AUTO = (25.6, 14.4)
    _CELL = 64  # pixel size of the grid that finds the artists under a changed region

    def __init__(
        self,
        graph: Graph,
        positions: Positions | None = None,
        *,
        theme: str = "light",
        figsize: tuple[float, float] | None = None,
        dpi: float = 100,
        with_all: bool = True,
        caption: bool = True,
        labels: bool | None = None,
    ) -> None:
        import numpy as np

        th = _check_theme(theme)
        if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not dpi > 0:
            raise ValueError(f"dpi must be a positive number, got {dpi!r}")
        self.graph = graph
        self.theme = th
        self._dpi = float(dpi)
        pos = _positions(graph, positions)
        show_grads = bool(with_all) and _has_backward(graph)
        with _rc():
            lay = _measure_layout(graph, pos, show_values=True, show_grads=show_grads,
                                  show_edge_grads=show_grads, sums=show_grads)
            cap_h = _line_height(_FONT["caption"]) * (1 + 1.2 * (self._CAPTION_LINES - 1))
            band_bottom = cap_h + 14.0 if caption else 0.0
            band_top = _line_height(_FONT["phase"]) + 10.0 if caption else 0.0
            if figsize is None:
                nat_w, nat_h = lay.natural_size
                w_in, h_in = nat_w / 72.0, (nat_h + band_bottom + band_top) / 72.0
                cap = min(1.0, self._MAX_AUTO[0] / w_in, self._MAX_AUTO[1] / h_in)
                w_in, h_in = max(w_in * cap, 4.0), max(h_in * cap, 2.5)
            else:
                w_in, h_in = float(figsize[0]), float(figsize[1])
            wpx = max(2, 2 * math.ceil(w_in * self._dpi / 2.0 - 1e-9))
            hpx = max(2, 2 * math.ceil(h_in * self._dpi / 2.0 - 1e-9))
            self._w, self._h = wpx, hpx
            # a hair over the pixel size: the canvas truncates width * dpi to an integer
            fig = _new_figure(((wpx + 0.01) / self._dpi, (hpx + 0.01) / self._dpi), self._dpi,
                              managed=False)
            fig.set_facecolor(th["background"])
            w_pt, h_pt = wpx / self._dpi * 72.0, hpx / self._dpi * 72.0
            band_bottom = min(band_bottom, h_pt * 0.3)
            band_top = min(band_top, h_pt * 0.1)
            graph_h = max(h_pt - band_bottom - band_top, 1.0)
            ax = fig.add_axes((0.0, band_bottom / h_pt, 1.0, graph_h / h_pt))
            fit = _fit(lay, w_pt, graph_h)
            self._labels = _legibility(lay, fit.f, labels, True, "animation")
            self.fig, self.ax = fig, ax
            self._lay, self._fit = lay, fit
            _prepare_axes(ax, fit, th)
            p = _Painter(lay, fit, th, labels=self._labels, show_values=True)
            self._painter = p
            p.node_paths()
            p.edge_paths()
            p.draw_edges(ax)
            p.node_patches(ax)
            p.draw_texts(ax, p.node_text_requests() + p.edge_label_requests(), glyphs=False)
            self._shape_pts: dict[int, Any] = {}
            self._make_overlays(ax)
            self._caption_on = bool(caption)
            self._caption_box = (0, 0, wpx, math.ceil(band_bottom / 72.0 * self._dpi))
            self._phase_box = (0, hpx - math.ceil(band_top / 72.0 * self._dpi), wpx, hpx)
            # every artist that changes is drawn by the Scene, not by the figure
            dynamic: list[Any] = []
            for pair in self._edge_overlay:
                if pair is not None:
                    dynamic.extend(pair)
            for na in p.nodes:
                dynamic.append(na.patch)
                dynamic.extend(na.texts.values())
            dynamic.extend(p.edge_labels.values())
            for a in dynamic:
                a.set_animated(True)
            fig.canvas.draw()  # the static background, once
            self._renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
            self._scratch = np.asarray(fig.canvas.buffer_rgba())  # type: ignore[attr-defined]
            if self._scratch.shape[:2] != (hpx, wpx):  # pragma: no cover - rounding guard
                raise RuntimeError(
                    f"canvas is {self._scratch.shape[1]}x{self._scratch.shape[0]} px, "
                    f"expected {wpx}x{hpx}"
                )
            self._bg = np.ascontiguousarray(self._scratch[:, :, :3])
            self._img = self._bg.copy()
            # state: which look each item shows; sprites per (item, look)
            self._items: list[Any] = []  # artists, in drawing order
            self._order: dict[int, int] = {}
            self._look: dict[int, Any] = {}  # id(artist) -> current look, None = hidden
            self._sprites: dict[tuple[int, Any], _Sprite | None] = {}
            self._extent: dict[int, tuple[int, int, int, int]] = {}
            self._grid: dict[tuple[int, int], list[Any]] = {}
            boxes = self._shape_boxes()
            for a in sorted(dynamic, key=lambda a: a.get_zorder()):  # stable: creation order
                self._add_item(a, boxes.get(id(a)))
            self._glyphs: dict[tuple[float, str, bool], _Glyphs] = {}
            self._caption_glyphs: list[tuple[_Sprite, int, int]] = []
            self._caption_text = ""
            self._phase_text = ""
            self._phase_sprite: _Sprite | None = None
            self._node_state: list[tuple[Any, ...]] = []
            for na, lk in zip(p.nodes, lay.looks):
                state = ("normal", lk.role == "constant", False, None)
                self._node_state.append(state)
                self._apply_node(na.index, state, None)
            self._edge_state: list[tuple[bool, bool]] = [(False, False)] * len(graph.edges)
            self._redraw([(0, 0, wpx, hpx)])

    # -- construction helpers
    def _make_overlays(self, ax: Axes) -> None:
        """A thick line and head per edge, shown while the edge is active (drawn by the Scene,
        not added to ``ax``)."""
        import numpy as np
        from matplotlib.lines import Line2D
        from matplotlib.patches import Polygon

        p = self._painter
        lw = 2.6 * max(self._fit.f, 0.3)
        fig: Any = ax.get_figure()
        self._edge_overlay: list[tuple[Any, Any] | None] = []
        for g in p.edge_geom:
            if g is None:
                self._edge_overlay.append(None)
                continue
            start, end, tip = g
            pts = p.to_data([start, end, *p.arrow_head(tip, start, 1.4)])
            line = Line2D(pts[:2, 0], pts[:2, 1], linewidth=lw, solid_capstyle="butt",
                          zorder=1.5, color=self.theme["forward"], visible=False,
                          transform=ax.transData)
            head = Polygon(pts[2:], closed=True, zorder=1.51, facecolor=self.theme["forward"],
                           edgecolor="none", visible=False, transform=ax.transData)
            for a in (line, head):
                a.set_figure(fig)
                self._shape_pts[id(a)] = pts[:2] if a is line else pts[2:]
            self._edge_overlay.append((line, head))
        for na, lk in zip(p.nodes, self._lay.looks):
            cx, cy = p._pt(na.index)
            hw, hh = lk.w / 2 * self._fit.f, lk.h / 2 * self._fit.f
            self._shape_pts[id(na.patch)] = p.to_data(
                np.array([(cx - hw, cy - hh), (cx + hw, cy + hh)]))

    def _pixel_box(self, a: Any) -> tuple[int, int, int, int]:
        """Pixels an artist can touch in any of its looks (thick borders, label boxes)."""
        from matplotlib.transforms import Bbox

        pts = self._shape_pts.get(id(a))
        if pts is not None:  # shapes: from their geometry (their extents walk every curve)
            bb = Bbox.null()
            bb.update_from_data_xy(self.ax.transData.transform(pts))
        else:
            was = a.get_visible()
            a.set_visible(True)
            bb = a.get_window_extent(self._renderer)
            a.set_visible(was)
        pad_pt = 2.0 * max(self._fit.f, 0.3)
        if hasattr(a, "get_bbox_patch") and a.get_bbox_patch() is not None:
            pad_pt += 0.3 * a.get_fontsize()
        pad = math.ceil(pad_pt * self._dpi / 72.0) + 2
        return (math.floor(bb.x0) - pad, math.floor(bb.y0) - pad,
                math.ceil(bb.x1) + pad, math.ceil(bb.y1) + pad)

    def _add_item(self, a: Any, box: tuple[int, int, int, int] | None = None) -> None:
        self._order[id(a)] = len(self._items)
        self._items.append(a)
        self._look[id(a)] = None
        self._place(a, box or self._pixel_box(a))

    def _shape_boxes(self) -> dict[int, tuple[int, int, int, int]]:
        """Pixel boxes of all node shapes and edge highlights, in one transform."""
        import numpy as np

        keys = list(self._shape_pts)
        if not keys:
            return {}
        pts = [np.asarray(self._shape_pts[k], dtype=float) for k in keys]
        cuts = np.cumsum([len(p) for p in pts])[:-1]
        screen = np.split(self.ax.transData.transform(np.concatenate(pts)), cuts)
        pad = math.ceil(2.0 * max(self._fit.f, 0.3) * self._dpi / 72.0) + 2
        out = {}
        for k, s in zip(keys, screen):
            lo, hi = s.min(axis=0), s.max(axis=0)
            out[k] = (math.floor(lo[0]) - pad, math.floor(lo[1]) - pad,
                      math.ceil(hi[0]) + pad, math.ceil(hi[1]) + pad)
        return out

    def _place(self, a: Any, box: tuple[int, int, int, int]) -> None:
        self._extent[id(a)] = box
        c = self._CELL
        for gx in range(box[0] // c, box[2] // c + 1):
            for gy in range(box[1] // c, box[3] // c + 1):
                self._grid.setdefault((gx, gy), []).append(a)

    def _unplace(self, a: Any) -> None:
        box = self._extent.pop(id(a))
        c = self._CELL
        for gx in range(box[0] // c, box[2] // c + 1):
            for gy in range(box[1] // c, box[3] // c + 1):
                cell = self._grid[(gx, gy)]
                cell[:] = [b for b in cell if b is not a]

    def _render(self, a: Any, box: tuple[int, int, int, int]) -> _Sprite | None:
        """Rasterise artist ``a`` alone (as it is now) inside ``box``; ``None`` if empty."""
        import numpy as np
        from matplotlib.transforms import Bbox

        W, H = self._w, self._h
        x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(W, box[2]), min(H, box[3])
        if x1 <= x0 or y1 <= y0:
            return None
        rows, cols = slice(H - y1, H - y0), slice(x0, x1)
        buf = self._scratch
        saved = buf[rows, cols].copy()
        buf[rows, cols] = 0
        was = a.get_visible()
        a.set_visible(True)
        a.set_clip_box(Bbox.from_extents(x0, y0, x1, y1))
        a.set_clip_on(True)
        try:
            a.draw(self._renderer)
        finally:
            a.set_clip_on(False)
            a.set_visible(was)
        rgba = buf[rows, cols].copy()
        buf[rows, cols] = saved
        alpha = rgba[:, :, 3]
        ys, xs = np.nonzero(alpha)
        if not len(ys):
            return None
        r0, r1, c0, c1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        rgba = rgba[r0:r1, c0:c1]
        a16 = rgba[:, :, 3:4].astype(np.uint16)
        return _Sprite(x0 + c0, y1 - r1, x0 + c1, y1 - r0,
                       rgba[:, :, :3].astype(np.uint16) * a16 + 127, 255 - a16)

    def _blend(self, s: _Sprite, x0: int, y0: int, x1: int, y1: int, dx: int = 0,
               dy: int = 0) -> None:
        """Blend sprite ``s`` (moved by dx, dy) into the frame, inside the given box."""
        import numpy as np

        sx0, sy0, sx1, sy1 = s.x0 + dx, s.y0 + dy, s.x1 + dx, s.y1 + dy
        ix0, iy0, ix1, iy1 = max(x0, sx0), max(y0, sy0), min(x1, sx1), min(y1, sy1)
        if ix1 <= ix0 or iy1 <= iy0:
            return
        H = self._h
        dst = self._img[H - iy1:H - iy0, ix0:ix1]
        rs, cs = slice(sy1 - iy1, sy1 - iy0), slice(ix0 - sx0, ix1 - sx0)
        out = dst * s.inv[rs, cs]
        out += s.premult[rs, cs]
        np.floor_divide(out, 255, out=out)
        dst[...] = out

    # -- public
    @property
    def size(self) -> tuple[int, int]:
        """Pixel size ``(width, height)`` of every frame; both even."""
        return self._w, self._h

    def show(self, frame: Frame) -> None:
        """Update the drawing to ``frame``, redrawing only what changed since the last one."""
        dirty: list[tuple[int, int, int, int]] = []
        active = set(frame.active)
        direction = getattr(frame, "direction", None) or (
            "backward" if frame.phase == "backward" else "forward")
        with _rc():
            for na, lk in zip(self._painter.nodes, self._lay.looks):
                nid = lk.node.id
                if nid in active:
                    style = "active"
                elif nid in frame.done:
                    style = "done-" + direction
                else:
                    style = "normal"
                new = (style, nid in frame.values or lk.role == "constant",
                       nid in frame.grads, frame.sums.get(nid))
                old = self._node_state[na.index]
                if new != old:
                    dirty.extend(self._apply_node(na.index, new, old))
                    self._node_state[na.index] = new
            act_edges = set(frame.active_edges)
            for ei in range(len(self.graph.edges)):
                new_e = (ei in act_edges, ei in frame.edge_grads)
                if new_e != self._edge_state[ei]:
                    dirty.extend(self._apply_edge(ei, new_e, direction))
                    self._edge_state[ei] = new_e
            if self._caption_on:
                if frame.caption != self._caption_text:
                    self._caption_text = frame.caption
                    self._set_caption(frame.caption)
                    dirty.append(self._caption_box)
                phase = "" if frame.phase == "title" else {
                    "forward": "Forward pass", "backward": "Backward pass"}.get(direction, "")
                if phase != self._phase_text:
                    self._phase_text = phase
                    self._set_phase(phase, self.theme.get(direction, self.theme["text"]))
                    dirty.append(self._phase_box)
            if dirty:
                self._redraw(dirty)

    def rgb(self) -> np.ndarray:
        """The current frame as a ``(height, width, 3)`` uint8 array (a copy)."""
        return self._img.copy()

    def close(self) -> None:
        """Free the sprites and pixel buffers; :meth:`show` and :meth:`rgb` fail afterwards."""
        import numpy as np

        self._sprites.clear()
        self._img = self._bg = np.zeros((0, 0, 3), dtype=np.uint8)
        self.fig.clear()

    # -- state -> looks
    def _set_look(self, a: Any, look: Any) -> list[tuple[int, int, int, int]]:
        if self._look[id(a)] == look:
            return []
        self._look[id(a)] = look
        return [self._extent[id(a)]]

    def _apply_node(self, i: int, new: tuple[Any, ...], old: tuple[Any, ...] | None
                    ) -> list[tuple[int, int, int, int]]:
        na = self._painter.nodes[i]
        style, vis_value, vis_grad, sum_text = new
        boxes = self._set_look(na.patch, style)
        if style != (old[0] if old else None):
            # the texts sit on the box: redrawn with it (their look is unchanged)
            boxes += [self._extent[id(t)] for t in na.texts.values()]
        for role, t in na.texts.items():
            vis = {"value": vis_value, "grad": vis_grad}.get(role, True)
            boxes += self._set_look(t, "on" if vis else None)
        if sum_text != (old[3] if old is not None else None):
            boxes += self._set_sum(i, sum_text)
        return boxes

    def _set_sum(self, i: int, text: str | None) -> list[tuple[int, int, int, int]]:
        na = self._painter.nodes[i]
        if not self._labels:
            return []
        boxes = []
        if na.sum_text is None:
            if not text:
                return []
            p = self._painter
            lk = self._lay.looks[i]
            cx, cy = p._pt(i)
            xy = p.to_data([(cx, cy - lk.h / 2 * self._fit.f - 2.0 * self._fit.f)])[0]
            t = p.text(self.ax, xy, "", _FONT["sum"], color=self.theme["grad"],
                       gid=f"graphanim-{lk.node.id}-sum", zorder=3.5, va="top")
            t.set_animated(True)
            na.sum_text = t
        else:
            t = na.sum_text
            boxes.append(self._extent[id(t)])
            self._unplace(t)
        t.set_text(text or "")
        if id(t) not in self._order:
            self._order[id(t)] = len(self._items)
            self._items.append(t)
        self._place(t, self._pixel_box(t))
        self._look[id(t)] = text or None
        boxes.append(self._extent[id(t)])
        return boxes

    def _apply_edge(self, ei: int, new: tuple[bool, bool], direction: str
                    ) -> list[tuple[int, int, int, int]]:
        boxes: list[tuple[int, int, int, int]] = []
        active, grad_vis = new
        pair = self._edge_overlay[ei]
        if pair is not None:
            for a in pair:
                boxes += self._set_look(a, direction if active else None)
        lab = self._painter.edge_labels.get(ei)
        if lab is not None:
            boxes += self._set_look(lab, "on" if grad_vis else None)
        return boxes

    def _sprite(self, a: Any, look: Any) -> _Sprite | None:
        """The pixels of item ``a`` in ``look``, rasterised on first use and kept."""
        key = (id(a), look)
        if key not in self._sprites:
            if id(a) in self._patch_index:
                self._style_patch(a, look)
            elif look in ("forward", "backward"):  # edge highlight in the pass colour
                a.set_color(self.theme[look])
            # texts have one look ("on"); an accumulation text's look is its text, set already
            self._sprites[key] = self._render(a, self._extent[id(a)])
        return self._sprites[key]

    def _style_patch(self, patch: Any, look: str) -> None:
        i = self._patch_index[id(patch)]
        st = _base_style(self.theme, self._lay.looks[i].role)
        if look == "active":
            fill, edge, lw = self.theme["active_fill"], self.theme["active_edge"], 2.4
        elif look.startswith("done-"):
            fill, edge, lw = st.fill, self.theme[look[5:]], max(st.lw, 1.7)
        else:
            fill, edge, lw = st.fill, st.edge, st.lw
        patch.set_facecolor(fill)
        patch.set_edgecolor(edge)
        patch.set_linewidth(lw * max(self._fit.f, 0.3))

    @property
    def _patch_index(self) -> dict[int, int]:
        idx = getattr(self, "_patch_index_cache", None)
        if idx is None:
            idx = {id(na.patch): na.index for na in self._painter.nodes}
            self._patch_index_cache = idx
        return idx

    def _set_caption(self, text: str) -> None:
        """Caption glyphs, centred line by line, shrunk to fit the band when long."""
        import matplotlib.cbook as cbook

        self._caption_glyphs = []
        if not text:
            return
        size = _FONT["caption"]
        avail_w = self._w - 16.0 * self._dpi / 72.0
        avail_h = self._caption_box[3] - 6.0 * self._dpi / 72.0
        lines = text.split("\n")
        if any(cbook.is_math_text(line) for line in lines):
            self._caption_glyphs = self._math_caption(text)
            return
        lines = [line.replace(r"\$", "$") for line in lines]
        for _ in range(4):
            g = self._glyph_set(size, self.theme["text"], False)
            laid = [g.layout(line) for line in lines]
            width = max((w for _, w in laid), default=0.0)
            height = g.line_px * (1 + 1.2 * (len(lines) - 1))
            scale = min(1.0, avail_w / width if width else 1.0, avail_h / height)
            if scale >= 0.999 or size <= 4.0:
                break
            size = max(4.0, math.floor(size * scale * 2) / 2)
        cy = self._caption_box[3] / 2.0
        top = cy + height / 2.0
        for k, (glyphs, width) in enumerate(laid):
            base = round(top - g.line_px * 0.8 - k * 1.2 * g.line_px)
            x = round(self._w / 2.0 - width / 2.0)
            self._caption_glyphs.extend((s, x + dx, base) for s, dx in glyphs)

    def _math_caption(self, text: str) -> list[tuple[_Sprite, int, int]]:
        """A caption with mathtext: rasterised whole by matplotlib (slower, exact)."""
        from matplotlib.text import Text
        from matplotlib.transforms import IdentityTransform

        t = Text(self._w / 2.0, self._caption_box[3] / 2.0, text,
                 fontproperties=_MEASURE.prop(_FONT["caption"]), color=self.theme["text"],
                 ha="center", va="center", multialignment="center", usetex=False,
                 parse_math=True, transform=IdentityTransform())
        t.set_figure(self.fig)
        s = self._render(t, self._caption_box)
        return [(s, 0, 0)] if s is not None else []

    def _glyph_set(self, size: float, color: str, bold: bool) -> _Glyphs:
        key = (size, color, bold)
        g = self._glyphs.get(key)
        if g is None:
            g = self._glyphs[key] = _Glyphs(self, size, color, bold)
        return g

    def _set_phase(self, text: str, color: str) -> None:
        self._phase_sprite = None
        if not text:
            return
        from matplotlib.text import Text
        from matplotlib.transforms import IdentityTransform

        y0, y1 = self._phase_box[1], self._phase_box[3]
        t = Text(8.0 * self._dpi / 72.0, (y0 + y1) / 2.0, text,
                 fontproperties=_MEASURE.prop(_FONT["phase"], True), color=color, ha="left",
                 va="center", usetex=False, parse_math=True, transform=IdentityTransform())
        t.set_figure(self.fig)
        self._phase_sprite = self._render(t, self._phase_box)

    # -- pixels
    def _redraw(self, boxes: list[tuple[int, int, int, int]]) -> None:
        """Restore the background inside each changed box and blend back, clipped to it,
        every visible item reaching into it, in drawing order."""
        W, H = self._w, self._h
        img, bg, grid, extent, c = self._img, self._bg, self._grid, self._extent, self._CELL
        for x0, y0, x1, y1 in _merge_boxes(boxes, W, H):
            img[H - y1:H - y0, x0:x1] = bg[H - y1:H - y0, x0:x1]
            found: dict[int, Any] = {}
            for gx in range(x0 // c, (x1 - 1) // c + 1):
                for gy in range(y0 // c, (y1 - 1) // c + 1):
                    for a in grid.get((gx, gy), ()):
                        e = extent[id(a)]
                        if e[0] < x1 and x0 < e[2] and e[1] < y1 and y0 < e[3]:
                            found[id(a)] = a
            order = self._order
            for a in sorted(found.values(), key=lambda a: order[id(a)]):
                look = self._look[id(a)]
                if look is None:
                    continue
                s = self._sprite(a, look)
                if s is not None:
                    self._blend(s, x0, y0, x1, y1)
            if self._caption_on:
                cb = self._caption_box
                if cb[0] < x1 and x0 < cb[2] and cb[1] < y1 and y0 < cb[3]:
                    for s, dx, dy in self._caption_glyphs:
                        self._blend(s, x0, y0, x1, y1, dx, dy)
                pb = self._phase_box
                if self._phase_sprite is not None and (
                        pb[0] < x1 and x0 < pb[2] and pb[1] < y1 and y0 < pb[3]):
                    self._blend(self._phase_sprite, x0, y0, x1, y1)


def _merge_boxes(boxes: list[tuple[int, int, int, int]], width: int, height: int
                 ) -> list[tuple[int, int, int, int]]:
    """Clip boxes to the frame and merge overlapping ones (each pixel is redrawn once)."""
    out: list[list[int]] = []
    for b in boxes:
        box = [max(0, b[0]), max(0, b[1]), min(width, b[2]), min(height, b[3])]
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        merged = True
        while merged:
            merged = False
            for o in out:
                if box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3]:
                    box = [min(box[0], o[0]), min(box[1], o[1]), max(box[2], o[2]),
                           max(box[3], o[3])]
                    out.remove(o)
                    merged = True
                    break
        out.append(box)
    return [(b[0], b[1], b[2], b[3]) for b in out]
