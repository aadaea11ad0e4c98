"""Animation end to end: frames drawn by the Scene and written as GIF/MP4/HTML/PNG folders."""

from __future__ import annotations

import base64
import gc
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from graphanim import TorchGraph, writers
from graphanim.animation import Animation
from graphanim.render import LegibilityWarning
from graphanim.writers import FFmpegNotFoundError

from ._functions import Sigmoid

needs_ffmpeg = pytest.mark.skipif(writers.find_ffmpeg() is None, reason="no ffmpeg found")

DPI = 40  # small frames keep the tests fast


def lecture_product(a, b):
    c = a + b
    d = b + 1
    return c * d


def lecture_chain(x, y, z):
    u = x**2
    v = u + y
    w = z * v
    return w**2


LECTURES = {
    "product": (lecture_product, [2.0, 1.0]),
    "chain": (lecture_chain, [1.0, 2.0, 4.0]),
    "max": (lambda x0, w0, x1, w1, w2: 1 / (-torch.max(torch.exp(x0 * w0 + x1 * w1), w2)),
            [4.0, 1.0, -2.0, 2.0, 0.5]),
    "sin": (lambda a, x, c: torch.sin(a * x + c), [3.0, 2.0, 4.0]),
    "linear": (lambda x, y: 2 * x + y, [1.0, 3.0]),
    "sigmoid": (lambda x, w: Sigmoid.apply(x * w), [0.5, 2.0]),
}


@pytest.fixture(scope="module")
def graphs() -> dict[str, TorchGraph]:
    return {name: TorchGraph(f, args) for name, (f, args) in LECTURES.items()}


@pytest.fixture(scope="module")
def product(graphs) -> TorchGraph:
    return graphs["product"]


# -- the object ---------------------------------------------------------------------------------


def test_animation_counts_and_options(product) -> None:
    anim = product.animate("both", fps=5, dpi=DPI, figsize=(4, 3))
    assert isinstance(anim, Animation)
    assert anim.frames == len(anim.frame_data) == 2 + 3 + 1 + 3
    assert (anim.fps, anim.dpi, anim.figsize, anim.theme) == (5.0, DPI, (4.0, 3.0), "light")
    assert anim.frame_rgb(0).shape == (120, 160, 3)
    assert "9 frames" in repr(anim)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"direction": "up"}, "unknown direction"),
        ({"fps": 0}, "fps"),
        ({"dpi": -1}, "dpi"),
        ({"figsize": (4,)}, "figsize"),
        ({"theme": "neon"}, "unknown theme"),
    ],
)
def test_bad_options_fail_at_once(product, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        Animation(product, **kwargs)


def test_labels_option_reaches_the_scene(product) -> None:
    bare = Animation(product, "forward", dpi=DPI, labels=False).frame_rgb(1)
    full = Animation(product, "forward", dpi=DPI, labels=True).frame_rgb(1)
    assert bare.shape == full.shape
    assert (bare != full).any()


def test_one_layout_for_every_frame(product) -> None:
    anim = Animation(product, "both", dpi=DPI)
    assert anim.positions == product.layout()
    moved = {k: (x, -y) for k, (x, y) in product.layout().items()}
    assert Animation(product, layout=moved, dpi=DPI).positions == moved


# -- files --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LECTURES))
def test_gif_of_each_lecture_graph(tmp_path: Path, graphs, name: str) -> None:
    anim = graphs[name].animate("both", fps=4, dpi=DPI)
    out = anim.save(tmp_path / f"{name}.gif")
    with Image.open(out) as im:
        assert im.n_frames == anim.frames
        assert im.info["loop"] == 0
        durations = set()
        for k in range(im.n_frames):
            im.seek(k)
            durations.add(im.info["duration"])
        assert durations == {250}
        # The last frame read back is the hold frame as drawn (one shared palette: close).
        last = np.asarray(im.convert("RGB")).astype(int)
    assert np.abs(last - anim.frame_rgb(anim.frames - 1)).mean() < 2


@needs_ffmpeg
@pytest.mark.ffmpeg
@pytest.mark.parametrize("name", list(LECTURES))
def test_mp4_of_each_lecture_graph(tmp_path: Path, graphs, name: str) -> None:
    import imageio.v3 as iio

    anim = graphs[name].animate("both", fps=4, dpi=DPI)
    out = anim.save(tmp_path / f"{name}.mp4")
    with warnings.catch_warnings():  # imageio-ffmpeg leaves its pipes to the collector
        warnings.simplefilter("ignore", ResourceWarning)
        video = iio.imread(out, plugin="FFMPEG")
        gc.collect()
    assert video.shape[0] == anim.frames
    h, w = video.shape[1:3]
    assert h % 2 == 0 and w % 2 == 0
    assert (w, h) == anim.frame_rgb(0).shape[1::-1]


def test_html_player_embeds_every_frame(tmp_path: Path, product) -> None:
    anim = product.animate("backward", dpi=DPI)
    text = anim.save(tmp_path / "p.html", player="frames").read_text(encoding="utf-8")
    assert re.search(r"https?://", text) is None
    frames = re.findall(r'^"([A-Za-z0-9+/=]+)",$', text, flags=re.M)
    assert len(frames) == anim.frames
    with Image.open(io.BytesIO(base64.b64decode(frames[2]))) as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), anim.frame_rgb(2))
    for control in ("ga-play", "ga-prev", "ga-next", 'type="range"'):
        assert control in text


