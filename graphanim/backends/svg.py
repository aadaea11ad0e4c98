"""The SVG backend, written directly (no drawing library): a ``<g id="...">`` per node and edge
with a ``<title>`` tooltip (name, value, gradient), real ``<text>`` that can be selected and
searched, and one ``<style>`` block for the theme. The same picture gives the same bytes."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import struct
import zlib
from pathlib import Path
from typing import Any

from ..scene.model import Box, Element, Group, Image, Label, Line, Picture, Polygon
from ..scene.text import line_height

__all__ = ["mathtext_to_unicode", "svg_escape", "svg_id", "to_svg", "write_svg"]

_FONT_FAMILY = "'DejaVu Sans', Verdana, Arial, sans-serif"

#: mathtext commands shown as the character they stand for
_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ",
    "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "upsilon": "υ",
    "phi": "φ", "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ",
    "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ",
    "Omega": "Ω", "cdot": "·", "times": "×", "div": "÷", "pm": "±", "partial": "∂",
    "nabla": "∇", "infty": "∞", "sqrt": "√", "prime": "′", "leq": "≤", "geq": "≥", "neq": "≠",
    "to": "→", "rightarrow": "→", "log": "log", "exp": "exp", "sin": "sin", "cos": "cos",
    "tanh": "tanh", "max": "max", "min": "min", "sum": "Σ", "prod": "Π",
}
_SUP = str.maketrans("0123456789+-=()nT", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿᵀ")
_SUB = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")
_MATH = re.compile(r"(?<!\\)\$(.*?)(?<!\\)\$")
_UNSAFE = re.compile("[&<>\"'\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _script(m: re.Match[str]) -> str:
    body = m.group(2) if m.group(2) is not None else m.group(3)
    table = _SUP if m.group(1) == "^" else _SUB
    shown = body.translate(table)
    return shown if shown != body or not body.isalnum() else m.group(1) + body


def _math(body: str) -> str:
    body = re.sub(r"\\(?:mathrm|mathit|mathbf|operatorname|text)\{([^{}]*)\}", r"\1", body)
    # a command ends at its name; TeX drops the one space that may follow it (\partial x: ∂x)
    body = re.sub(r"\\([A-Za-z]+) ?", lambda m: _SYMBOLS.get(m.group(1), m.group(1)), body)
    body = re.sub(r"([\^_])(?:\{([^{}]*)\}|(\S))", _script, body)
    return body.replace("{", "").replace("}", "").replace("\\,", " ").replace("\\ ", " ")


def mathtext_to_unicode(text: str) -> str:
    """A label as plain Unicode: ``$\\sigma$`` becomes ``σ``, ``$x^2$`` becomes ``x²`` and an
    escaped ``\\$`` a dollar sign (SVG has no mathtext; the PNG shows the real formula)."""
    if "$" not in text:
        return text
    return _MATH.sub(lambda m: _math(m.group(1)), text).replace(r"\$", "$")


def svg_escape(text: str) -> str:
    """``text`` safe inside an XML attribute or element: markup characters as entities, and code
    points XML cannot hold (lone surrogates, control characters) written out as ``\\udc80`` /
    ``\\x1b`` text."""
    if not _UNSAFE.search(text):
        return text
    out = []
    for ch in text:
        cp = ord(ch)
        if 0xD800 <= cp <= 0xDFFF or cp in (0xFFFE, 0xFFFF):
            out.append(f"\\u{cp:04x}")
        elif cp < 0x20 and ch not in "\t\n\r":
            out.append(f"\\x{cp:02x}")
        elif ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == '"':
            out.append("&quot;")
        elif ch == "'":
            out.append("&#39;")
        else:
            out.append(ch)
    return "".join(out)


def svg_id(element_id: str) -> str:
    """The SVG id of a picture element: ``graphanim-<node>-<field>`` for a node's texts and
    images, ``graphanim-edge-<k>`` (``-local``) for edge labels, ``graphanim-module-<path>``
    (``-call2``...) for module frames, the ids the matplotlib backend gives its artists."""
    head, _, part = element_id.partition("/")
    if head.startswith("module:"):
        path, _, call = head[len("module:"):].partition("#")
        base = f"graphanim-module-{path}" + (f"-call{call}" if call else "")
        return f"{base}-{part}" if part else base
    if head[:1] == "e" and head[1:].isdigit() and part in ("grad", "local", "grad-bg", "local-bg"):
        return f"graphanim-edge-{head[1:]}" + part.replace("grad", "", 1).replace("local", "-local")
    return f"graphanim-{head}-{part}" if part else head


def _n(v: float) -> str:
    """A coordinate to 0.01 pt (fixed format: the same number, the same text)."""
    s = f"{v:.2f}"
    return "0.00" if s == "-0.00" else s


def _png(rgba: Any) -> bytes:
    """A minimal PNG (8-bit RGBA, fixed compression) of an ``(h, w, 4)`` uint8 array."""
    h, w = int(rgba.shape[0]), int(rgba.shape[1])
    raw = b"".join(b"\x00" + bytes(memoryview(rgba[r]).cast("B")) for r in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


class _Writer:
    """Writes the elements of a picture; y is flipped (SVG's origin is the top-left)."""

    def __init__(self, pic: Picture, interactive: bool = False) -> None:
        self.pic = pic
        self.h = pic.height
        self.interactive = interactive
        # a label's background hides with its label (the explorer hides text by size)
        self.sizes = {e.id: e.size for e in pic.elements if isinstance(e, Label)}
        self.classes: dict[str, str] = {}  # css declarations -> class name
        self.class_order: list[tuple[str, str]] = []

    def cls(self, base: str, css: str) -> str:
        """A class for ``css`` named after ``base`` (``input``, ``edge``...), made on first use."""
        name = self.classes.get(css)
        if name is None:
            taken = {n for n, _ in self.class_order}
            name, k = base, 2
            while name in taken:
                name, k = f"{base}-{k}", k + 1
            self.classes[css] = name
            self.class_order.append((name, css))
        return name

    def y(self, y: float) -> float:
        return self.h - y

    def path_box(self, e: Box) -> str:
        x0, y0, x1, y1 = e.rect
        top, bottom = self.y(y1), self.y(y0)
        r = max(0.0, min(e.radius, (x1 - x0) / 2, (y1 - y0) / 2))
        a, b, c, d_ = x0 + r, x1 - r, top + r, bottom - r
        d = (f"M{a:.2f} {top:.2f}H{b:.2f}Q{x1:.2f} {top:.2f} {x1:.2f} {c:.2f}V{d_:.2f}"
             f"Q{x1:.2f} {bottom:.2f} {b:.2f} {bottom:.2f}H{a:.2f}Q{x0:.2f} {bottom:.2f} "
             f"{x0:.2f} {d_:.2f}V{c:.2f}Q{x0:.2f} {top:.2f} {a:.2f} {top:.2f}Z")
        n = _n
        for (ax, ay), (bx, by) in e.separators:
            d += f"M{n(ax)} {n(self.y(ay))}L{n(bx)} {n(self.y(by))}"
        return d

    def box(self, e: Box) -> str:
        css = [f"fill:{e.fill}" if e.fill else "fill:none"]
        if e.fill and e.opacity < 1.0:
            css.append(f"fill-opacity:{_n(e.opacity)}")
        css.append(f"stroke:{e.stroke};stroke-width:{_n(e.width)}" if e.stroke and e.width > 0
                   else "stroke:none")
        c = self.cls(e.cls or "box", ";".join(css))
        extra = ""
        if self.interactive:
            c += _part_class(e.id) or (" ga-shape" if "/" not in e.id else "")
            size = self.sizes.get(e.id.removesuffix("-bg")) if e.id.endswith("-bg") else None
            extra = "" if size is None else f' data-fs="{_n(size)}"'
        if e.ellipse:
            x0, y0, x1, y1 = e.rect
            cx, cy = _n((x0 + x1) / 2), _n(self.y((y0 + y1) / 2))
            return (f'<ellipse class="{c}" cx="{cx}" cy="{cy}" rx="{_n((x1 - x0) / 2)}"'
                    f' ry="{_n((y1 - y0) / 2)}"/>')
        return f'<path class="{c}"{extra} d="{self.path_box(e)}"/>'

    def line(self, e: Line) -> str:
        c = self.cls(e.cls, f"fill:none;stroke:{e.color};stroke-width:{_n(e.width)}")
        (ax, ay), (bx, by) = e.start, e.end
        return (f'<path class="{c}" d="M{_n(ax)} {_n(self.y(ay))}L{_n(bx)} {_n(self.y(by))}"/>')

    def polygon(self, e: Polygon) -> str:
        c = self.cls(e.cls, f"fill:{e.fill};stroke:none")
        pts = " ".join(f"{_n(x)},{_n(self.y(y))}" for x, y in e.points)
        return f'<polygon class="{c}" points="{pts}"/>'

    def label(self, e: Label) -> str:
        css = f"fill:{e.color}" + (";font-weight:bold" if e.bold else "")
        c = self.cls("bold" if e.bold else "text", css)
        lines = mathtext_to_unicode(e.text).split("\n")
        pitch = 1.2 * line_height(e.size)
        if e.baseline == "center":
            base = e.y + (len(lines) - 1) * pitch / 2 - 0.36 * e.size
        elif e.baseline == "top":
            base = e.y - 0.76 * e.size  # DejaVu Sans' ascent
        else:
            base = e.y
        x = _n(e.x)
        anchor = "" if e.anchor == "start" else f' text-anchor="{e.anchor}"'
        extra = ""
        if self.interactive:  # the explorer toggles numbers by part and hides tiny text by size
            c += _part_class(e.id)
            extra = f' data-fs="{_n(e.size)}"'
        head = (f'<text class="{c}" id="{svg_escape(svg_id(e.id))}" x="{x}" y="{_n(self.y(base))}"'
                f' font-size="{_n(e.size)}"{anchor}{extra}>')
        if len(lines) == 1:
            return head + svg_escape(lines[0]) + "</text>"
        spans = "".join(f'<tspan x="{x}" dy="{_n(0 if k == 0 else pitch)}">{svg_escape(t)}</tspan>'
                        for k, t in enumerate(lines))
        return head + spans + "</text>"

    def image(self, e: Image) -> str:
        x0, y0, x1, y1 = e.rect
        data = base64.b64encode(_png(e.pixels)).decode("ascii")
        part = _part_class(e.id) if self.interactive else ""
        part = f' class="{part.strip()}"' if part else ""
        return (f'<image{part} x="{_n(x0)}" y="{_n(self.y(y1))}" width="{_n(x1 - x0)}" '
                f'height="{_n(y1 - y0)}" preserveAspectRatio="none" '
                f'style="image-rendering:pixelated" xlink:href="data:image/png;base64,{data}"/>')

    def element(self, e: Element) -> str:
        if isinstance(e, Box):
            return self.box(e)
        if isinstance(e, Line):
            return self.line(e)
        if isinstance(e, Polygon):
            return self.polygon(e)
        if isinstance(e, Label):
            return self.label(e)
        return self.image(e)


#: The explorer's classes for the parts of a node or edge that show a number
_PARTS = {"value": " ga-value", "grad": " ga-grad", "grad-bg": " ga-grad", "local": " ga-grad",
          "local-bg": " ga-grad"}


def _part_class(element_id: str) -> str:
    return _PARTS.get(element_id.partition("/")[2], "")


def _group_attrs(owner: str, group: Group | None, first: bool) -> str:
    """What the explorer reads from a group: the node (focusable, named for assistive
    technology) or edge it shows, the module frame, or the group it continues."""
    if owner.startswith("module:"):
        path = owner[len("module:"):].partition("#")[0]
        return f' data-module="{svg_escape(path)}"'
    if group is None:
        return ""
    key = "edge" if group.kind == "edge" else "node"
    ident = owner[1:] if key == "edge" else owner
    if not first:
        return f' data-part="{svg_escape(owner)}"'
    if key == "edge":
        return f' data-edge="{ident}"'
    label = svg_escape(group.title.replace("\n", ", "))
    return (f' data-node="{svg_escape(owner)}" role="button" tabindex="0"'
            f' aria-label="{label}"')


def _layers(pic: Picture) -> list[tuple[str, list[Element]]]:
    """Elements grouped by the node or edge they belong to, in drawing order: a group is written
    where its first element is drawn, and an element drawn above later groups' elements (an
    edge's label over the nodes) starts a group of its own, so the stacking is matplotlib's."""
    order = sorted(range(len(pic.elements)), key=lambda k: (pic.elements[k].z, k))
    runs: list[tuple[str, list[Element]]] = []
    where: dict[tuple[str, float], int] = {}
    for k in order:
        e = pic.elements[k]
        owner = pic.owner(e.id) or e.id.split("/", 1)[0]
        layer = 0.0 if e.z < 3.5 else e.z  # node texts join their node; edge labels go on top
        key = (owner, layer)
        if key in where:
            runs[where[key]][1].append(e)
        else:
            where[key] = len(runs)
            runs.append((owner, [e]))
    return runs


def to_svg(pic: Picture, *, interactive: bool = False) -> str:
    """The SVG text of a picture (UTF-8, deterministic).

    Parameters
    ----------
    pic : Picture
        From :func:`graphanim.scene.build.build_picture`.
    interactive : bool
        For the explorer page: an ``<svg>`` element to embed in HTML (no XML declaration, sized
        by its container), node groups focusable with ``role="button"``, ``data-node`` and an
        ``aria-label``; ``data-edge`` / ``data-module`` / ``data-part`` on the other groups;
        the texts and images that show numbers classed by part, texts with their size.

    Returns
    -------
    str
        A standalone SVG document: ``<g id>`` per node and edge (the graph's ids), each with a
        ``<title>`` tooltip; module frames as ``<g id="module:<path>">``.
    """
    w = _Writer(pic, interactive)
    body: list[str] = []
    seen: set[str] = set()
    for owner, elements in _layers(pic):
        group: Group | None = pic.groups.get(owner)
        gid = svg_id(owner) if owner not in seen else f"graphanim-{owner}-labels"
        more = _group_attrs(owner, group, owner not in seen) if interactive else ""
        seen.add(owner)
        kind = group.kind if group is not None else owner.split(":", 1)[0]
        role = f' data-role="{group.role}"' if group is not None and group.role else ""
        body.append(f'<g id="{svg_escape(gid)}" class="{svg_escape(kind)}"{role}{more}>')
        if group is not None:
            body.append(f"<title>{svg_escape(group.title)}</title>")
        body.extend(w.element(e) for e in elements)
        body.append("</g>")
    css = "\n".join(f".{name}{{{decl}}}" for name, decl in w.class_order)
    text_css = f"text{{font-family:{_FONT_FAMILY};white-space:pre;stroke:none}}"
    size = f'width="{_n(pic.width)}pt" height="{_n(pic.height)}pt" '
    if interactive:
        # inside an HTML page a <style> applies to the whole page: scope the rules to this
        # picture (named by its rules, so two pictures with one theme share them)
        scope = "ga-pic-" + hashlib.sha1((text_css + css).encode()).hexdigest()[:10]
        css = "\n".join(f".{scope} .{name}{{{decl}}}" for name, decl in w.class_order)
        text_css, size = f".{scope} {text_css}", f'class="{scope}" '
    head = [
        *([] if interactive else ['<?xml version="1.0" encoding="utf-8" standalone="no"?>']),
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'version="1.1" {size}viewBox="0 0 {_n(pic.width)} {_n(pic.height)}">',
        f"<style>\n{text_css}\n{css}\n</style>",
        f'<rect id="background" width="100%" height="100%" fill="{pic.background}"/>',
    ]
    return "\n".join([*head, *body, "</svg>"]) + "\n"


def write_svg(pic: Picture, path: str | os.PathLike[str]) -> None:
    """Write the SVG of ``pic`` to ``path`` as UTF-8 (callers pass a temporary path and rename
    it, see :func:`graphanim.writers.atomic_path`)."""
    Path(path).write_bytes(to_svg(pic).encode("utf-8"))
