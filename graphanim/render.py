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

from .graph import Graph, Node, format_number, format_tensor, plain_text
from .modules import _call_chains

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
        "local": "#555555",
        "saved_fill": "#d4e8f7",
        "saved_edge": "#0072B2",
        "check_ok": "#007A5A",
        "check_bad": "#C4002F",
        "module_fill": "#f1f4f8",
        "module_edge": "#aab7c6",
        "module_text": "#56697d",
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
        "local": "#b9bdc4",
        "saved_fill": "#1d4563",
        "saved_edge": "#56B4E9",
        "check_ok": "#3FCF9F",
        "check_bad": "#FF5C7A",
        "module_fill": "#22262e",
        "module_edge": "#4e5968",
        "module_text": "#9aaabb",
    },
}


class LegibilityWarning(UserWarning):
    """A graph is too large for its figure: labels were hidden (or drawn below 8 pt)."""


# -- fixed drawing settings --------------------------------------------------------------------

#: Font sizes in points at the natural size (the figure grows so that none is scaled down).
_FONT = {"name": 10.0, "value": 10.0, "grad": 10.0, "op": 12.0, "const": 9.0, "edge": 9.0,
         "sum": 9.0, "caption": 12.0, "phase": 11.0, "shape": 8.5, "stats": 8.5, "module": 8.5,
         "note": 10.5}
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
_LOCAL_GAP = 3.0  # between an edge's local-derivative factor and its gradient (pt)


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
        "figure.edgecolor": "white",
        "patch.linewidth": 1.0,
        "pdf.use14corefonts": False,
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


def _edge_text(t: Any) -> str:
    """An edge's gradient label: its numbers, or for a large tensor its shape (the numbers are
    on the node it flows into)."""
    if _is_big(t):
        return "×".join(str(int(s)) for s in getattr(t, "shape", ()))
    return _value_text(t)


def _grad_text(t: Any) -> str:
    return "∂ " + _value_text(t)


@dataclass
class _Field:
    role: str  # "name", "shape", "value", "grad", "check", "op"; images "value-img", "grad-img"
    text: str
    size: float
    bold: bool
    tw: float = 0.0  # text (or image) width, pt
    th: float = 0.0  # text block (or image) height, pt
    dx: float = 0.0  # centre of the field relative to the node centre, pt at scale 1
    dy: float = 0.0
    img: Any = None  # (h, w, 4) uint8 RGBA of a heatmap thumbnail


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
    bad: bool = False  # the gradient check found a mismatch here: drawn with a warning border
    # the part of the box that holds the forward value (x0, y0, x1, y1 relative to the centre,
    # pt at scale 1): highlighted when a backward step reads it as a saved tensor
    value_box: tuple[float, float, float, float] | None = None


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


def _is_tensor_node(node: Node) -> bool:
    """True for values with at least one dimension (shown as a card with shape and dtype)."""
    for t in (node.value, node.grad):
        if t is not None and len(tuple(getattr(t, "shape", ()))) >= 1:
            return True
    return node.value is None and len(tuple(node.shape or ())) >= 1


def _shape_text(node: Node) -> str:
    """``"8×20 float32"``: the shape (and dtype when known) of a tensor value."""
    t = node.value if node.value is not None else node.grad
    shape = tuple(getattr(t, "shape", ())) if t is not None else tuple(node.shape or ())
    dtype = node.dtype
    if dtype is None and t is not None and getattr(t, "dtype", None) is not None:
        dtype = str(t.dtype).replace("torch.", "")
    text = "×".join(str(int(s)) for s in shape) or "scalar"
    return f"{text} {plain_text(dtype)}" if dtype else text


def _is_big(t: Any) -> bool:
    """Tensors shown as a heatmap: anything beyond a 4×4 matrix (more than 4 rows or columns,
    more than 4 elements in a vector, more than two dimensions)."""
    if t is None or _numel(t) == 0:
        return False
    shape = tuple(int(s) for s in getattr(t, "shape", ()))
    return len(shape) > 2 or any(s > 4 for s in shape)


def _summary_text(t: Any) -> str:
    """``"8×20 min -1.2 mean 0.03 max 2.1"``: shape and statistics of a large tensor."""
    shape = "×".join(str(int(s)) for s in getattr(t, "shape", ()))
    try:
        f = t.detach().double()
        stats = (f.min().item(), f.mean().item(), f.max().item())
    except (AttributeError, TypeError, RuntimeError):
        return shape
    lo, mean, hi = (format_number(v, 3) for v in stats)
    return f"{shape} min {lo} mean {mean} max {hi}"


#: Heatmap thumbnails: at most this many cells a side (larger tensors are averaged in blocks),
#: drawn at most _HEAT_SIDE pt a side and at least _HEAT_MIN pt.
_HEAT_CELLS = 32
_HEAT_SIDE = 36.0
_HEAT_MIN = 8.0


def _as_grid(t: Any) -> np.ndarray:
    """A tensor as a 2-D float64 array for its heatmap: a vector is one row, a matrix itself,
    and more dimensions tile the trailing matrices (feature maps, heads) in a near-square grid."""
    import numpy as np

    a = np.asarray(t.detach().double().cpu().numpy() if hasattr(t, "detach") else t, dtype=float)
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a.reshape(1, -1)
    if a.ndim == 2:
        return a
    maps = a.reshape(-1, a.shape[-2], a.shape[-1])
    k, h, w = maps.shape
    cols = max(1, math.ceil(math.sqrt(k * h / max(w, 1))))
    cols = min(cols, k)
    rows = math.ceil(k / cols)
    grid = np.full((rows * h, cols * w), np.nan)
    for i in range(k):
        r, c = divmod(i, cols)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = maps[i]
    return grid


