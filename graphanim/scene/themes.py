"""Themes (colours), fixed drawing settings (font sizes, gaps, line widths) and graphanim's rc
parameters: what every backend reads to style a picture."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .cards import NodeLook

__all__ = [
    "ARROW_HALF", "ARROW_LEN", "BASE_STEP", "BOX_GAP", "DEFAULT_DPI", "EDGE_LW", "FONT",
    "GAP_CROSS", "GAP_MAIN", "GLYPH_TEXTS", "LOCAL_GAP", "MARGIN", "MAX_SCALE", "MAX_STRETCH",
    "MIN_PT_AUTO", "MIN_PT_USER", "NODE_LW", "PAD_X", "PAD_Y", "THEMES", "Style", "base_style",
    "look_style", "rc_context",
    "rc_params", "theme_colors",
]


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


# -- fixed drawing settings --------------------------------------------------------------------

#: Font sizes in points at the natural size (the figure grows so that none is scaled down).
FONT = {"name": 10.0, "value": 10.0, "grad": 10.0, "op": 12.0, "const": 9.0, "edge": 9.0,
         "sum": 9.0, "caption": 12.0, "phase": 11.0, "shape": 8.5, "stats": 8.5, "module": 8.5,
         "note": 10.5}
MIN_PT_AUTO = 8.0  # smallest text drawn on an automatically sized figure
MIN_PT_USER = 5.0  # smallest text drawn when the user fixed the size (figsize, ax, figure)
MAX_SCALE = 1.5  # text grows at most this much to fill a large user-given figure
MAX_STRETCH = 2.5  # node distances grow at most this much beyond the text scale
PAD_X, PAD_Y = 5.5, 4.0  # text padding inside a record field (pt)
MARGIN = 10.0  # around the drawing (pt)
GAP_CROSS = 16.0  # between nodes of one layer (pt)
GAP_MAIN = 32.0  # between layers: room for an arrow (pt)
ARROW_LEN, ARROW_HALF = 7.0, 3.2  # arrow head (pt)
EDGE_LW, NODE_LW = 1.1, 1.0  # line widths (pt)
BASE_STEP = 16.0  # least distance between consecutive layers, pt per layout unit
DEFAULT_DPI = 100.0
GLYPH_TEXTS = 600  # more labels than this: drawn as a glyph layer, not Text artists
LOCAL_GAP = 3.0  # between an edge's local-derivative factor and its gradient (pt)


BOX_GAP = 8.0  # least distance between a module box and a sibling box or a node outside it (pt)


def rc_params() -> dict[str, Any]:
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
def rc_context() -> Iterator[None]:
    """graphanim's rc settings for the duration of the block, the user's restored after.

    Like ``matplotlib.rc_context``, but the settings are validated once and swapped in and out
    directly: an animation enters this for every frame, where copying all of ``rcParams`` would
    cost more than drawing the frame.
    """
    import matplotlib

    rc: Any = matplotlib.rcParams
    if not _RC_VALID:
        validated: Any = matplotlib.RcParams(rc_params())  # type: ignore[arg-type]
        _RC_VALID.update(dict.items(validated))
    old = {k: dict.__getitem__(rc, k) for k in _RC_VALID}
    dict.update(rc, _RC_VALID)  # validated above; no per-key checks or deprecation warnings
    try:
        yield
    finally:
        dict.update(rc, old)


def theme_colors(theme: str) -> dict[str, str]:
    if not isinstance(theme, str) or theme not in THEMES:
        raise ValueError(
            f"unknown theme {theme!r} (expected one of {', '.join(sorted(THEMES))}); "
            "pass theme='light' or theme='dark'"
        )
    return THEMES[theme]


@dataclass
class Style:
    """Fill, border colour and line width (pt at scale 1) of a node."""

    fill: str
    edge: str
    lw: float


def base_style(theme: dict[str, str], role: str) -> Style:
    """The style of a node of ``role`` in ``theme``: inputs, parameters and outputs get a thicker
    border."""
    key = role if role in ("input", "parameter", "output", "constant", "op") else "value"
    lw = NODE_LW * (1.7 if role in ("input", "parameter", "output") else 1.0)
    return Style(theme[f"{key}_fill"], theme[f"{key}_edge"], lw)


def look_style(theme: dict[str, str], look: NodeLook) -> Style:
    """The base style of a node (a gradient-check mismatch adds a ring: see ``draw_rings``)."""
    return base_style(theme, look.role)
