"""The explorer page: the SVG picture, the data as JSON, the controls, its CSS and JavaScript."""

from __future__ import annotations

import html
import json
import re
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["CSP", "explorer_html", "json_script"]

#: The Content-Security-Policy of a saved page: inline script and style only, images from data:
#: URLs; any network request the page might make fails (and says so in the console).
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data:; base-uri 'none'; form-action 'none'")


@cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def json_script(data: Any) -> str:
    """``data`` as JSON safe inside ``<script type="application/json">``.

    Keys sorted, no spaces, ``<`` ``>`` ``&`` and the line separators escaped, so no ``</script>``
    or ``<!--`` in a name can end the element early.
    """
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def _button(action: str, label: str, text: str) -> str:
    return (f'<button type="button" data-do="{action}" aria-label="{label}" '
            f'title="{label}">{text}</button>')


_FONT_SIZE = re.compile(r'<text[^>]*\bdata-fs="([0-9.]+)"')


def _label_rules(svg: str) -> str:
    """One CSS rule per label size in ``svg``: the page hides labels of a size while they would
    be drawn under ~6 px (a class on the root says which sizes)."""
    sizes = sorted(set(_FONT_SIZE.findall(svg)), key=float)
    return "".join(f'.ga-hide-{s.replace(".", "_")} [data-fs="{s}"]{{display:none}}'
                   for s in sizes)


def _module_buttons(modules: list[dict[str, Any]]) -> str:
    out = []
    for m in modules:
        path = html.escape(m["path"])
        out.append(f'<button type="button" data-collapse="{path}" aria-expanded="true" '
                   f'aria-label="collapse {path}">▾ {path}</button>')
    return "".join(out)


def explorer_html(svg: str, data: dict[str, Any], *, standalone: bool, title: str = "graphanim"
                  ) -> str:
    """The explorer as HTML: a whole page (``standalone``) or a fragment for a notebook cell.

    Parameters
    ----------
    svg : str
        The picture (one ``<svg>`` element, no XML declaration), with ``data-node`` /
        ``data-edge`` / ``data-module`` groups.
    data : dict
        What :func:`graphanim.explorer.data.explorer_data` returns.
    standalone : bool
        A complete document with a CSP ``<meta>`` and a ``<title>`` (for ``save``), or the root
        element alone (for ``_repr_html_``).
    title : str
        The document's title.
    """
    n = len(data["frames"])
    controls = "".join([
        _button("first", "first step", "«"), _button("back", "step back", "‹"),
        _button("play", "play", "▶"), _button("forward", "step forward", "›"),
        _button("last", "last step", "»"),
        f'<span class="ga-counter" aria-live="off">1 / {n}</span>',
        f'<input class="ga-slider" type="range" min="0" max="{max(n - 1, 0)}" value="0" '
        'aria-label="step">',
        '<input type="search" aria-label="search nodes" placeholder="search (/)">',
        _button("zoomout", "zoom out", "−"), _button("zoomin", "zoom in", "+"),
        _button("fit", "fit to view", "0"),
    ])
    last = data["frames"][-1]["caption"] if n else ""
    body = (
        '<div class="ga-x" data-graphanim-explorer tabindex="-1">'
        f'<style>{_asset("explorer.css")}{_label_rules(svg)}</style>'
        f'<div class="ga-toolbar" role="toolbar" aria-label="steps">{controls}</div>'
        f'<div class="ga-main"><div class="ga-view">{svg}</div>'
        '<div class="ga-inspector" role="region" aria-label="inspector"></div></div>'
        f'<div class="ga-caption" role="status">{html.escape(last)}</div>'
        f'<div class="ga-modules">{_module_buttons(data["modules"])}</div>'
        f'<script type="application/json" class="ga-data">{json_script(data)}</script>'
        f'<script>{_asset("explorer.js")}</script>'
        "</div>"
    )
    if not standalone:
        return body
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body style=\"margin:8px\">{body}"
        "</body></html>\n"
    )