def _pool(a: np.ndarray, cells: int) -> np.ndarray:
    """Block means so that no side exceeds ``cells`` (NaN cells are left out of the means)."""
    import numpy as np

    r, c = a.shape
    br, bc = math.ceil(r / cells), math.ceil(c / cells)
    if br == 1 and bc == 1:
        return a
    pr, pc = math.ceil(r / br) * br, math.ceil(c / bc) * bc
    padded = np.full((pr, pc), np.nan)
    padded[:r, :c] = a
    blocks = padded.reshape(pr // br, br, pc // bc, bc)
    finite = ~np.isnan(blocks)
    total = np.where(finite, blocks, 0.0).sum(axis=(1, 3))
    count = finite.sum(axis=(1, 3))
    out = np.full(total.shape, np.nan)
    np.divide(total, count, out=out, where=count > 0)
    return out


def _heatmap(t: Any) -> tuple[np.ndarray, float, float]:
    """RGBA pixels (one per cell) of a diverging colormap centred at 0, scaled to the tensor's
    largest magnitude, and the thumbnail's size in pt."""
    import numpy as np
    from matplotlib import colormaps

    grid = _pool(_as_grid(t), _HEAT_CELLS)
    r, c = grid.shape
    finite = np.isfinite(grid)
    vmax = float(np.abs(grid[finite]).max()) if finite.any() else 0.0
    scaled = np.where(finite, grid, 0.0) / (vmax or 1.0)
    rgba = colormaps["RdBu_r"]((np.clip(scaled, -1.0, 1.0) + 1.0) / 2.0, bytes=True)
    rgba[~finite] = (170, 170, 170, 255)  # nan/inf and the gaps of a tiled grid: grey
    # cells of k x k pixels inside a one-pixel grey frame, so that the thumbnail's edge shows
    # where its values are close to 0 (white)
    k = max(1, math.ceil(64 / max(r, c)))
    cells = np.repeat(np.repeat(rgba, k, axis=0), k, axis=1)
    rgba = np.empty((r * k + 2, c * k + 2, 4), dtype=np.uint8)
    rgba[...] = (140, 140, 140, 255)
    rgba[1:-1, 1:-1] = cells
    aspect = min(max(c / r, 0.25), 4.0)
    if aspect >= 1.0:
        iw, ih = _HEAT_SIDE, max(_HEAT_SIDE / aspect, _HEAT_MIN)
    else:
        iw, ih = max(_HEAT_SIDE * aspect, _HEAT_MIN), _HEAT_SIDE
    return np.ascontiguousarray(rgba, dtype=np.uint8), iw, ih


def _check_text(rows: list[tuple[Any, ...]], ok_of: Any) -> tuple[str, bool]:
    """The gradient-check field of an input: ``"✓ numeric 5"``, ``"✗ numeric 2.5"``, or for a
    tensor ``"✓ numeric: all 12 agree"`` / ``"✗ numeric: 3 of 12 differ"``."""
    bad = [r for r in rows if not ok_of(r)]
    if len(rows) == 1 and not rows[0][1]:
        numeric = format_number(float(rows[0][3]))
        return (f"✗ numeric {numeric}" if bad else f"✓ numeric {numeric}"), not bad
    if bad:
        worst = max(float(r[4]) for r in bad)
        worst_text = format_number(worst, 2)
        return f"✗ numeric: {len(bad)} of {len(rows)} differ (by ≤ {worst_text})", False
    return f"✓ numeric: all {len(rows)} agree", True


def _tensor_row(t: Any, role: str, size: float) -> list[_Field]:
    """One card row for a tensor: its numbers (≤ 4×4), or a heatmap and its shape and
    min/mean/max."""
    if not _is_big(t):
        return [_Field(role, _value_text(t) if role == "value" else _grad_text(t), size, False)]
    img, iw, ih = _heatmap(t)
    text = _summary_text(t)
    return [_Field(f"{role}-img", "", size, False, iw, ih, img=img),
            _Field(role, text if role == "value" else "∂ " + text, _FONT["stats"], False)]


def _card(node: Node, role: str, show_values: bool, show_grads: bool,
          check: tuple[str, bool] | None) -> _NodeLook:
    """A tensor's record: rows stacked top to bottom (name with shape and dtype; value;
    gradient; check). A heatmap row names the shape itself, so the top row then shows the dtype
    only."""
    const = role == "constant"
    rows: list[list[_Field]] = []
    value_row = None
    if (show_values or const) and node.value is not None:
        value_row = 1
        rows.append(_tensor_row(node.value, "value", _FONT["const"] if const else _FONT["value"]))
    if show_grads and node.grad is not None and not const:
        rows.append(_tensor_row(node.grad, "grad", _FONT["grad"]))
    if check is not None:
        rows.append([_Field("check", check[0], _FONT["value"], False)])
    head = [_Field("name", node.label or node.name, _FONT["const"] if const else _FONT["name"],
                   True)]
    shape = _shape_text(node)
    if any(f.img is not None for row in rows for f in row):
        shape = plain_text(node.dtype) if node.dtype else ""
    if shape:
        head.append(_Field("shape", shape, _FONT["shape"], False))
    rows.insert(0, head)
    gap = 5.0
    for row in rows:
        for f in row:
            if f.img is None:
                f.tw = _MEASURE.width(f.text, f.size, f.bold)
                f.th = _block_height(f.text, f.size)
    widths = [sum(f.tw for f in row) + gap * (len(row) - 1) for row in rows]
    w = max(widths) + 2 * _PAD_X
    min_h = 15.0 if const else 19.0
    heights = [max(max(f.th for f in row) + 2 * _PAD_Y - 1.0, min_h) for row in rows]
    h = sum(heights)
    y = h / 2
    fields: list[_Field] = []
    seps: list[tuple[float, float, float, float]] = []
    value_box = None
    for k, (row, rw, rh) in enumerate(zip(rows, widths, heights)):
        x = -rw / 2
        for f in row:
            f.dx, f.dy = x + f.tw / 2, y - rh / 2
            x += f.tw + gap
            fields.append(f)
        if k == value_row:
            value_box = (-w / 2, y - rh, w / 2, y)
        y -= rh
        if k < len(rows) - 1:
            seps.append((-w / 2, y, w / 2, y))
    return _NodeLook(node, role, fields, w, h, separators=seps,
                     bad=check is not None and not check[1], value_box=value_box)


def _node_look(graph: Graph, node: Node, show_values: bool, show_grads: bool,
               check: tuple[str, bool] | None = None) -> _NodeLook:
    """Fields and size of a node: ops are ellipses with their symbol; scalar values are records
    ``name | value | ∂ grad`` in a row; tensors are cards with their shape and dtype, small ones
    (≤ 4×4) as numbers, larger ones as heatmaps with min/mean/max. ``check`` adds the gradient
    check's field (text, agrees)."""
    role = _role(graph, node)
    if role == "op":
        size = _FONT["op"]
        text = node.label or node.name
        if node.attrs.get("collapsed"):
            # a collapsed module: a box (it stands for many ops), its size in a second line
            count = node.attrs.get("ops")
            parts = [_Field("op", text, _FONT["name"], True)]
            if isinstance(count, int):
                parts.append(_Field("ops", f"{count} op{'s' if count != 1 else ''}",
                                    _FONT["shape"], False))
            for f in parts:
                f.tw = _MEASURE.width(f.text, f.size, f.bold)
                f.th = _block_height(f.text, f.size)
            w = max(f.tw for f in parts) + 2 * _PAD_X + 6.0
            h = sum(f.th for f in parts) + 2 * _PAD_Y + 4.0 + 2.0 * (len(parts) - 1)
            y = h / 2 - _PAD_Y - 2.0
            for f in parts:
                f.dy = y - f.th / 2
                y -= f.th + 2.0
            return _NodeLook(node, role, parts, w, h)
        tw = _MEASURE.width(text, size)
        th = _block_height(text, size)
        d = max(25.0, th + 9.0)
        w = max(d, tw + 14.0)
        return _NodeLook(node, role, [_Field("op", text, size, False, tw, th)], w, d,
                         ellipse=True)
    if _is_tensor_node(node):
        return _card(node, role, show_values, show_grads, check)
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
        if check is not None:
            fields.append(_Field("check", check[0], _FONT["value"], False))
    for f in fields:
        f.tw = _MEASURE.width(f.text, f.size, f.bold)
        f.th = _block_height(f.text, f.size)
    min_h = 17.0 if role == "constant" else 21.0
    seps: list[tuple[float, float, float, float]] = []
    value_box = None
    if tensor and len(fields) > 1:
        # a card: fields stacked top to bottom
        w = max(f.tw for f in fields) + 2 * _PAD_X
        heights = [max(f.th + 2 * _PAD_Y - 1.0, min_h - 2.0) for f in fields]
        h = sum(heights)
        y = h / 2
        for k, (f, fh) in enumerate(zip(fields, heights)):
            f.dx, f.dy = 0.0, y - fh / 2
            if f.role == "value":
                value_box = (-w / 2, y - fh, w / 2, y)
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
            if f.role == "value":
                value_box = (x, -h / 2, x + fw, h / 2)
            x += fw
            if k < len(fields) - 1:
                seps.append((x, -h / 2, x, h / 2))
    return _NodeLook(node, role, fields, w, h, separators=seps,
                     bad=check is not None and not check[1], value_box=value_box)


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
    xy: np.ndarray, half: np.ndarray, src: np.ndarray, dst: np.ndarray, need: np.ndarray,
    boxes: _BoxRoom | None = None,
) -> tuple[_AxisMap, _AxisMap]:
    """Maps from layout units to points such that no two nodes overlap and every edge has room
    for its arrow and label (``need``: length wanted between its two boxes, pt).

    The main axis is the one along which edges mostly run (x for left-to-right layouts). Nodes
    with the same main coordinate form a layer; across a layer the slots get one common spacing;
    along the main axis each layer is placed as close to the previous ones as every pair of
    nodes up to three layers apart that would overlap, and every edge, allows. With module
    ``boxes`` (:class:`_BoxRoom`), each box is also kept ``_BOX_GAP`` clear of its siblings and
    of the nodes beside it (see :class:`_BoxSpacing`).
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
        room = hy[a] + hy[b] + _GAP_CROSS
        sy = max(sy, float((room / dy[ok]).max()))
    box_sp = _BoxSpacing(boxes, x, y, level, swap) if boxes is not None else None
    if box_sp is not None:
        sy = max(sy, box_sp.cross_slope())
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
            clear = hy[ii] + hy[jj] + _GAP_CROSS
            hit = np.abs(y[ii] - y[jj]) * sy < clear
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
            ei, ej, er = _edge_clear_of_end_layers(y, hx, hy, level, order, src, dst, sy)
            ci.append(ei)
            cj.append(ej)
            cr.append(er)
        if box_sp is not None:
            bi, bj, br = box_sp.main_constraints(sy, keys)
            ci.append(bi)
            cj.append(bj)
            cr.append(br)
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


def _edge_clear_of_end_layers(
    y: np.ndarray, hx: np.ndarray, hy: np.ndarray, level: np.ndarray, order: np.ndarray,
    src: np.ndarray, dst: np.ndarray, sy: float, near: int = 3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Along-axis constraints that keep each edge off the boxes beside its ends.

    An edge leaves its source across the flow as well as along it; a wide box one slot from the
    source, in the source's layer, on the side the edge turns to (the weight stacked next to the
    bias that feeds the same op), is in its way unless the layers are far enough apart for the
    edge to turn past the box's side first. The same holds at the target. For each edge and the
    ``near`` nodes next to each end on that side, the distance its two layers need (pt): the
    edge crosses ``|v_w - v_e| - h_w`` across while it runs ``w_w`` along (``e`` the end, ``w``
    the box, ``h``/``w`` its half height and width, with a little margin).
    Returns ``(layer i, layer j, distance)`` with ``i < j``, as :func:`_spacing` takes them.
    """
    import numpy as np

    n = len(y)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    margin = 2.0
    out_i, out_j, out_r = [], [], []
    for a, b in ((src, dst), (dst, src)):
        dv = (y[b] - y[a]) * sy
        step = np.sign(dv).astype(np.int64)
        base = (level[a] != level[b]) & (step != 0)
        for k in range(1, near + 1):
            r = rank[a] + step * k
            ok = base & (r >= 0) & (r < n)
            w = order[np.clip(r, 0, n - 1)]
            ok &= level[w] == level[a]
            room = np.abs(y[w] - y[a]) * sy - hy[w] - margin
            ok &= room > 0
            if not ok.any():
                continue
            req = (hx[w] + margin) * np.abs(dv) / np.where(ok, room, 1.0)
            out_i.append(np.minimum(level[a], level[b])[ok])
            out_j.append(np.maximum(level[a], level[b])[ok])
            out_r.append(req[ok])
    if not out_i:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_r)


