"""What each node shows: its role, fields (name, value, gradient, check), their texts and sizes,
and the heatmap thumbnails of large tensors."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..graph import Graph, Node, format_number, format_tensor, plain_text
from .text import block_height, text_width
from .themes import FONT, PAD_X, PAD_Y

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

__all__ = [
    "Field", "NodeLook", "as_grid", "check_fields", "check_text", "edge_grad_text", "grad_text",
    "heatmap_pixels", "node_look", "node_role", "pool_blocks", "value_text",
]


# -- what each node shows ----------------------------------------------------------------------


def value_text(t: Any) -> str:
    """``format_tensor`` text; a small matrix gets one line per row."""
    text = format_tensor(t)
    if text.startswith("[") and "; " in text:
        text = text.replace("; ", "\n")
    return text


def edge_grad_text(t: Any) -> str:
    """An edge's gradient label: its numbers, or for a large tensor its shape (the numbers are
    on the node it flows into)."""
    if _is_big(t):
        return "×".join(str(int(s)) for s in getattr(t, "shape", ()))
    return value_text(t)


def grad_text(t: Any) -> str:
    return "∂ " + value_text(t)


@dataclass
class Field:
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
class NodeLook:
    """What one node shows and its size (pt at scale 1)."""

    node: Node
    role: str  # "input", "parameter", "output", "value", "constant", "op"
    fields: list[Field]
    w: float
    h: float
    ellipse: bool = False
    # separator lines between fields, relative to the node centre, pt at scale 1
    separators: list[tuple[float, float, float, float]] = field(default_factory=list)
    bad: bool = False  # the gradient check found a mismatch here: drawn with a warning border
    # the part of the box that holds the forward value (x0, y0, x1, y1 relative to the centre,
    # pt at scale 1): highlighted when a backward step reads it as a saved tensor
    value_box: tuple[float, float, float, float] | None = None


def node_role(graph: Graph, node: Node) -> str:
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


def as_grid(t: Any) -> np.ndarray:
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


def pool_blocks(a: np.ndarray, cells: int) -> np.ndarray:
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


def heatmap_pixels(t: Any) -> tuple[np.ndarray, float, float]:
    """RGBA pixels (one per cell) of a diverging colormap centred at 0, scaled to the tensor's
    largest magnitude, and the thumbnail's size in pt."""
    import numpy as np
    from matplotlib import colormaps

    grid = pool_blocks(as_grid(t), _HEAT_CELLS)
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


def check_text(rows: list[tuple[Any, ...]], ok_of: Any) -> tuple[str, bool]:
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


def _tensor_row(t: Any, role: str, size: float) -> list[Field]:
    """One card row for a tensor: its numbers (≤ 4×4), or a heatmap and its shape and
    min/mean/max."""
    if not _is_big(t):
        return [Field(role, value_text(t) if role == "value" else grad_text(t), size, False)]
    img, iw, ih = heatmap_pixels(t)
    text = _summary_text(t)
    return [Field(f"{role}-img", "", size, False, iw, ih, img=img),
            Field(role, text if role == "value" else "∂ " + text, FONT["stats"], False)]


def _card(node: Node, role: str, show_values: bool, show_grads: bool,
          check: tuple[str, bool] | None) -> NodeLook:
    """A tensor's record: rows stacked top to bottom (name with shape and dtype; value;
    gradient; check). A heatmap row names the shape itself, so the top row then shows the dtype
    only."""
    const = role == "constant"
    rows: list[list[Field]] = []
    value_row = None
    if (show_values or const) and node.value is not None:
        value_row = 1
        rows.append(_tensor_row(node.value, "value", FONT["const"] if const else FONT["value"]))
    if show_grads and node.grad is not None and not const:
        rows.append(_tensor_row(node.grad, "grad", FONT["grad"]))
    if check is not None:
        rows.append([Field("check", check[0], FONT["value"], False)])
    head = [Field("name", node.label or node.name, FONT["const"] if const else FONT["name"],
                   True)]
    shape = _shape_text(node)
    if any(f.img is not None for row in rows for f in row):
        shape = plain_text(node.dtype) if node.dtype else ""
    if shape:
        head.append(Field("shape", shape, FONT["shape"], False))
    rows.insert(0, head)
    gap = 5.0
    for row in rows:
        for f in row:
            if f.img is None:
                f.tw = text_width(f.text, f.size, f.bold)
                f.th = block_height(f.text, f.size)
    widths = [sum(f.tw for f in row) + gap * (len(row) - 1) for row in rows]
    w = max(widths) + 2 * PAD_X
    min_h = 15.0 if const else 19.0
    heights = [max(max(f.th for f in row) + 2 * PAD_Y - 1.0, min_h) for row in rows]
    h = sum(heights)
    y = h / 2
    fields: list[Field] = []
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
    return NodeLook(node, role, fields, w, h, separators=seps,
                     bad=check is not None and not check[1], value_box=value_box)