def test_repr_html_is_the_player(product) -> None:
    anim = product.animate("forward", dpi=DPI)
    first, second = anim._repr_html_(), anim._repr_html_()
    assert "graphanim-player" in first and "<script>" in first
    assert re.search(r"https?://", first) is None
    ids = [re.search(r'id="([^"]+)"', t).group(1) for t in (first, second)]
    assert ids[0] != ids[1]  # two displays in one notebook stay independent
    assert anim.to_html() == anim.to_html()


def test_folder_of_pngs(tmp_path: Path, product) -> None:
    anim = product.animate("backward", dpi=DPI)
    anim.save(str(tmp_path / "slides") + "/")
    names = sorted(p.name for p in (tmp_path / "slides").iterdir())
    assert names == [f"frame_{i:04d}.png" for i in range(anim.frames)]
    with Image.open(tmp_path / "slides" / "frame_0003.png") as im:
        np.testing.assert_array_equal(np.asarray(im), anim.frame_rgb(3))


def test_same_input_same_bytes(tmp_path: Path, product) -> None:
    a = product.animate("both", dpi=DPI).save(tmp_path / "a.gif")
    b = product.animate("both", dpi=DPI).save(tmp_path / "b.gif")
    assert a.read_bytes() == b.read_bytes()


# -- what the frames look like ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["product", "chain", "max"])
def test_consecutive_frames_differ_only_locally(graphs, name: str) -> None:
    from graphanim.render import Scene

    anim = Animation(graphs[name], "both", dpi=60)
    scene = Scene(graphs[name], anim.positions, dpi=60)
    previous, before = None, None
    for frame in anim.frame_data:
        scene.show(frame)
        rgb = scene.rgb()
        if previous is not None:
            changed = np.any(rgb != previous, axis=2).mean()
            # Highlights, texts and the caption change; nothing moves. Between two op steps
            # only the neighbourhood of the op and the caption; at a title more styles reset.
            steps = {before.phase, frame.phase} <= {"forward", "backward"}
            assert changed < (0.12 if steps else 0.25), (frame.index, changed)
        previous, before = rgb, frame


def test_dark_theme_changes_the_background(product) -> None:
    light = Animation(product, dpi=DPI).frame_rgb(0)
    dark = Animation(product, theme="dark", dpi=DPI).frame_rgb(0)
    assert light[1, 1].sum() > dark[1, 1].sum()


# -- failures -----------------------------------------------------------------------------------


def _no_drawing(monkeypatch) -> None:
    def refuse(self):
        raise AssertionError("a frame was drawn")

    monkeypatch.setattr(Animation, "_scene", refuse)


def test_missing_ffmpeg_fails_before_drawing(tmp_path: Path, product, monkeypatch) -> None:
    anim = product.animate("both", dpi=DPI)
    monkeypatch.setattr("graphanim.io.video.find_ffmpeg", lambda: None)
    _no_drawing(monkeypatch)
    with pytest.raises(FFmpegNotFoundError, match=r"ffmpeg.*\.gif"):
        anim.save(tmp_path / "x.mp4")
    assert list(tmp_path.iterdir()) == []


def test_unknown_suffix_fails_before_drawing(tmp_path: Path, product, monkeypatch) -> None:
    anim = product.animate(dpi=DPI)
    _no_drawing(monkeypatch)
    with pytest.raises(ValueError, match=r"'\.avi'.*\.gif"):
        anim.save(tmp_path / "x.avi")
    with pytest.raises(ValueError, match="script"):
        anim.save(tmp_path / "script.py")