# -- module boxes: where they go and the room they need ------------------------------------------

_BOX_GAP = 8.0  # least distance between a module box and a sibling box or a node outside it (pt)


@dataclass
class _BoxRoom:
    """Module boxes as the spacing sees them (pt at scale 1; sides in the picture's order left,
    bottom, right, top). ``offs[k]`` holds, for each member of box ``k``, the distance from its
    centre to each side of the box that a box edge can reach through it: its own half size (and
    the accumulation text under it), then the padding, label row and label growth of every box
    from its innermost one out to ``k``. A box's side is the extreme over its members of centre
    plus that distance, which is exactly what :meth:`_Painter.module_rects` draws."""

    ext: Any  # (n, 4) each node's own reach
    members: list[Any]  # per box: node indexes (nested boxes' too)
    offs: list[Any]  # per box: (len(members), 4)
    parent: list[int]  # per box: the box directly around it, -1 for none
    width: list[float]  # per box: label width its members' spread must give it (0: none)


def _box_room(boxes: list[_ModuleBox], ext: Any, xy: Any) -> _BoxRoom:
    """The reach of every box member (see :class:`_BoxRoom`), innermost boxes first.

    A label wider than a box's content is met in one of two ways. When the members are spread
    along x, the spacing stretches them (``width``) so the content is at least as wide as the
    label. When they all share one x (a box that is a single column), the box grows by the same
    amount on both sides, as :meth:`_Painter.module_rects` grows it, and that growth is part of
    the members' reach."""
    import numpy as np

    nb = len(boxes)
    inner = np.full(len(ext), -1)
    for k, b in enumerate(boxes):  # parents come first: children overwrite them
        inner[b.members] = k
    members: list[Any] = [None] * nb
    offs: list[Any] = [None] * nb
    width = [0.0] * nb
    for k in reversed(range(nb)):
        b = boxes[k]
        own = np.flatnonzero(inner == k)
        mem = [own] + [members[c] for c in b.children]
        off = [ext[own]] + [offs[c] for c in b.children]
        m = np.concatenate(mem).astype(int)
        o = np.concatenate(off, axis=0) + np.array([b.pad, b.pad, b.pad, b.pad + b.top])
        label_w = _MEASURE.width(b.label, _FONT["module"]) + 10.0
        xs = xy[m, 0]
        if float(np.ptp(xs)) > 1e-9:
            width[k] = label_w
        else:
            half_w = float(max(o[:, 0].max(), o[:, 2].max()))
            grow = max(0.0, label_w / 2 - half_w)
            o[:, 0] += grow
            o[:, 2] += grow
        srt = np.argsort(m, kind="stable")
        members[k], offs[k] = m[srt], o[srt]
    return _BoxRoom(ext, members, offs, [b.parent for b in boxes], width)


class _BoxSpacing:
    """The spacing constraints that keep module boxes apart (for :func:`_spacing`).

    The boxes and the nodes directly inside one box (or in none) are the *items* of that box's
    group (the top level is a group too); boxes are kept apart from the other items of their
    group, which keeps them apart from everything outside them: a node of another group lies in a
    box of this group, or in none, and nested boxes lie inside their parents. Two items are
    separated either along the main axis (all of one's layers before all of the other's) or
    across it (all of one's slots below all of the other's), in layout units;
    :func:`_legalize_boxes` made sure one holds. Across, the slot spacing is raised until the
    boxes clear each other; along, each layer pair gets a constraint like those between nodes.
    Coordinates here are the spacing's: ``u`` along the main axis, ``v`` across it.
    """

    def __init__(self, room: _BoxRoom, u: Any, v: Any, level: Any, swap: bool) -> None:
        import numpy as np

        self.u, self.v, self.level = u, v, level
        perm = [1, 0, 3, 2] if swap else [0, 1, 2, 3]  # -> (main lo, cross lo, main hi, cross hi)
        self.ext = np.asarray(room.ext, dtype=float)[:, perm]
        self.members = room.members
        self.offs = [o[:, perm] for o in room.offs]
        self.swap = swap
        inner = np.full(len(u), -1)
        for k in range(len(room.members)):  # parents come first
            inner[room.members[k]] = k
        kids: dict[int, list[int]] = {}
        for k, p in enumerate(room.parent):
            kids.setdefault(p, []).append(k)
        # groups: (box ids of the group's boxes, bare node ids)
        self.groups = [(ks, np.flatnonzero(inner == g)) for g, ks in sorted(kids.items())]
        self.width = room.width
        self.eps = 1e-9
        self.urange = [(float(u[m].min()), float(u[m].max())) for m in room.members]
        self.vrange = [(float(v[m].min()), float(v[m].max())) for m in room.members]

    @staticmethod
    def _extremes(coord: Any, val: Any) -> tuple[Any, Any]:
        """Distinct coordinates and the largest value at each."""
        import numpy as np

        c, inv = np.unique(np.round(coord, 9), return_inverse=True)
        out = np.full(len(c), -np.inf)
        np.maximum.at(out, inv.reshape(-1), val)
        return c, out

    def _cross_bound(self, cl: Any, ol: Any, cu: Any, ou: Any) -> float:
        """Least slot spacing that puts the upper item's lower side ``_BOX_GAP`` above the lower
        item's upper side (distinct slots and reaches of each)."""
        d = cu[None, :] - cl[:, None]
        return float(((ol[:, None] + ou[None, :] + _BOX_GAP) / d).max())

    def cross_slope(self) -> float:
        u, v, eps = self.u, self.v, self.eps
        sy = 0.0
        for ks, bare in self.groups:
            for a, k in enumerate(ks):
                m, o = self.members[k], self.offs[k]
                (u0, u1), (v0, v1) = self.urange[k], self.vrange[k]
                top_c, top_o = self._extremes(v[m], o[:, 3])
                bot_c, bot_o = self._extremes(v[m], o[:, 1])
                # nodes of the group in the box's layers: above or below it
                if len(bare):
                    near = bare[(u[bare] >= u0 - eps) & (u[bare] <= u1 + eps)]
                    up = near[v[near] > v1 + eps]
                    if len(up):
                        sy = max(sy, self._cross_bound(top_c, top_o, v[up], self.ext[up, 1]))
                    down = near[v[near] < v0 - eps]
                    if len(down):
                        sy = max(sy, self._cross_bound(v[down], self.ext[down, 3], bot_c, bot_o))
                for k2 in ks[a + 1:]:
                    (w0, w1), (x0, x1) = self.urange[k2], self.vrange[k2]
                    if w0 > u1 + eps or u0 > w1 + eps:
                        continue  # apart along the main axis
                    m2, o2 = self.members[k2], self.offs[k2]
                    if x0 > v1 + eps:
                        sy = max(sy, self._cross_bound(
                            top_c, top_o, *self._extremes(v[m2], o2[:, 1])))
                    elif v0 > x1 + eps:
                        sy = max(sy, self._cross_bound(
                            *self._extremes(v[m2], o2[:, 3]), bot_c, bot_o))
                if self.swap and self.width[k] > 0:
                    # the label runs across: the spread of the box's slots must hold it
                    need = self.width[k] - bot_o[0] - top_o[-1]
                    if need > 0:
                        sy = max(sy, need / (top_c[-1] - bot_c[0]))
        return sy

    def _cross_extent(self, k: int, sy: float) -> tuple[float, float]:
        m, o = self.members[k], self.offs[k]
        c = self.v[m] * sy
        return float((c - o[:, 1]).min()), float((c + o[:, 3]).max())

    def main_constraints(self, sy: float, keys: Any) -> tuple[Any, Any, Any]:
        """Constraints ``pos[i] + req <= pos[j]`` between layers (``i < j``) that keep the boxes
        of a group clear of the group's other items along the main axis; those that the least
        layer step already meets are left out."""
        import numpy as np

        u, v, level, eps = self.u, self.v, self.level, self.eps
        ci: list[Any] = []
        cj: list[Any] = []
        cr: list[Any] = []
        per_level: dict[int, tuple[Any, Any, Any]] = {}

        def levels(k: int) -> tuple[Any, Any, Any]:
            if k not in per_level:
                m, o = self.members[k], self.offs[k]
                lv, lo = self._extremes(level[m], o[:, 0])
                _, hi = self._extremes(level[m], o[:, 2])
                per_level[k] = (lv.astype(int), lo, hi)
            return per_level[k]

        def add(li: Any, lj: Any, req: Any) -> None:
            li, lj, req = (np.atleast_1d(t) for t in np.broadcast_arrays(li, lj, req))
            keep = (keys[lj] - keys[li]) * _BASE_STEP < req  # the least step does not do it
            ci.append(li[keep].ravel())
            cj.append(lj[keep].ravel())
            cr.append(req[keep].ravel())

        ext = self.ext
        for ks, bare in self.groups:
            ext_c = {k: self._cross_extent(k, sy) for k in ks}
            for a, k in enumerate(ks):
                lvk, lok, hik = levels(k)
                (u0, u1) = self.urange[k]
                c0, c1 = ext_c[k]
                if len(bare):
                    bc0 = v[bare] * sy - ext[bare, 1]
                    bc1 = v[bare] * sy + ext[bare, 3]
                    across = (bc1 + _BOX_GAP > c0) & (c1 + _BOX_GAP > bc0)
                    before = bare[across & (u[bare] < u0 - eps)]
                    after = bare[across & (u[bare] > u1 + eps)]
                    if len(before):
                        add(level[before][:, None], lvk[None, :],
                            ext[before, 2][:, None] + lok[None, :] + _BOX_GAP)
                    if len(after):
                        add(lvk[:, None], level[after][None, :],
                            hik[:, None] + ext[after, 0][None, :] + _BOX_GAP)
                for k2 in ks[a + 1:]:
                    d0, d1 = ext_c[k2]
                    if not (d1 + _BOX_GAP > c0 and c1 + _BOX_GAP > d0):
                        continue
                    (w0, w1) = self.urange[k2]
                    lv2, lo2, hi2 = levels(k2)
                    if u1 < w0 - eps:
                        add(lvk[:, None], lv2[None, :], hik[:, None] + lo2[None, :] + _BOX_GAP)
                    elif w1 < u0 - eps:
                        add(lv2[:, None], lvk[None, :], hi2[:, None] + lok[None, :] + _BOX_GAP)
                if not self.swap and self.width[k] > 0 and len(lvk) > 1:
                    # the label runs along: the spread of the box's layers must hold it
                    add(lvk[0], lvk[-1], self.width[k] - lok[0] - hik[-1])
        if not ci:
            return np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros(0)
        return np.concatenate(ci), np.concatenate(cj), np.concatenate(cr)


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
    # local-derivative factor shown before each edge's gradient ("×2 →"), and its width (pt)
    edge_local: list[str | None] = field(default_factory=list)
    edge_local_w: list[float] = field(default_factory=list)
    boxes: list[_ModuleBox] = field(default_factory=list)  # module boxes, outermost first
    # room around each node beyond its half size (left, bottom, right, top), pt at scale 1:
    # the accumulation text below it and the padding of the module boxes that hold it
    pad: Any = None

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


