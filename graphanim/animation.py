"""``Animation``: the forward/backward pass as frames, drawn once, streamed to GIF/MP4/HTML/PNG."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .frames import MAX_FRAMES, Frame, build_frames
from .graph import Graph
from .layout import op_layers

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["Animation"]

Positions = dict[str, tuple[float, float]]

#: Distinguishes players shown twice in one notebook (their ids must differ).
_PLAYER_COUNTER = itertools.count(1)


def _positions(graph: Graph, layout: Any) -> Positions:
    """One layout for the whole animation: the graph's cached one when it has a ``layout``."""
    method = getattr(graph, "layout", None)
    if callable(method):
        return dict(method(layout))
    from .layout import compute_layout

    return compute_layout(graph, layout)


class Animation:
    """The forward and/or backward pass of a graph, op by op, as an animation.

    The frames are plain data (:attr:`frame_data`, see :func:`graphanim.frames.build_frames`).
    Drawing happens only when the animation is saved or shown: the static scene (nodes, edges,
    labels) is drawn once per export and each frame only updates what changes (highlights, texts),
    so node positions are identical in every frame. Frames are streamed to the writer one at a time:
    memory does not grow with the number of frames.

    Parameters
    ----------
    graph : Graph
        The captured graph (usually a :class:`~graphanim.TorchGraph`).
    direction : {"forward", "backward", "both"}, default "forward"
        Which pass(es) to show.
    fps : float, default 2
        Frames per second of exported files and of the HTML player.
    layout : None, str or dict, optional
        The layout choice (see :func:`graphanim.layout.compute_layout`), computed once.
    theme : {"light", "dark"}, default "light"
        Colour theme.
    dpi : float, default 100
        Pixels per inch of the frames.
    figsize : (float, float), optional
        Figure size in inches (default: fitted to the graph by the renderer).
    labels : bool, optional
        Node and edge texts: ``None`` hides them (with a warning) when they would be too small to
        read at this size, ``True`` always draws them, ``False`` never.
    local : bool, optional
        Show the local derivative on each operand edge next to the gradient flowing back
        (``×2 → 6``); default: on (where the values are scalars).
    modules : bool, optional
        Draw the ``nn.Module`` boxes; default: on when the graph ran through modules.
    step : {None, "op", "layer", "module"}
        What one frame runs: one op, all ops of one layout layer, or one run of ops inside one
        module call. ``None``: op by op up to 300 ops, by module (or, without modules, by layer)
        above that.
    max_frames : int or None, default 500
        Most frames: above it consecutive steps share a frame (with a
        :class:`~graphanim.frames.FrameCapWarning`); ``None``: no cap.

    Raises
    ------
    ValueError
        For an unknown direction, step or theme, a backward direction on a graph captured without
        its backward pass, a non-positive ``fps``/``dpi``/``figsize``, or ``max_frames`` below 5.

    Examples
    --------
    >>> from graphanim import TorchGraph
    >>> g = TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])
    >>> anim = g.animate("backward")
    >>> anim.frames
    5
    >>> anim.frame_data[-1].sums
    {'n1': '2 + 3 = 5'}
    """

    def __init__(
        self,
        graph: Graph,
        direction: str = "forward",
        *,
        fps: float = 2,
        layout: Any = None,
        theme: str = "light",
        dpi: float = 100,
        figsize: tuple[float, float] | None = None,
        labels: bool | None = None,
        local: bool | None = None,
        modules: bool | None = None,
        step: str | None = None,
        max_frames: int | None = MAX_FRAMES,
    ) -> None:
        from .writers import check_fps

        fps = check_fps(fps)  # each format's own limits are checked again by save(path)
        if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not dpi > 0:
            raise ValueError(f"dpi must be a positive number, got {dpi!r}")
        if figsize is not None:
            try:
                w, h = (float(v) for v in figsize)
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"figsize must be a (width, height) pair in inches, got {figsize!r}"
                ) from err
            if not (w > 0 and h > 0):
                raise ValueError(f"figsize must be positive, got {figsize!r}")
            figsize = (w, h)
        from .render import THEMES

        if not isinstance(theme, str) or theme not in THEMES:
            raise ValueError(
                f"unknown theme {theme!r} (expected one of {', '.join(sorted(THEMES))})"
            )
        for name, flag in (("local", local), ("modules", modules)):
            if flag is not None and not isinstance(flag, bool):
                raise ValueError(f"{name} must be True, False or None (automatic), got {flag!r}")
        self.graph = graph
        self.direction = direction
        self.positions: Positions = _positions(graph, layout)
        self.frame_data: list[Frame] = build_frames(
            graph, direction, step=step, layers=op_layers(graph, self.positions),
            max_frames=max_frames)
        self.fps = float(fps)
        self.dpi = float(dpi)
        self.figsize = figsize
        self.theme = theme
        self.labels = labels
        self.local = local
        self.modules = modules

    # -- data -----------------------------------------------------------------------------------
    @property
    def frames(self) -> int:
        """Number of frames."""
        return len(self.frame_data)

    def __len__(self) -> int:
        return len(self.frame_data)

    def __repr__(self) -> str:
        return (
            f"<Animation {self.direction}: {self.frames} frames at {self.fps:g} fps, "
            f"theme={self.theme!r}>"
        )

    # -- drawing --------------------------------------------------------------------------------
    def _scene(self) -> Any:
        from .render import Scene

        return Scene(
            self.graph,
            self.positions,
            theme=self.theme,
            figsize=self.figsize,
            dpi=self.dpi,
            with_all=True,
            caption=True,
            labels=self.labels,
            local=self.local,
            modules=self.modules,
        )

    @staticmethod
    def _close(scene: Any) -> None:
        close = getattr(scene, "close", None)
        if callable(close):
            close()
            return
        import matplotlib.pyplot as plt

        plt.close(scene.fig)

    def _rgb_frames(
        self, scene: Any, frames: Sequence[Frame] | None = None
    ) -> Iterator[np.ndarray]:
        for frame in self.frame_data if frames is None else frames:
            scene.show(frame)
            yield scene.rgb()

    def frame_rgb(self, index: int) -> np.ndarray:
        """Draw one frame (``frame_data[index]``) as an ``(H, W, 3)`` ``uint8`` RGB array."""
        frame = self.frame_data[index]
        scene = self._scene()
        try:
            scene.show(frame)
            return scene.rgb().copy()
        finally:
            self._close(scene)

    def _palette_samples(self) -> list[Frame]:
        """A few frames that together show every colour of the animation (title, first step of
        each pass, the final picture), for the GIF's one shared palette."""
        picked: dict[int, Frame] = {0: self.frame_data[0], -1: self.frame_data[-1]}
        for phase in ("forward", "backward"):
            for f in self.frame_data:
                if f.phase == phase:
                    picked[f.index] = f
                    break
        return list(picked.values())

    # -- output ---------------------------------------------------------------------------------
    def explorer(self) -> Any:
        """The interactive :class:`graphanim.explorer.Explorer` of this animation: the same
        frames, layout and theme, stepped through in the browser."""
        from .explorer import Explorer

        return Explorer(self.graph, self.direction, theme=self.theme, layout=self.positions,
                        frames=self.frame_data)

    def save(self, path: str | os.PathLike[str], *, progress: bool | None = None,
             player: str = "explorer", overwrite: bool = False) -> Path:
        """Write the animation; the format follows the path.

        ``.gif`` (loops forever, one shared palette, even timing), ``.mp4`` / ``.webm`` (through
        ffmpeg from imageio-ffmpeg, ``yuv420p``), ``.html`` (one offline page: the interactive
        explorer, or with ``player="frames"`` the raster frames in a self-contained player), or
        a folder of PNGs (``frame_0000.png``, ...) for a path ending in ``/`` or naming an
        existing folder. The file appears atomically: a failure or Ctrl-C leaves no partial file
        and an existing file untouched.

        Parameters
        ----------
        path : str or path-like
            Where to write.
        progress : bool or None, default None
            Progress bar: ``None`` shows one only on a terminal and for exports taking more than
            about 2 seconds; ``True`` always, ``False`` never.
        player : {"explorer", "frames"}, default "explorer"
            What an ``.html`` file holds: the explorer (vector picture, step / inspect / search
            / zoom, see :meth:`explorer`) or the raster frames with play controls.
        overwrite : bool, default False
            Replace a write-protected file at ``path`` (refused otherwise, the file untouched).

        Returns
        -------
        Path
            The written file or folder.

        Raises
        ------
        ValueError
            For an unsupported suffix (the message lists the supported ones).
        FileNotFoundError
            If the folder that should hold the file does not exist.
        graphanim.writers.FFmpegNotFoundError
            For ``.mp4``/``.webm`` without ffmpeg, before any frame is drawn (save as ``.gif``).
        """
        from .io import overwriting

        with overwriting(overwrite):
            return self._save(path, progress, player)

    def _save(self, path: str | os.PathLike[str], progress: bool | None, player: str) -> Path:
        from .writers import GifWriter, check_fps, gif_palette, write_frames, writer_for

        if player not in ("explorer", "frames"):
            raise ValueError(f"unknown player {player!r} (expected 'explorer' or 'frames')")
        cls = writer_for(path)
        if cls.suffix == ".html" and player == "explorer":
            return Path(self.explorer().save(path))
        cls.check()  # e.g. a missing ffmpeg fails here, before anything is drawn
        check_fps(self.fps, cls.suffix)  # e.g. fps=60 in a GIF, before anything is drawn
        scene = self._scene()
        try:
            kwargs: dict[str, Any] = {}
            if issubclass(cls, GifWriter):
                samples = [rgb.copy() for rgb in self._rgb_frames(scene, self._palette_samples())]
                kwargs["palette"] = gif_palette(samples)
                del samples
            return write_frames(
                path,
                self._rgb_frames(scene),
                fps=self.fps,
                total=self.frames,
                progress=progress,
                **kwargs,
            )
        finally:
            self._close(scene)

    def to_html(
        self, *, autoplay: bool = False, document: bool = False, element_id: str | None = None
    ) -> str:
        """The animation as a self-contained HTML player (play/pause, step buttons, a slider).

        Frames are embedded as base64 PNG; nothing is loaded from the network. ``document=True``
        gives a full page instead of a fragment for embedding. ``element_id`` is the player's
        HTML id (default: derived from the first frame, so the same animation gives the same
        text).
        """
        from .writers import html_player

        scene = self._scene()
        try:
            return html_player(
                self._rgb_frames(scene),
                fps=self.fps,
                element_id=element_id,
                document=document,
                autoplay=autoplay,
            )
        finally:
            self._close(scene)

    def _repr_html_(self) -> str:
        # A fresh id per display: two players of one animation in a notebook stay independent.
        return self.to_html(element_id=f"graphanim-player{next(_PLAYER_COUNTER)}")