@pytest.mark.parametrize("suffix", [".gif", ".html", pytest.param(".mp4", marks=needs_ffmpeg)])
def test_failure_while_drawing_keeps_the_old_file(tmp_path: Path, product, monkeypatch,
                                                   suffix: str) -> None:
    from graphanim import render

    target = tmp_path / f"old{suffix}"
    target.write_bytes(b"previous")
    calls = {"n": 0}
    original = render.Scene.show

    def flaky(self, frame):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return original(self, frame)

    monkeypatch.setattr(render.Scene, "show", flaky)
    with pytest.raises(KeyboardInterrupt):
        product.animate("both", dpi=DPI).save(target, player="frames")
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_backward_without_backward_pass(product) -> None:
    g = TorchGraph(lecture_product, [2.0, 1.0], backward=False)
    with pytest.raises(ValueError, match="backward=True"):
        g.animate("backward")


# -- local derivatives, modules, big graphs ------------------------------------------------------


def test_local_and_modules_options_reach_the_scene(product) -> None:
    with_local = Animation(product, "backward", dpi=DPI)
    without = Animation(product, "backward", dpi=DPI, local=False)
    assert with_local._scene()._painter.edge_locals and not without._scene()._painter.edge_locals
    # the factors take room: the automatic frame is wider with them
    assert with_local.frame_rgb(1).shape[1] > without.frame_rgb(1).shape[1]
    with pytest.raises(ValueError, match="local"):
        Animation(product, local="yes")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh())
    g = TorchGraph(lambda x: net(x).sum(), [torch.tensor([1.0, 2.0])])
    boxed = Animation(g, "backward", dpi=DPI)._scene().fig.axes[0].patches
    assert any((p.get_gid() or "").startswith("graphanim-module-net") for p in boxed)
    plain = Animation(g, "backward", dpi=DPI, modules=False)._scene().fig.axes[0].patches
    assert not any((p.get_gid() or "").startswith("graphanim-module-") for p in plain)


def test_steps_by_layer_follow_the_layout(product) -> None:
    anim = Animation(product, "forward", dpi=DPI, step="layer")
    fwd = [f for f in anim.frame_data if f.phase == "forward"]
    xs = [{anim.positions[o][0] for o in f.ops} for f in fwd]
    assert all(len(x) == 1 for x in xs)  # one layout layer per frame
    layers = [x.pop() for x in xs]
    assert layers == sorted(set(anim.positions[op.id][0] for op in product.ops))  # left to right
    assert sorted(o for f in fwd for o in f.ops) == sorted(op.id for op in product.ops)
    # top to bottom layouts too: the layers are rows
    tb = {k: (y, -x) for k, (x, y) in anim.positions.items()}
    fwd_tb = [f for f in Animation(product, "forward", dpi=DPI, step="layer",
                                   layout=tb).frame_data if f.phase == "forward"]
    assert [f.ops for f in fwd_tb] == [f.ops for f in fwd]


def test_frame_cap_on_a_big_graph(tmp_path: Path) -> None:
    from graphanim.frames import FrameCapWarning

    def long_chain(x):
        for _ in range(400):
            x = torch.sin(x)
        return x

    g = TorchGraph(long_chain, [0.5])
    with pytest.warns(FrameCapWarning, match="max_frames"):
        anim = Animation(g, "backward", dpi=20, max_frames=30, labels=False)
    assert anim.frames <= 30
    assert re.match(r"Layers \d+–400 of 400: \d+ ops run backward", anim.frame_data[1].caption)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Animation(g, "backward", dpi=20, labels=False).frames == 400 + 2  # by layer
    path = anim.save(tmp_path / "long.gif")
    with Image.open(path) as im:
        assert im.n_frames == anim.frames


def test_mlp_backward_gif_with_modules_and_heatmaps(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 1))
    x, y = torch.randn(8, 10), torch.randn(8, 1)
    g = TorchGraph(lambda x: torch.nn.functional.mse_loss(net(x), y), [x])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LegibilityWarning)  # small frames: no text, heatmaps
        anim = Animation(g, "backward", dpi=30)
        scene = anim._scene()
    assert any("value-img" in na.texts for na in scene._painter.nodes)
    notes = [f.note for f in anim.frame_data if f.note]
    assert "ReLU′ uses its saved output" in " ".join(notes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LegibilityWarning)
        path = anim.save(tmp_path / "mlp.gif")
    with Image.open(path) as im:
        assert im.n_frames == anim.frames