@dataclass
class _ModuleBox:
    """A labelled box around the nodes that ran inside one ``nn.Module`` call (in a graph that
    records no calls, one run of consecutive ops in the module)."""

    path: str
    label: str  # "layers.0: Linear"
    members: list[int]  # node indexes inside it (in nested boxes too)
    children: list[int]  # indexes (in the box list) of the boxes directly inside it
    depth: int  # 0 for the outermost boxes drawn
    pad: float = 6.0  # pt at scale 1 around the members (and the child boxes)
    top: float = 0.0  # pt at scale 1 above that for the label row
    call: int = 1  # which call of the module: 2 for a ReLU module used a second time
    parent: int = -1  # index of the box directly around it, -1 for none

    @property
    def gid(self) -> str:
        """``graphanim-module-<path>``; ``-call2``, ``-call3``, ... for later calls."""
        return f"graphanim-module-{self.path}" + (f"-call{self.call}" if self.call > 1 else "")


_BoxKey = tuple[str, int]  # (module path, call number)


def _box_chains(graph: Graph) -> dict[str, tuple[_BoxKey, ...]]:
    """Node id -> the module calls it belongs to, outermost first, each ``(path, call)``.

    The calls are those of :func:`graphanim.modules.collapse` (``_call_chains``): a box per call
    of a module, from the calls capture numbered (``attrs["module_call"]``,
    ``graph.module_calls``), so a module called twice (a block's one ``ReLU``, a weight-shared
    cell applied at each step) has a box per call, back to back or with other work between (the
    bounding box of both would hold that work); in a graph that records no calls, a call is a
    maximal run of consecutive ops (in forward order) inside the module. An op belongs to the
    calls of its module and its ancestors (a collapsed module, drawn as one op, to its
    parent's); a value to its op's; a parameter to the innermost call that holds all the ops
    reading it, among the calls of the module that owns it and its ancestors (a weight tied
    across modules, or read by each call of a shared module, sits outside those calls); a
    constant to the calls of the ops reading it when they all ran in the same one."""
    mods = getattr(graph, "modules", None) or {}
    chains: dict[str, tuple[_BoxKey, ...]] = {}
    if not mods:
        return chains
    for op_id, calls in _call_chains(graph).items():
        chains[op_id] = tuple(calls)
    kinds = {n.id: n.kind for n in graph.nodes}
    for e in graph.edges:
        if kinds[e.src] == "op" and e.src in chains and e.dst not in chains:
            chains[e.dst] = chains[e.src]  # op -> its output value
    input_ids = {v.id for v in graph.inputs.values()}
    for n in graph.nodes:
        if n.kind == "op" or n.id in chains:
            continue
        readers = [chains.get(d.id, ()) for d in graph.successors(n.id)]
        if not readers:
            continue
        if n.attrs.get("parameter") and "." in n.name:
            owner = n.name.rsplit(".", 1)[0]  # need not have run (out_proj in attention)
            common = readers[0]
            for r in readers[1:]:
                k = 0
                while k < min(len(common), len(r)) and common[k] == r[k]:
                    k += 1
                common = common[:k]
            while common and not (owner == common[-1][0] or owner.startswith(common[-1][0] + ".")):
                common = common[:-1]
            if common:
                chains[n.id] = common
        elif n.kind == "constant" and n.id not in input_ids:
            if readers[0] and all(r == readers[0] for r in readers):
                chains[n.id] = readers[0]
    return chains


def _module_boxes(graph: Graph, index: Mapping[str, int]) -> list[_ModuleBox]:
    """The module boxes to draw, one per module call (:func:`_box_chains`), parents before
    children. The root module (path ``""``, when ``func`` itself is a module) holds everything
    and gets no box."""
    mods = getattr(graph, "modules", None) or {}
    chains = _box_chains(graph)
    if not chains:
        return []
    members: dict[_BoxKey, list[int]] = {}
    parent: dict[_BoxKey, _BoxKey | None] = {}
    for n in graph.nodes:  # keys in order of first appearance: a parent before its children
        chain = chains.get(n.id, ())
        for k, key in enumerate(chain):
            members.setdefault(key, []).append(index[n.id])
            parent.setdefault(key, chain[k - 1] if k else None)
    keys = list(members)
    label = {key: f"{plain_text(key[0])}: {plain_text(mods[key[0]])}" for key in keys}
    # a box holding exactly what its only child box holds (a model whose forward calls one
    # Sequential) would be drawn as two nested frames around the same nodes: keep the inner one
    # and give it both names
    dropped: set[_BoxKey] = set()
    for key in keys:
        kids = [c for c in keys if parent[c] == key]
        if len(kids) == 1 and set(members[kids[0]]) == set(members[key]):
            label[kids[0]] = f"{label[key]} › {label[kids[0]]}"
            parent[kids[0]] = parent[key]
            dropped.add(key)
    boxes: list[_ModuleBox] = []
    pos: dict[_BoxKey, int] = {}
    for key in keys:
        if key in dropped:
            continue
        up = parent[key]
        depth = 0 if up is None else boxes[pos[up]].depth + 1
        pos[key] = len(boxes)
        boxes.append(_ModuleBox(key[0], label[key], sorted(members[key]), [], depth,
                                top=_line_height(_FONT["module"]) + 4.0, call=key[1],
                                parent=-1 if up is None else pos[up]))
        if up is not None:
            boxes[pos[up]].children.append(pos[key])
    return boxes