def _collapsed_look(node: Node, text: str) -> NodeLook:
    """A collapsed module: a box (it stands for many ops), its size in a second line."""
    count = node.attrs.get("ops")
    parts = [Field("op", text, FONT["name"], True)]
    if isinstance(count, int):
        parts.append(Field("ops", f"{count} op{'s' if count != 1 else ''}", FONT["shape"], False))
    for f in parts:
        f.tw = text_width(f.text, f.size, f.bold)
        f.th = block_height(f.text, f.size)
    w = max(f.tw for f in parts) + 2 * PAD_X + 6.0
    h = sum(f.th for f in parts) + 2 * PAD_Y + 4.0 + 2.0 * (len(parts) - 1)
    y = h / 2 - PAD_Y - 2.0
    for f in parts:
        f.dy = y - f.th / 2
        y -= f.th + 2.0
    return NodeLook(node, "op", parts, w, h)


def node_look(graph: Graph, node: Node, show_values: bool, show_grads: bool,
               check: tuple[str, bool] | None = None) -> NodeLook:
    """Fields and size of a node: ops are ellipses with their symbol; scalar values are records
    ``name | value | ∂ grad`` in a row; tensors are cards with their shape and dtype, small ones
    (≤ 4×4) as numbers, larger ones as heatmaps with min/mean/max. ``check`` adds the gradient
    check's field (text, agrees)."""
    role = node_role(graph, node)
    if role == "op":
        size = FONT["op"]
        text = node.label or node.name
        if node.attrs.get("collapsed"):
            return _collapsed_look(node, text)
        tw = text_width(text, size)
        th = block_height(text, size)
        d = max(25.0, th + 9.0)
        w = max(d, tw + 14.0)
        return NodeLook(node, role, [Field("op", text, size, False, tw, th)], w, d,
                         ellipse=True)
    if _is_tensor_node(node):
        return _card(node, role, show_values, show_grads, check)
    fields: list[Field] = []
    tensor = False
    if role == "constant":
        size = FONT["const"]
        vtext = value_text(node.value) if node.value is not None else ""
        if node.label and node.label != vtext:
            fields.append(Field("name", node.label, size, True))
        if vtext:
            fields.append(Field("value", vtext, size, False))
            tensor = _numel(node.value) > 1
        if not fields:
            fields.append(Field("name", node.label or "?", size, True))
    else:
        fields.append(Field("name", node.label or node.name, FONT["name"], True))
        if show_values and node.value is not None:
            fields.append(Field("value", value_text(node.value), FONT["value"], False))
            tensor = tensor or _numel(node.value) > 1
        if show_grads and node.grad is not None:
            fields.append(Field("grad", grad_text(node.grad), FONT["grad"], False))
            tensor = tensor or _numel(node.grad) > 1
        if check is not None:
            fields.append(Field("check", check[0], FONT["value"], False))
    for f in fields:
        f.tw = text_width(f.text, f.size, f.bold)
        f.th = block_height(f.text, f.size)
    min_h = 17.0 if role == "constant" else 21.0
    seps: list[tuple[float, float, float, float]] = []
    value_box = None
    if tensor and len(fields) > 1:
        # a card: fields stacked top to bottom
        w = max(f.tw for f in fields) + 2 * PAD_X
        heights = [max(f.th + 2 * PAD_Y - 1.0, min_h - 2.0) for f in fields]
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
        widths = [f.tw + 2 * PAD_X for f in fields]
        w = sum(widths)
        h = max(max(f.th for f in fields) + 2 * PAD_Y, min_h)
        x = -w / 2
        for k, (f, fw) in enumerate(zip(fields, widths)):
            f.dx, f.dy = x + fw / 2, 0.0
            if f.role == "value":
                value_box = (x, -h / 2, x + fw, h / 2)
            x += fw
            if k < len(fields) - 1:
                seps.append((x, -h / 2, x, h / 2))
    return NodeLook(node, role, fields, w, h, separators=seps,
                     bad=check is not None and not check[1], value_box=value_box)


def check_fields(graph: Graph, check: Any) -> dict[str, tuple[str, bool]]:
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
    return {graph.inputs[name].id: check_text(found, ok_of)
            for name, found in by_name.items() if name in graph.inputs}
