"""The interactive explorer: one offline HTML page to step through a pass and inspect nodes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..frames import DIRECTIONS, MAX_FRAMES, Frame, build_frames
from ..graph import Graph
from .data import explorer_data, plain_caption, tensor_summary
from .page import CSP, explorer_html

__all__ = ["CSP", "NOTEBOOK_LIMIT", "Explorer", "explorer_data", "plain_caption",
           "tensor_summary"]

#: A notebook cell shows the explorer inline up to this many bytes of HTML; a bigger page is
#: replaced by a short note that says how to save and open the full file.
NOTEBOOK_LIMIT = 3_000_000

_EXPLORE_DIRECTIONS = (*DIRECTIONS, "none")


class Explorer:
    """An interactive page of a captured graph: step through the passes, inspect any node.

    Made by :meth:`graphanim.TorchGraph.explore`. It shows itself in a notebook
    (``_repr_html_``) and :meth:`save` writes one self-contained offline HTML file. The picture
    is an SVG drawn from the same scene as the PNG, so with JavaScript blocked the page still
    shows the complete graph. With JavaScript: first / back / play / forward / last and a slider
    step through the animation's frames (same captions, numbers and highlights); click a node
    (or focus it and press Enter) to inspect its value, gradient, saved tensors and chain rule;
    drag to pan, wheel to zoom (``+`` / ``-`` / ``0``), ``/`` to search, ``Escape`` to clear,
    arrow keys and Home/End to step; module groups collapse and expand in place.

    Parameters
    ----------
    graph : Graph
        The captured graph.
    direction : {"both", "forward", "backward", "none"}
        The passes to step through. ``"both"`` on a graph captured without a backward pass
        steps through the forward pass only; ``"none"`` shows the finished picture alone.
    step, max_frames
        As for :func:`graphanim.frames.build_frames`.
    theme : {"light", "dark", "print"}
        The picture's theme.
    layout : optional
        The positions or layout name, as for :meth:`graphanim.TorchGraph.plot`.
    frames : sequence of Frame, optional
        The frames to step through (an animation's own, so both show the same steps); built
        from ``direction``, ``step`` and ``max_frames`` when not given.
    """

    def __init__(self, graph: Graph, direction: str = "both", *, step: str | None = None,
                 max_frames: int | None = MAX_FRAMES, theme: str = "light",
                 layout: Any = None, frames: Sequence[Frame] | None = None) -> None:
        if direction not in _EXPLORE_DIRECTIONS:
            raise ValueError(f"unknown direction {direction!r} "
                             f"(expected one of {', '.join(map(repr, _EXPLORE_DIRECTIONS))})")
        if direction == "both" and not graph.has_backward:
            direction = "forward"
        self.graph = graph
        self.direction = direction
        self.theme = theme
        self._step, self._max_frames = step, max_frames
        self._cache: dict[bool, str] = {}
        self._layout = layout
        self._frames: list[Any] | None = None if frames is None else list(frames)

    def frames(self) -> list[Any]:
        """The frames the page steps through (one hold frame for ``direction="none"``)."""
        if self._frames is None:
            passes = "forward" if self.direction == "none" else self.direction
            frames = build_frames(self.graph, passes, step=self._step,
                                  max_frames=self._max_frames)
            self._frames = frames[-1:] if self.direction == "none" else frames
        return self._frames

    def _svg(self) -> str:
        from ..backends.svg import to_svg
        from ..scene.build import build_picture

        # the finished picture with every number (values, gradients, edge gradients): what the
        # page shows with JavaScript blocked, and what stepping reveals part by part
        # labels always drawn: the page hides them while they are under ~6 px and shows them
        # again on zoom, so no legibility rule hides them here
        pic = build_picture(self.graph, True, theme=self.theme, layout=self._layout, labels=True)
        return to_svg(pic, interactive=True)

    def to_html(self, *, standalone: bool = True) -> str:
        """The page as text: a whole document (``standalone``) or a fragment for a notebook."""
        if standalone not in self._cache:
            data = explorer_data(self.graph, self.frames())
            self._cache[standalone] = explorer_html(self._svg(), data, standalone=standalone)
        return self._cache[standalone]

    def _repr_html_(self) -> str:
        text = self.to_html(standalone=False)
        if len(text.encode("utf-8")) <= NOTEBOOK_LIMIT:
            return text
        size, limit = len(text.encode("utf-8")) / 1e6, NOTEBOOK_LIMIT / 1e6
        return (
            f"<p>This explorer is {size:.1f} MB, too big to show inline (limit {limit:.0f} MB). "
            'Save it with <code>graph.explore().save("graph.html")</code> and open the file in '
            "a browser, or collapse modules with <code>depth=</code>.</p>"
        )

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the page to ``path`` (``.html``/``.htm``), atomically; returns the path.

        A write-protected file at ``path`` is refused (left as it was) unless ``overwrite``.
        """
        from ..io import atomic_path, check_output_path, overwriting

        target = check_output_path(path, (".html", ".htm"))
        text = self.to_html(standalone=True)
        with overwriting(overwrite), atomic_path(target) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return target

    def __repr__(self) -> str:
        return (f"<Explorer of {len(self.graph.nodes)} nodes, direction={self.direction!r}, "
                f"{len(self.frames())} steps>")