def _legalize_boxes(xy: Any, boxes: list[_ModuleBox], src: Any, dst: Any) -> Any:
    """Layout positions (a copy) where no module box, as the bounding box of its members in
    layout units, holds a node of its group or meets a sibling box (see :class:`_BoxSpacing` for
    the groups): then the spacing can keep every box clear of what lies outside it.

    The layout does not know the modules, so a node can sit among the members of a box it does
    not belong to: the loss's ``target`` in the column of the network's last output, an input
    between the weight and the bias docked around it. Such a node moves out of the box's layers
    to a column of its own just past the box's last layer or just before its first one, the
    nearer of the two that keeps all its edges pointing the same way along the main axis. When
    neither does (the node reads from the box and feeds it), it moves across, to the slot just
    above or below the box, and everything beyond that slot moves at least a slot further. Two
    sibling boxes that still meet (their layer and slot ranges cross without either holding a
    node of the other) are parted the same way: the one with fewer members moves across, past
    the other. A node's move keeps every separation already made (whatever lies beyond the new
    slot moves with it), so those steps end; the loop is capped all the same, since parting two
    boxes can put the moved one on a third box that spans the new slot.
    """
    import numpy as np

    xy = np.array(xy, dtype=float).reshape(-1, 2)
    n, nb = len(xy), len(boxes)
    if not nb:
        return xy
    axis = _main_axis(xy, src, dst)
    u, v = xy[:, axis], xy[:, 1 - axis]  # views: writing them moves the nodes
    inner = np.full(n, -1)
    for k, b in enumerate(boxes):
        inner[b.members] = k
    mem = [np.asarray(b.members, dtype=int) for b in boxes]
    kids: dict[int, list[int]] = {}
    for k, b in enumerate(boxes):
        kids.setdefault(b.parent, []).append(k)
    # deepest groups first, the top level last
    order = sorted(kids, key=lambda g: (-(boxes[g].depth if g >= 0 else -1), g))
    bare = {g: np.flatnonzero(inner == g) for g in order}
    nbrs: list[list[int]] = [[] for _ in range(n)]
    for s, d in zip(np.asarray(src).tolist(), np.asarray(dst).tolist()):
        nbrs[s].append(d)
        nbrs[d].append(s)
    eps = 1e-9

    def violation() -> tuple[Any, ...] | None:
        for g in order:
            ks = kids[g]
            r = np.array([[u[m].min(), v[m].min(), u[m].max(), v[m].max()]
                          for m in (mem[k] for k in ks)])
            nodes = bare[g]
            if len(nodes):
                pu, pv = u[nodes][None, :], v[nodes][None, :]
                hit = ((pu >= r[:, 0:1] - eps) & (pu <= r[:, 2:3] + eps)
                       & (pv >= r[:, 1:2] - eps) & (pv <= r[:, 3:4] + eps))
                if hit.any():
                    bi, ni = np.argwhere(hit)[0]
                    return ("node", int(nodes[ni]), r[bi])
            if len(ks) > 1:
                meet = ((r[:, None, 0] <= r[None, :, 2] + eps)
                        & (r[None, :, 0] <= r[:, None, 2] + eps)
                        & (r[:, None, 1] <= r[None, :, 3] + eps)
                        & (r[None, :, 1] <= r[:, None, 3] + eps))
                meet = np.triu(meet, 1)
                if meet.any():
                    a, b = np.argwhere(meet)[0]
                    return ("boxes", ks[a], ks[b], r[a], r[b])
        return None

    def shift_beyond(edge: float, up: bool, amount: float, keep: Any) -> None:
        """Move every node past ``edge`` (above it if ``up``), except ``keep``, by ``amount``."""
        sel = v > edge + eps if up else v < edge - eps
        sel[keep] = False
        v[sel] += amount if up else -amount

    for _ in range(4 * (n + nb) + 8):
        hit = violation()
        if hit is None:
            break
        if hit[0] == "node":
            i, (u0, v0, u1, v1) = hit[1], hit[2]
            w = u[nbrs[i]]
            others = np.delete(u, i)
            best: float | None = None
            if not np.any(np.abs(w - u[i]) <= eps):
                if np.all((w < u[i]) | (w > u1 + eps)):  # past the box's last layer
                    later = others[others > u1 + eps]
                    best = u1 + (min(1.0, float(later.min() - u1) / 2) if len(later) else 1.0)
                if np.all((w > u[i]) | (w < u0 - eps)):  # before its first layer
                    earlier = others[others < u0 - eps]
                    t = u0 - (min(1.0, float(u0 - earlier.max()) / 2) if len(earlier) else 1.0)
                    if best is None or abs(t - u[i]) < abs(best - u[i]):
                        best = t
            if best is not None:
                u[i] = best
                continue
            up = v1 + 1 - v[i] <= v[i] - v0 + 1
            edge = v1 if up else v0
            sign = 1.0 if up else -1.0
            mates = np.flatnonzero((np.abs(u - u[i]) <= eps) & (sign * (v - edge) > eps))
            mates = mates[mates != i]
            # one slot between the node and its layer's next node beyond it
            room = max(1.0, 2.0 - float(np.abs(v[mates] - edge).min())) if len(mates) else 1.0
            shift_beyond(edge, up, room, i)
            v[i] = edge + sign
        else:
            _, a, b, ra, rb = hit
            if len(mem[b]) > len(mem[a]):
                a, b, ra, rb = b, a, rb, ra
            s = mem[b]  # the smaller box moves across the other
            lo, hi = float(v[s].min()), float(v[s].max())
            up = ra[3] + 1 - lo <= hi - (ra[1] - 1)
            edge = ra[3] if up else ra[1]
            shift_beyond(edge, up, hi - lo + 2.0, s)
            v[s] += (edge + 1 - lo) if up else (edge - 1 - hi)
    return xy


def _measure_layout(
    graph: Graph,
    positions: Mapping[str, tuple[float, float]],
    *,
    show_values: bool,
    show_grads: bool,
    show_edge_grads: bool,
    sums: bool = False,
    local: bool = False,
    checks: Mapping[str, tuple[str, bool]] | None = None,
    modules: bool = False,
) -> _Layout:
    import numpy as np

    ids = [n.id for n in graph.nodes]
    index = {nid: i for i, nid in enumerate(ids)}
    checks = checks or {}
    looks = [_node_look(graph, n, show_values, show_grads, checks.get(n.id))
             for n in graph.nodes]
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
    edge_local: list[str | None] = []
    edge_local_w: list[float] = []
    sizes = []
    if local and show_edge_grads:
        from .frames import local_label
    for e in graph.edges:
        if show_edge_grads and e.grad is not None:
            t = _edge_text(e.grad)
            edge_text.append(t)
            lt = local_label(graph, e) if local else None
            lw = _MEASURE.width(lt, _FONT["edge"]) + _LOCAL_GAP if lt else 0.0
            edge_local.append(lt)
            edge_local_w.append(lw)
            sizes.append((_MEASURE.width(t, _FONT["edge"]) + 6.0 + lw,
                          _block_height(t, _FONT["edge"]) + 3.0))
        else:
            edge_text.append(None)
            edge_local.append(None)
            edge_local_w.append(0.0)
            sizes.append((0.0, 0.0))
    edge_size = np.array(sizes, dtype=float).reshape(-1, 2)
    along = edge_size[:, _main_axis(xy, src, dst)]
    need = np.where(along > 0, along + 26.0, _GAP_MAIN)
    boxes = _module_boxes(graph, index) if modules else []
    pad = np.zeros((len(ids), 4))
    pad[:, 1] = extra
    # the accumulation text hangs under its box: count it in the box for spacing
    half_sp = half.copy()
    half_sp[:, 1] += extra / 2
    room: _BoxRoom | None = None
    if boxes:
        xy = _legalize_boxes(xy, boxes, src, dst)
        ext = np.column_stack([half[:, 0], half[:, 1] + extra, half[:, 0], half[:, 1]])
        room = _box_room(boxes, ext, xy)
        for k, b in enumerate(boxes):
            if b.depth == 0:  # what the outermost box around a node adds to its reach
                pad[room.members[k]] = room.offs[k] - half[room.members[k]][:, [0, 1, 0, 1]]
        if len(src):
            # an edge that leaves a box gets room for the box's padding on top of its arrow
            inside = np.zeros((len(ids), len(boxes)), dtype=bool)
            for k, b in enumerate(boxes):
                inside[b.members, k] = True
            tops = np.array([b.pad + b.top for b in boxes])
            diff = inside[src] != inside[dst]
            need = need + np.where(diff.any(axis=1), (diff * tops).sum(axis=1) + 4.0, 0.0)
    mx, my = _spacing(xy, half_sp, src, dst, need, room)
    lay = _Layout(graph, ids, looks, xy, half, src, dst, edge_text, edge_size, mx, my, extra,
                  edge_local=edge_local, edge_local_w=edge_local_w, boxes=boxes, pad=pad)
    if len(ids):
        px, py = mx.fwd(xy[:, 0]), my.fwd(xy[:, 1])
        lay.content = (
            float((px - half[:, 0] - pad[:, 0]).min()),
            float((py - half[:, 1] - pad[:, 1]).min()),
            float((px + half[:, 0] + pad[:, 2]).max()),
            float((py + half[:, 1] + pad[:, 3]).max()),
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
        pd = lay.pad * f
        cx = (float((px - hw - pd[:, 0]).min()) + float((px + hw + pd[:, 2]).max())) / 2
        cy = (float((py - hh - pd[:, 1]).min()) + float((py + hh + pd[:, 3]).max())) / 2
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


def _look_style(theme: dict[str, str], look: _NodeLook) -> _Style:
    """The base style of a node (a gradient-check mismatch adds a ring: see ``draw_rings``)."""
    return _base_style(theme, look.role)


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
        self.thumbnails = True  # heatmaps of tensors (off only for labels=False)
        self.show_values = show_values
        self.px = fit.mx.fwd(lay.xy[:, 0]) if len(lay.ids) else []
        self.py = fit.my.fwd(lay.xy[:, 1]) if len(lay.ids) else []
        self.nodes: list[_NodeArt] = []
        self.edge_geom: list[tuple[tuple[float, float], ...] | None] = []  # start, end, tip (pt)
        self.edge_labels: dict[int, Any] = {}
        self.edge_locals: dict[int, Any] = {}  # the "×2 →" factors before edge gradients
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

        styles = [_look_style(self.theme, lk) for lk in self.lay.looks]
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

    def draw_rings(self, ax: Axes) -> None:
        """A thick ring in the warning colour around each node whose gradient check failed."""
        from matplotlib.patches import PathPatch
        from matplotlib.path import Path as MPath

        f = self.fit.f
        for na, lk in zip(self.nodes, self.lay.looks):
            if not lk.bad:
                continue
            cx, cy = self._pt(na.index)
            grow = 3.0
            hw, hh = (lk.w / 2 + grow) * f, (lk.h / 2 + grow) * f
            v, c = _rounded_rect(cx - hw, cy - hh, cx + hw, cy + hh, 7.0 * f)
            ring = PathPatch(MPath(self.to_data(v), c), facecolor="none",
                             edgecolor=self.theme["check_bad"], linewidth=2.4 * max(f, 0.3),
                             zorder=2.05, clip_on=False)
            ring.set_gid(f"graphanim-{lk.node.id}-mismatch")
            ax.add_artist(ring)

    def node_patches(self, ax: Axes) -> None:
        """One patch per node for a Scene, which draws them itself: not added to ``ax``
        (adding hundreds of patches costs clip paths and data-limit updates for nothing)."""
        from matplotlib.patches import PathPatch

        fig: Any = ax.get_figure()
        for na, lk in zip(self.nodes, self.lay.looks):
            st = _look_style(self.theme, lk)
            patch = PathPatch(na.path, facecolor=st.fill, edgecolor=st.edge,
                              linewidth=st.lw * max(self.fit.f, 0.3), zorder=2.0,
                              transform=ax.transData)
            patch.set_figure(fig)
            patch.set_gid(f"graphanim-{lk.node.id}")
            na.patch = patch

    def module_rects(self) -> list[tuple[float, float, float, float]]:
        """Each module box (pt): its members' shapes and its child boxes, plus padding and a row
        for the label on top; at least as wide as its label."""
        f = self.fit.f
        lay = self.lay
        boxes = lay.boxes
        rects: list[tuple[float, float, float, float]] = [(0.0, 0.0, 0.0, 0.0)] * len(boxes)
        for k in reversed(range(len(boxes))):  # children come after their parents
            b = boxes[k]
            xs0, ys0, xs1, ys1 = [], [], [], []
            for i in b.members:
                cx, cy = self._pt(i)
                hw, hh = lay.half[i, 0] * f, lay.half[i, 1] * f
                xs0.append(cx - hw)
                xs1.append(cx + hw)
                ys0.append(cy - hh - lay.extra_below[i] * f)
                ys1.append(cy + hh)
            for c in b.children:
                r = rects[c]
                xs0.append(r[0])
                ys0.append(r[1])
                xs1.append(r[2])
                ys1.append(r[3])
            x0, y0 = min(xs0) - b.pad * f, min(ys0) - b.pad * f
            x1, y1 = max(xs1) + b.pad * f, max(ys1) + (b.pad + b.top) * f
            label_w = (_MEASURE.width(b.label, _FONT["module"]) + 10.0) * f
            if x1 - x0 < label_w:
                grow = (label_w - (x1 - x0)) / 2
                x0, x1 = x0 - grow, x1 + grow
            rects[k] = (x0, y0, x1, y1)
        return rects

    def draw_modules(self, ax: Axes) -> None:
        """Module boxes behind everything: a light fill and border (deeper boxes a shade
        darker), the label ``path: Class`` in the top-left corner."""
        if not self.lay.boxes:
            return
        from matplotlib.colors import to_rgba
        from matplotlib.patches import PathPatch
        from matplotlib.path import Path as MPath

        f = self.fit.f
        th = self.theme
        for b, (x0, y0, x1, y1) in zip(self.lay.boxes, self.module_rects()):
            v, c = _rounded_rect(x0, y0, x1, y1, 7.0 * f)
            # translucent: nested boxes add up to a darker shade
            patch = PathPatch(MPath(self.to_data(v), c), facecolor=to_rgba(th["module_fill"], 0.7),
                              edgecolor=th["module_edge"], linewidth=0.9 * max(f, 0.3),
                              zorder=0.2 + 0.01 * b.depth, clip_on=False)
            patch.set_gid(b.gid)
            ax.add_artist(patch)
            if self.labels:
                xy = self.to_data([(x0 + 5.0 * f, y1 - 3.0 * f)])[0]
                t = self.text(ax, xy, b.label, _FONT["module"], color=th["module_text"],
                              gid=f"{b.gid}-label", zorder=0.9, va="top")
                t.set_horizontalalignment("left")

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
                if fld.img is not None or not fld.text:
                    continue
                fx, fy = cx + fld.dx * f, cy + fld.dy * f
                if fld.role.startswith("grad"):
                    color = th["grad"]
                elif fld.role == "check":
                    color = th["check_bad"] if lk.bad else th["check_ok"]
                elif lk.role == "constant" or fld.role in ("shape", "ops"):
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

    def images(self, ax: Axes, add: bool) -> None:
        """Heatmap thumbnails of tensor fields (``BboxImage`` artists in data coordinates);
        added to ``ax`` for a picture, kept in the node's ``texts`` for a Scene. They stay when
        the text is hidden for legibility (only ``labels=False`` leaves them out)."""
        if not self.thumbnails:
            return
        from matplotlib.image import BboxImage
        from matplotlib.transforms import Bbox, TransformedBbox

        f = self.fit.f
        fig: Any = ax.get_figure()
        for na, lk in zip(self.nodes, self.lay.looks):
            cx, cy = self._pt(na.index)
            for fld in lk.fields:
                if fld.img is None:
                    continue
                x, y = cx + fld.dx * f, cy + fld.dy * f
                hw, hh = fld.tw / 2 * f, fld.th / 2 * f
                (x0, y0), (x1, y1) = self.to_data([(x - hw, y - hh), (x + hw, y + hh)])
                im = BboxImage(TransformedBbox(Bbox.from_extents(x0, y0, x1, y1), ax.transData),
                               interpolation="nearest", origin="upper", resample=False,
                               zorder=3.0)
                im.set_data(fld.img)
                im.set_gid(f"graphanim-{lk.node.id}-{fld.role}")
                if add:
                    ax.add_artist(im)
                else:
                    im.set_figure(fig)
                na.texts[fld.role] = im

    def edge_label_requests(self) -> list[_TextReq]:
        """Gradient labels near the middle of each edge, moved along it (or beside it) to avoid
        nodes and earlier labels; where no spot is free, the least crowded one. With local
        derivatives the factor (``×2 →``, in the text colour) comes first, then the gradient."""
        if not self.labels:
            return []
        f = self.fit.f
        grid = _Grid(48.0)
        for na, lk in zip(self.nodes, self.lay.looks):
            cx, cy = self._pt(na.index)
            hw, hh = lk.w / 2 * f, lk.h / 2 * f
            grid.add((cx - hw, cy - hh, cx + hw, cy + hh))
        locals_ = self.lay.edge_local or [None] * len(self.lay.edge_text)
        local_w = self.lay.edge_local_w or [0.0] * len(self.lay.edge_text)
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
            box = place[2]
            lt, lw = locals_[ei], local_w[ei] * f
            gx = place[0]
            if lt:
                # the factor on the left part of the box, the gradient on the right part
                gx = place[0] + lw / 2
                lx = box[0] + (lw - _LOCAL_GAP * f) / 2 + 3.0 * f
                reqs.append(_TextReq(lx, y, lt, _FONT["edge"], False, self.theme["local"], va,
                                     4.0, f"graphanim-edge-{ei}-local", ("edge-local", ei),
                                     box=(box[0], box[1], box[0] + lw + 3.0 * f, box[3])))
                box = (box[0] + lw, box[1], box[2], box[3])
            reqs.append(_TextReq(gx, y, text, _FONT["edge"], False, self.theme["grad"], va,
                                 4.0, f"graphanim-edge-{ei}", ("edge", ei), box=box))
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
            elif r.key[0] == "edge-local":
                self.edge_locals[int(r.key[1])] = t
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
                what: str, kind: str = "raster") -> bool:
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
    if user_size:
        fix = "pass a larger figsize="
    elif kind == "svg":  # already the largest page: the text can only be drawn smaller
        fix = "pass figsize= for a larger page"
    else:
        fix = "save as .svg (no size cap), or pass figsize="
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
    local: bool | None = None,
    check: Any = None,
    modules: bool | None = None,
) -> Figure:
    th = _check_theme(theme)
    if not isinstance(graph, Graph):
        raise TypeError(f"plot() needs a graphanim Graph, got {type(graph).__name__}")
    for name, flag in (("local", local), ("modules", modules)):
        if flag is not None and not isinstance(flag, bool):
            raise TypeError(f"{name} must be True, False or None (automatic), got {flag!r}")
    backward = _has_backward(graph)
    checks = _check_fields(graph, check)
    show_grads = bool((with_all or checks) and backward) if grads is None else bool(grads)
    show_edge = bool(with_all and backward) if edge_grads is None else bool(edge_grads)
    show_values = bool(values or with_all)
    pos = _positions(graph, layout, direction)
    with _rc():
        measure: dict[str, Any] = {"show_values": show_values, "show_grads": show_grads,
                   "show_edge_grads": show_edge, "checks": checks, "modules": modules is not False}
        lay = _measure_layout(graph, pos, local=show_edge if local is None else local, **measure)
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
        if local is None and user_size and any(lay.edge_local) and (
                _smallest_font(lay) * fit.f < _MIN_PT_AUTO):
            # automatic local derivatives only where they leave the text legible
            lay = _measure_layout(graph, pos, local=False, **measure)
            fit = _fit(lay, *area)
        draw_labels = _legibility(lay, fit.f, labels, user_size, "plot", kind)
        painter = _Painter(lay, fit, th, labels=draw_labels, show_values=show_values)
        painter.thumbnails = labels is not False
        _prepare_axes(ax, fit, th)
        painter.node_paths()
        painter.edge_paths()
        painter.draw_modules(ax)
        painter.draw_edges(ax)
        reqs = painter.node_text_requests() + painter.edge_label_requests()
        big = len(reqs) > _GLYPH_TEXTS or len(lay.ids) > _GLYPH_TEXTS
        painter.draw_nodes(ax, compound=big)
        painter.draw_rings(ax)
        painter.draw_texts(ax, reqs, glyphs=big)
        painter.images(ax, add=True)
    return fig  # type: ignore[return-value]


def _check_fields(graph: Graph, check: Any) -> dict[str, tuple[str, bool]]:
    """Input node id -> (text, agrees) of the gradient-check overlay."""
    if check is None or check is False:
        return {}
    if check is True:
        # a collapsed graph checks the graph it was made from (same inputs)
        method = getattr(graph, "check", None) or getattr(getattr(graph, "source", None),
                                                          "check", None)
        if not callable(method):
            raise TypeError(
                "check=True re-runs the function, which needs a TorchGraph; pass the result of "
                "graphanim.explain.check(...) instead, or check=False"
            )
        check = method()
    rows = getattr(check, "rows", None)
    if rows is None:
        raise TypeError(
            f"check must be True, False, None or the GradCheck that graph.check() returns, got "
            f"{type(check).__name__}"
        )
    atol = float(getattr(check, "atol", 1e-5))
    rtol = float(getattr(check, "rtol", 1e-4))

    def ok_of(row: tuple[Any, ...]) -> bool:
        return float(row[4]) <= atol + rtol * abs(float(row[3]))

    by_name: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_name.setdefault(str(row[0]), []).append(tuple(row))
    return {graph.inputs[name].id: _check_text(found, ok_of)
            for name, found in by_name.items() if name in graph.inputs}


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
        For an unknown ``theme`` (the message lists the themes) or a layout dict without a
        position for every node.
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


def _figure(graph: Graph, plot_kwargs: dict[str, Any], kind: str) -> Figure:
    """A figure not registered with pyplot (nothing to close, no GUI), for files and reprs;
    ``kind`` (raster, svg, pdf) sets the automatic size cap."""
    kw = dict(plot_kwargs)
    with_all = bool(kw.pop("with_all", False))
    unknown = set(kw) - {"values", "grads", "layout", "theme", "figsize", "dpi", "edge_grads",
                         "labels", "direction", "local", "check", "modules"}
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    return _draw(
        graph, with_all, values=kw.get("values", True), grads=kw.get("grads"), ax=None,
        layout=kw.get("layout"), theme=kw.get("theme", "light"), figsize=kw.get("figsize"),
        dpi=kw.get("dpi"), edge_grads=kw.get("edge_grads"), labels=kw.get("labels"),
        managed=False, kind=kind, direction=kw.get("direction"), local=kw.get("local"),
        check=kw.get("check"), modules=kw.get("modules"),
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
    in their record fields (a constant always shows its value; tensor heatmaps appear with their
    field); edges in ``active_edges`` are drawn thick in the pass colour, backward with the head
    at the operand (the edge's grey forward tip hidden); ``edge_grads`` label their edges with
    the gradient flowing back, preceded by the local derivative (``×2 → 2``); ``sums`` put an
    accumulation such as ``2 + 3 = 5`` under a value; ``saved`` values get their value field
    tinted and outlined blue; the ``caption`` is written under the graph (the ``note`` as a last
    line in blue) and the pass name above it. Module boxes are part of the fixed background.

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
    local : bool, optional
        Local derivatives before the edge gradients; default: shown unless they would push the
        text below 8 pt.
    modules : bool, optional
        Module boxes; default: drawn when the graph ran through modules.

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
        local: bool | None = None,
        modules: bool | None = None,
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
            measure: dict[str, Any] = {"show_values": True, "show_grads": show_grads,
                       "show_edge_grads": show_grads, "sums": show_grads,
                       "modules": modules is not False}
            lay = _measure_layout(graph, pos, local=show_grads and local is not False, **measure)
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
            if local is None and any(lay.edge_local) and (
                    _smallest_font(lay) * fit.f < _MIN_PT_AUTO):
                # automatic local derivatives only where they leave the text legible
                lay = _measure_layout(graph, pos, local=False, **measure)
                fit = _fit(lay, w_pt, graph_h)
            self._labels = _legibility(lay, fit.f, labels, True, "animation")
            self.fig, self.ax = fig, ax
            self._lay, self._fit = lay, fit
            _prepare_axes(ax, fit, th)
            p = _Painter(lay, fit, th, labels=self._labels, show_values=True)
            p.thumbnails = labels is not False
            self._painter = p
            p.node_paths()
            p.edge_paths()
            p.draw_modules(ax)
            p.draw_edges(ax)
            p.node_patches(ax)
            p.draw_texts(ax, p.node_text_requests() + p.edge_label_requests(), glyphs=False)
            p.images(ax, add=False)
            self._shape_pts: dict[int, Any] = {}
            self._make_overlays(ax)
            self._make_saved(ax)
            self._caption_on = bool(caption)
            self._caption_box = (0, 0, wpx, math.ceil(band_bottom / 72.0 * self._dpi))
            self._phase_box = (0, hpx - math.ceil(band_top / 72.0 * self._dpi), wpx, hpx)
            # every artist that changes is drawn by the Scene, not by the figure
            dynamic: list[Any] = []
            for pair in self._edge_overlay:
                if pair is not None:
                    dynamic.extend(pair)
            dynamic.extend(self._edge_mask.values())
            for na in p.nodes:
                dynamic.append(na.patch)
                dynamic.extend(na.texts.values())
            dynamic.extend(self._saved.values())
            dynamic.extend(p.edge_labels.values())
            dynamic.extend(p.edge_locals.values())
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
            self._caption_text: tuple[str, str] = ("", "")
            self._phase_text = ""
            self._phase_sprite: _Sprite | None = None
            self._node_state: list[tuple[Any, ...]] = []
            for na, lk in zip(p.nodes, lay.looks):
                state = ("normal", lk.role == "constant", False, None, False)
                self._node_state.append(state)
                self._apply_node(na.index, state, None)
            self._edge_state: list[tuple[bool, bool, str | None]] = [
                (False, False, None)] * len(graph.edges)
            self._redraw([(0, 0, wpx, hpx)])

    # -- construction helpers
    def _make_overlays(self, ax: Axes) -> None:
        """A thick line and head per edge, shown while the edge is active (drawn by the Scene,
        not added to ``ax``). Forward, the head sits on the edge's own arrow tip; backward, on
        the operand's end, pointing at it: the gradient flows against the arrow."""
        import numpy as np
        from matplotlib.lines import Line2D
        from matplotlib.patches import Polygon

        p = self._painter
        f = self._fit.f
        lw = 2.6 * max(f, 0.3)
        fig: Any = ax.get_figure()
        self._edge_overlay: list[tuple[Any, Any] | None] = []
        self._edge_mask: dict[int, Any] = {}  # edge index -> cover of its forward arrow head
        self._overlay_geom: dict[int, dict[str, Any]] = {}  # id -> look -> data points
        for g in p.edge_geom:
            if g is None:
                self._edge_overlay.append(None)
                continue
            start, end, tip = g
            pts = p.to_data([start, end, *p.arrow_head(tip, start, 1.4)])
            length = math.hypot(tip[0] - start[0], tip[1] - start[1]) or 1.0
            ux, uy = (tip[0] - start[0]) / length, (tip[1] - start[1]) / length
            back = _ARROW_LEN * f * 1.4 * 0.5
            bstart = (start[0] + ux * back, start[1] + uy * back)
            bpts = p.to_data([tip, bstart, *p.arrow_head(start, tip, 1.4)])
            line = Line2D(pts[:2, 0], pts[:2, 1], linewidth=lw, solid_capstyle="butt",
                          zorder=1.5, color=self.theme["forward"], visible=False,
                          transform=ax.transData)
            head = Polygon(pts[2:], closed=True, zorder=1.51, facecolor=self.theme["forward"],
                           edgecolor="none", visible=False, transform=ax.transData)
            for a in (line, head):
                a.set_figure(fig)
            self._shape_pts[id(line)] = np.concatenate([pts[:2], bpts[:2]])
            self._shape_pts[id(head)] = np.concatenate([pts[2:], bpts[2:]])
            self._overlay_geom[id(line)] = {"forward": pts[:2], "backward": bpts[:2]}
            self._overlay_geom[id(head)] = {"forward": pts[2:], "backward": bpts[2:]}
            self._edge_overlay.append((line, head))
            # backward, the static edge's forward arrow head is painted over in the background
            # colour: the highlighted edge then points one way only, at the operand
            (hx0, hy0), (hx1, hy1), (hx2, hy2) = p.arrow_head(tip, start, 1.0)
            cxm, cym = (hx0 + hx1 + hx2) / 3, (hy0 + hy1 + hy2) / 3
            grow = 1.0 + 1.2 / max(_ARROW_HALF, 1e-9)
            tri = [(cxm + (x - cxm) * grow, cym + (y - cym) * grow)
                   for x, y in ((hx0, hy0), (hx1, hy1), (hx2, hy2))]
            mask = Polygon(p.to_data(tri), closed=True, zorder=1.49,
                           facecolor=self.theme["background"], edgecolor="none", visible=False,
                           transform=ax.transData)
            mask.set_figure(fig)
            self._shape_pts[id(mask)] = p.to_data(tri)
            self._edge_mask[len(self._edge_overlay) - 1] = mask
        for na, lk in zip(p.nodes, self._lay.looks):
            cx, cy = p._pt(na.index)
            hw, hh = lk.w / 2 * self._fit.f, lk.h / 2 * self._fit.f
            self._shape_pts[id(na.patch)] = p.to_data(
                np.array([(cx - hw, cy - hh), (cx + hw, cy + hh)]))

    def _make_saved(self, ax: Axes) -> None:
        """Per value node, the highlight of the part of its box that holds the forward value,
        shown while a backward step reads it as a saved tensor (the whole box outlined when no
        value is shown)."""
        import numpy as np
        from matplotlib.patches import PathPatch
        from matplotlib.path import Path as MPath

        p = self._painter
        f = self._fit.f
        fig: Any = ax.get_figure()
        self._saved: dict[int, Any] = {}
        for na, lk in zip(p.nodes, self._lay.looks):
            if lk.role == "op":
                continue
            cx, cy = p._pt(na.index)
            if lk.value_box is not None:
                x0, y0, x1, y1 = lk.value_box
                inset = 2.2
                box = (cx + (x0 + inset) * f, cy + (y0 + inset) * f,
                       cx + (x1 - inset) * f, cy + (y1 - inset) * f)
                fill = self.theme["saved_fill"]
            else:
                grow = 2.5
                box = (cx - (lk.w / 2 + grow) * f, cy - (lk.h / 2 + grow) * f,
                       cx + (lk.w / 2 + grow) * f, cy + (lk.h / 2 + grow) * f)
                fill = "none"
            v, c = _rounded_rect(*box, 3.0 * f)
            data = p.to_data(v)
            patch = PathPatch(MPath(data, c), facecolor=fill, edgecolor=self.theme["saved_edge"],
                              linewidth=1.6 * max(f, 0.3), zorder=2.5, transform=ax.transData)
            patch.set_figure(fig)
            patch.set_gid(f"graphanim-{lk.node.id}-saved")
            self._shape_pts[id(patch)] = np.array([data.min(axis=0), data.max(axis=0)])
            self._saved[na.index] = patch

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
        saved = set(getattr(frame, "saved", ()))
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
                       nid in frame.grads, frame.sums.get(nid), nid in saved)
                old = self._node_state[na.index]
                if new != old:
                    dirty.extend(self._apply_node(na.index, new, old))
                    self._node_state[na.index] = new
            act_edges = set(frame.active_edges)
            for ei in range(len(self.graph.edges)):
                on = ei in act_edges
                new_e = (on, ei in frame.edge_grads, direction if on else None)
                if new_e != self._edge_state[ei]:
                    dirty.extend(self._apply_edge(ei, new_e[:2], direction))
                    self._edge_state[ei] = new_e
            if self._caption_on:
                caption = (frame.caption, getattr(frame, "note", ""))
                if caption != self._caption_text:
                    self._caption_text = caption
                    self._set_caption(*caption)
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
        style, vis_value, vis_grad, sum_text, is_saved = new
        boxes = self._set_look(na.patch, style)
        if style != (old[0] if old else None):
            # the texts sit on the box: redrawn with it (their look is unchanged)
            boxes += [self._extent[id(t)] for t in na.texts.values()]
        mark = self._saved.get(i)
        if mark is not None:
            boxes += self._set_look(mark, "on" if is_saved else None)
        for role, t in na.texts.items():
            if role.startswith("value"):
                vis = vis_value
            elif role.startswith("grad"):
                vis = vis_grad
            else:
                vis = True
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
        mask = self._edge_mask.get(ei)
        if mask is not None:
            boxes += self._set_look(mask, "on" if active and direction == "backward" else None)
        for lab in (self._painter.edge_labels.get(ei), self._painter.edge_locals.get(ei)):
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
                pts = self._overlay_geom[id(a)][look]
                if hasattr(a, "set_xy"):
                    a.set_xy(pts)
                else:
                    a.set_data(pts[:, 0], pts[:, 1])
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

    def _set_caption(self, text: str, note: str = "") -> None:
        """Caption glyphs, centred line by line, shrunk to fit the band when long; the ``note``
        (saved tensors) as a last line in the colour of the saved-tensor highlight."""
        import matplotlib.cbook as cbook

        self._caption_glyphs = []
        if not text and not note:
            return
        size = _FONT["caption"]
        avail_w = self._w - 16.0 * self._dpi / 72.0
        avail_h = self._caption_box[3] - 6.0 * self._dpi / 72.0
        lines = [(line, self.theme["text"]) for line in text.split("\n")] if text else []
        if any(cbook.is_math_text(line) for line, _ in lines) or cbook.is_math_text(note):
            self._caption_glyphs = self._math_caption(text, note)
            return
        lines = [(line.replace(r"\$", "$"), color) for line, color in lines]
        if note:
            lines.append((note.replace(r"\$", "$"), self.theme["saved_edge"]))
        ratio = _FONT["note"] / _FONT["caption"]  # the note is set a little smaller
        for _ in range(4):
            note_size = round(size * ratio * 2) / 2
            sets = [self._glyph_set(note_size if note and k == len(lines) - 1 else size, color,
                                    False) for k, (_, color) in enumerate(lines)]
            laid = [g_.layout(line) for g_, (line, _) in zip(sets, lines)]
            width = max((w for _, w in laid), default=0.0)
            pitches = [1.2 * g_.line_px for g_ in sets]
            height = sum(pitches) - pitches[-1] + sets[-1].line_px if sets else 0.0
            scale = min(1.0, avail_w / width if width else 1.0, avail_h / height if height else 1.0)
            if scale >= 0.999 or size <= 4.0:
                break
            size = max(4.0, math.floor(size * scale * 2) / 2)
        cy = self._caption_box[3] / 2.0
        top = cy + height / 2.0
        for (glyphs, width), g_, pitch in zip(laid, sets, pitches):
            base = round(top - g_.line_px * 0.8)
            top -= pitch
            x = round(self._w / 2.0 - width / 2.0)
            self._caption_glyphs.extend((s, x + dx, base) for s, dx in glyphs)

    def _math_caption(self, text: str, note: str = "") -> list[tuple[_Sprite, int, int]]:
        """A caption with mathtext: rasterised whole by matplotlib (slower, exact); the note
        under it in its own colour."""
        from matplotlib.text import Text
        from matplotlib.transforms import IdentityTransform

        pitch = 1.2 * _line_height(_FONT["caption"]) * self._dpi / 72.0
        cy = self._caption_box[3] / 2.0
        n_lines = (text.count("\n") + 1 if text else 0) + (1 if note else 0)
        out = []
        parts = [(text, self.theme["text"], text.count("\n") + 1 if text else 0, "caption"),
                 (note, self.theme["saved_edge"], 1, "note")]
        top = cy + (n_lines - 1) * pitch / 2.0
        for part, color, count, font in parts:
            if not part:
                continue
            y = top - (count - 1) * pitch / 2.0
            top -= count * pitch
            t = Text(self._w / 2.0, y, part, fontproperties=_MEASURE.prop(_FONT[font]),
                     color=color, ha="center", va="center", multialignment="center",
                     usetex=False, parse_math=True, transform=IdentityTransform())
            t.set_figure(self.fig)
            sprite = self._render(t, self._caption_box)
            if sprite is not None:
                out.append((sprite, 0, 0))
        return out

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
