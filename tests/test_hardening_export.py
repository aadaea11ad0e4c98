"""Hostile input to drawing and export: names, numbers, matplotlib settings, paths, interrupts.

Each case asserts the exact behaviour: the bytes written, or the error type and message. After
every test no temporary file is left in the output folder and no hook or mode is left installed.
"""

from __future__ import annotations

import errno
import functools
import io
import os
import stat
import subprocess
import sys
import textwrap
import tracemalloc
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

import graphanim
from graphanim import TorchGraph, writers
from graphanim.animation import Animation
from graphanim.render import LegibilityWarning
from graphanim.writers import GifWriter, check_output_path, write_frames

from .test_writers import synthetic

needs_ffmpeg = pytest.mark.skipif(writers.find_ffmpeg() is None, reason="no ffmpeg found")
REPO = Path(graphanim.__file__).resolve().parent.parent


def _state() -> tuple[object, ...]:
    return (
        sys.gettrace(),
        sys.getprofile(),
        torch._C._len_torch_function_stack(),
        torch.is_grad_enabled(),
    )


def leftovers(folder: Path) -> list[str]:
    """Temporary files and staging folders of graphanim's writers in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


@pytest.fixture(autouse=True)
def _clean(tmp_path: Path) -> Iterator[None]:
    before = _state()
    yield
    assert _state() == before, "an export left a hook or mode installed"
    assert leftovers(tmp_path) == [], "an export left a temporary file behind"


def branches() -> TorchGraph:
    return TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])


def leaf(v: float) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.float64, requires_grad=True)


# ------------------------------------------------------------------ hostile names and numbers

HOSTILE_NAMES = [
    "a$b$",  # mathtext delimiters
    "$\\frac{1}{$",  # unbalanced mathtext: would make matplotlib raise if it were parsed
    "c\\d{e}%s%n",  # backslash, braces, format specifiers
    "ctl\x00\x07\x1b[31m\ttab",  # control characters, an ANSI escape
    "<script>alert(1)</script>",  # markup in an SVG
    "L" * 500,  # a very long name
]
HOSTILE_VALUES = [1e308, -0.0, 5e-324, 2.0, -1e-310, 3.0]


def hostile_function(a, b, c, d, e, f):  # the names are replaced by HOSTILE_NAMES
    u = a * b + c
    v = u * d - e
    return v * f


def hostile_graph() -> TorchGraph:
    return TorchGraph(hostile_function, HOSTILE_VALUES, names=HOSTILE_NAMES)


def test_hostile_names_are_plain_text_and_values_match_torch() -> None:
    g = hostile_graph()
    assert list(g.inputs) == HOSTILE_NAMES  # names are kept as given
    labels = [g.inputs[n].label for n in HOSTILE_NAMES]
    assert labels[0] == "a\\$b\\$"  # a dollar shows as a dollar: escaped for mathtext
    assert labels[1] == "\\$\\frac{1}{\\$"
    assert labels[2] == "c\\d{e}%s%n"  # backslashes and braces are plain text outside $...$
    assert labels[3].startswith("ctl") and labels[3].endswith("tab")
    assert not any(ch in labels[3] for ch in "\x00\x07\x1b\t")  # control characters dropped
    assert labels[5] == "L" * 500

    leaves = [leaf(v) for v in HOSTILE_VALUES]
    out = hostile_function(*leaves)
    grads = torch.autograd.grad(out, leaves)
    # 1e308 * 3 overflows to inf and the subnormals survive: exactly what torch computes
    torch.testing.assert_close(g.outputs[0].value, out.detach(), rtol=0, atol=0, equal_nan=True)
    for name, expected in zip(HOSTILE_NAMES, grads, strict=True):
        torch.testing.assert_close(g.grad(name), expected, rtol=0, atol=0, equal_nan=True)
    assert torch.isinf(g.grad(HOSTILE_NAMES[1])) and g.grad(HOSTILE_NAMES[2]).item() == 6.0
    assert str(g.value("a$b$").item()) == "1e+308"
    assert str(g.value(HOSTILE_NAMES[1]).item()) == "-0.0"


def test_hostile_names_plot_and_export_deterministically(tmp_path: Path) -> None:
    g = hostile_graph()
    fig = g.plot(with_all=True)
    assert fig.get_size_inches()[0] > 0
    plt.close(fig)
    written = {}
    for suffix in (".png", ".svg", ".pdf"):
        for k in (1, 2):
            hostile_graph().save(tmp_path / f"h{k}{suffix}", dpi=40)
        written[suffix] = (tmp_path / f"h1{suffix}").read_bytes()
        assert written[suffix] == (tmp_path / f"h2{suffix}").read_bytes(), suffix
    assert written[".png"].startswith(b"\x89PNG") and written[".pdf"].startswith(b"%PDF")
    # text is drawn as paths; the names appear only in escaped comments: well-formed, no script
    root = ElementTree.fromstring(written[".svg"])
    assert not [e for e in root.iter() if e.tag.endswith("script")]
    assert b"<script" not in written[".svg"]
    with warnings.catch_warnings():  # the 500-character name makes the text small
        warnings.simplefilter("ignore", LegibilityWarning)
        anim = g.animate("both", dpi=30, labels=True)
        anim.save(tmp_path / "h.gif")
        hostile_graph().animate("both", dpi=30, labels=True).save(tmp_path / "h2.gif")
    assert (tmp_path / "h.gif").read_bytes() == (tmp_path / "h2.gif").read_bytes()
    with Image.open(tmp_path / "h.gif") as im:
        assert im.n_frames == anim.frames


def test_unicode_identifiers_are_names_and_draw(tmp_path: Path) -> None:
    def f(𝐱, σ):  # Python reads 𝐱 as x (NFKC)
        ψ = 𝐱 * σ
        return ψ

    g = TorchGraph(f, [1.5, 2.0])
    assert [n.name for n in g.nodes] == ["x", "σ", "mul", "ψ"]
    g.save(tmp_path / "u.png", with_all=True, dpi=30)
    assert (tmp_path / "u.png").read_bytes().startswith(b"\x89PNG")


def test_null_character_in_an_output_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"output path '.*a\\x00\.png' contains a null character"):
        branches().save(str(tmp_path / "a\x00.png"))
    with pytest.raises(ValueError, match="contains a null character"):
        write_frames(str(tmp_path / "a\x00.gif"), synthetic(1))
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------- hostile matplotlib settings

# Each entry: a user setting that must not change graphanim's pictures.
HOSTILE_RC: dict[str, object] = {
    "usetex": {"text.usetex": True},  # and no LaTeX is needed for it
    "figure.dpi=37": {"figure.dpi": 37},
    "svg.fonttype=none": {"svg.fonttype": "none"},
    "missing font": {"font.family": ["No Such Font Family"], "font.size": 3},
    "path.sketch (xkcd)": "xkcd",
    "dark_background": "dark_background",
    "ggplot": "ggplot",
    "figure.edgecolor": {"figure.edgecolor": "red"},
    "pdf.use14corefonts": {"pdf.use14corefonts": True},
}
FORMATS = ("png", "svg", "pdf", "gif", "repr")

def _user_settings(setting: object) -> Any:  # a context manager
    import contextlib

    if setting == "xkcd":
        return plt.xkcd()
    if isinstance(setting, str):
        return plt.style.context(setting)
    if isinstance(setting, dict):
        return matplotlib.rc_context(setting)
    return contextlib.nullcontext()


def _output(fmt: str, folder: Path) -> bytes:
    g = branches()
    if fmt == "repr":
        return g._repr_png_()
    path = folder / f"out.{fmt}"
    if fmt == "gif":
        g.animate("backward", dpi=40).save(path)
    else:
        g.save(path, with_all=True, dpi=40)
    return path.read_bytes()


@functools.cache
def _default_output(fmt: str, folder: str) -> bytes:
    return _output(fmt, Path(folder))


@pytest.fixture(scope="module")
def default_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("defaults"))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(HOSTILE_RC))
def test_user_matplotlib_settings_do_not_change_the_output(
    name: str, fmt: str, tmp_path: Path, default_folder: str, request: pytest.FixtureRequest
) -> None:
    expected = _default_output(fmt, default_folder)
    before = dict(matplotlib.rcParams)
    with _user_settings(HOSTILE_RC[name]):
        inside = dict(matplotlib.rcParams)
        got = _output(fmt, tmp_path)
        assert dict(matplotlib.rcParams) == inside, "graphanim changed the user's settings"
    assert dict(matplotlib.rcParams) == before
    assert got == expected


def test_plot_under_usetex_needs_no_latex() -> None:
    # The figure that plot() returns is saved by the user, with the user's settings: its texts
    # were made under graphanim's settings, so usetex never reaches them.
    def user_png() -> tuple[bytes, float, tuple[float, float]]:
        fig = branches().plot(with_all=True)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
        plt.close(fig)
        return buf.getvalue(), fig.dpi, tuple(fig.get_size_inches())

    expected = user_png()
    with matplotlib.rc_context({"text.usetex": True, "figure.dpi": 37}):
        assert user_png() == expected
    assert expected[1] == 100.0  # a new figure is 100 dpi whatever figure.dpi says


# --------------------------------------------------------------------------------- headless

HEADLESS_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from graphanim import TorchGraph
    from graphanim.cli import main
    out = Path(sys.argv[1])
    g = TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])
    for suffix in (".png", ".svg", ".pdf"):
        g.save(out / f"g{suffix}", dpi=40)
    g.animate("backward", dpi=30).save(out / "g.gif")
    assert g._repr_png_().startswith(b"\\x89PNG")
    assert main(["render", "sin(x)", "--at", "x=1", "--dpi", "30", "-o", str(out / "c.png")]) == 0
    if sys.argv[2] == "plot":
        fig = g.plot(with_all=True)
        fig.savefig(out / "p.png")
    """
)


@pytest.mark.parametrize(
    ("backend", "plot"),
    [("Agg", "plot"), ("TkAgg", "no-plot")],
    ids=["MPLBACKEND=Agg", "MPLBACKEND=TkAgg-without-display"],
)
def test_headless_machine(backend: str, plot: str, tmp_path: Path) -> None:
    # No display; with a GUI backend configured, files are still written (they never use pyplot).
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["MPLBACKEND"] = backend
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", HEADLESS_SCRIPT, str(tmp_path), plot],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    expected = ["c.png", "g.gif", "g.pdf", "g.png", "g.svg"] + (["p.png"] if plot == "plot" else [])
    assert names == sorted(expected)
    # the same bytes as in this (Agg) process
    g = branches()
    g.save(tmp_path / "here.png", dpi=40)
    assert (tmp_path / "here.png").read_bytes() == (tmp_path / "g.png").read_bytes()


# ---------------------------------------------------------------------- odd sizes for video


@needs_ffmpeg
@pytest.mark.ffmpeg
@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_odd_pixel_sizes_make_even_videos(suffix: str, tmp_path: Path) -> None:
    import gc

    import imageio.v3 as iio

    # 2.01 × 1.51 in at 100 dpi is 201 × 151 pixels: odd both ways. The scene rounds its frames
    # up to even sizes (yuv420p needs them); the writers pad odd frames from other sources too
    # (test_writers.py::test_video_reads_back_with_even_size).
    anim = branches().animate("backward", figsize=(2.01, 1.51), dpi=100, labels=False)
    first = anim.frame_rgb(0)
    assert first.shape == (152, 202, 3)
    out = anim.save(tmp_path / f"odd{suffix}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        meta = iio.immeta(out, plugin="FFMPEG")
        frames = iio.imread(out, plugin="FFMPEG")
        gc.collect()
    assert meta["size"] == (202, 152)
    assert frames.shape == (anim.frames, 152, 202, 3)
    error = np.abs(frames[0].astype(int) - first).max(axis=2)
    assert (error > 60).mean() < 0.01


# ------------------------------------------------------------------ output folders and paths


def test_missing_folder_fails_before_drawing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = branches()
    monkeypatch.setattr(Animation, "_rgb_frames", lambda *a: pytest.fail("a frame was drawn"))
    target = tmp_path / "missing" / "x.png"
    message = r"^output folder '.*missing' does not exist; create it first$"
    with pytest.raises(FileNotFoundError, match=message):
        g.save(target)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        g.animate("backward").save(tmp_path / "missing" / "x.gif")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_is_not_a_picture(tmp_path: Path) -> None:
    (tmp_path / "pics.png").mkdir()
    g = branches()
    with pytest.raises(IsADirectoryError, match=r"output path '.*pics\.png' is a folder; name a"):
        g.save(tmp_path / "pics.png")
    with pytest.raises(IsADirectoryError, match=r"ends in '/', which names a folder; name a file"):
        g.save(str(tmp_path / "new.png") + "/")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pics.png"]
    assert list((tmp_path / "pics.png").iterdir()) == []


def test_existing_folder_with_an_animation_suffix_gets_png_frames(tmp_path: Path) -> None:
    # documented: a path that names an existing folder is a folder of PNG frames
    (tmp_path / "anim.gif").mkdir()
    anim = branches().animate("backward", dpi=30)
    anim.save(tmp_path / "anim.gif")
    names = sorted(p.name for p in (tmp_path / "anim.gif").iterdir())
    assert names == [f"frame_{k:04d}.png" for k in range(anim.frames)]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_unwritable_folder(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        probe = folder / "probe"
        try:
            probe.write_bytes(b"")
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("running as root: a 0500 folder is writable (see the /proc test)")
        with pytest.raises(PermissionError, match=r"cannot create a file in folder '.*locked' "
                                                  r"\(Permission denied\)"):
            branches().save(folder / "x.png")
        with pytest.raises(PermissionError, match="cannot create a file in folder"):
            branches().animate("backward", dpi=30).save(folder / "x.gif")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_folder_where_no_file_can_be_created_even_as_root(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=r"cannot create a file in folder '/proc' \(") as info:
        branches().save("/proc/graphanim-test.png")
    assert info.value.errno in (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS)
    with pytest.raises(OSError, match=r"cannot create a file in folder '/proc' \("):
        write_frames("/proc/graphanim-test.gif", synthetic(2))
    assert not Path("/proc/graphanim-test.png").exists()


def test_names_near_the_file_system_limit(tmp_path: Path) -> None:
    # 255 bytes is the usual limit for one name; the temporary file beside it must fit too
    longest = "é" * 125 + ".png"  # 254 bytes in UTF-8
    assert len(os.fsencode(longest)) == 254
    out = branches().save(tmp_path / longest, dpi=30)
    assert Path(out).read_bytes().startswith(b"\x89PNG")
    write_frames(tmp_path / ("g" * 250 + ".gif"), synthetic(2))
    with pytest.raises(OSError) as info:
        branches().save(tmp_path / ("x" * 300 + ".png"), dpi=30)
    assert info.value.errno == errno.ENAMETOOLONG
    assert sorted(len(p.name) for p in tmp_path.iterdir()) == [129, 254]


def test_symlink_to_another_file_is_replaced_not_followed(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text("print('mine')\n")
    script.chmod(0o755)
    link = tmp_path / "link.png"
    link.symlink_to(script.name)
    hard = tmp_path / "hard.png"
    os.link(script, hard)
    g = branches()
    g.save(link, dpi=30)
    g.save(hard, dpi=30)
    assert script.read_text() == "print('mine')\n"  # neither link wrote through
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    for path in (link, hard):
        assert not path.is_symlink() and path.read_bytes().startswith(b"\x89PNG")
    # a picture does not become executable because the link pointed at a script
    assert not link.stat().st_mode & 0o111
    dangling = tmp_path / "dangling.gif"
    dangling.symlink_to(tmp_path / "nowhere" / "x.gif")
    write_frames(dangling, synthetic(2))
    assert not dangling.is_symlink() and not (tmp_path / "nowhere").exists()


def test_gif_larger_than_the_format_allows(tmp_path: Path) -> None:
    target = tmp_path / "wide.gif"
    target.write_bytes(b"old")
    frame = np.zeros((1, 70_000, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"a GIF is at most 65535 pixels a side, the frames are "
                                         r"70000×1"):
        write_frames(target, [frame])
    assert target.read_bytes() == b"old"


@pytest.mark.parametrize("fps", [float("inf"), float("nan"), 1e-9, 0, -2, True])
def test_animate_refuses_a_frame_rate_no_format_holds(fps: object) -> None:
    with pytest.raises(ValueError, match="fps"):
        branches().animate("forward", fps=fps)  # type: ignore[arg-type]


def test_gif_refuses_a_frame_rate_its_delays_cannot_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    anim = branches().animate("forward", fps=60)  # fine for a video or the HTML player
    monkeypatch.setattr(Animation, "_rgb_frames", lambda *a: pytest.fail("a frame was drawn"))
    with pytest.raises(ValueError, match=r"fps for \.gif must be from 0\.00153 to 50 "
                                         r"\(GIF frame delays are whole hundredths"):
        anim.save(tmp_path / "a.gif")
    assert os.listdir(tmp_path) == []


def test_save_figure_keeps_a_read_only_file(tmp_path: Path) -> None:
    target = tmp_path / "g.png"
    target.write_bytes(b"old")
    target.chmod(0o444)
    with pytest.raises(writers.ReadOnlyTargetError, match=r"g\.png.* is read-only \(mode 0444\)"):
        branches().save(target)
    assert target.read_bytes() == b"old"
    fig = plt.figure()
    try:
        writers.save_figure(fig, target, overwrite=True)
    finally:
        plt.close(fig)
    assert target.read_bytes()[:4] == b"\x89PNG" and stat.S_IMODE(target.stat().st_mode) == 0o444


def test_suffix_alone_is_not_a_file_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'\.png' is a suffix alone: name the file, e\.g\. "
                                         r"'graph\.png'"):
        check_output_path(".png", (".png",))
    with pytest.raises(ValueError, match=r"'\.gif' is a suffix alone"):
        write_frames(tmp_path / ".gif", synthetic(1))


# -------------------------------------------------------------------------- interrupted exports


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, k: int, error: type[BaseException]) -> None:
    """Make every animation's frame stream raise ``error`` after ``k`` frames (Ctrl-C mid-way).

    The GIF's palette samples (drawn first, from a list of frames) pass untouched.
    """
    original = Animation._rgb_frames

    def frames(self: Animation, scene, subset=None):
        if subset is not None:
            yield from original(self, scene, subset)
            return
        for i, rgb in enumerate(original(self, scene)):
            if i == k:
                raise error("interrupted mid-way")
            yield rgb

    monkeypatch.setattr(Animation, "_rgb_frames", frames)


@pytest.mark.parametrize(
    "suffix",
    [".gif", ".html", pytest.param(".mp4", marks=needs_ffmpeg), "frames/"],
)
def test_interrupted_animation_leaves_the_old_file(
    suffix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / suffix
    if suffix.endswith("/"):
        target.mkdir()
        for k in range(12):
            (target / f"frame_{k:04d}.png").write_bytes(b"old frame %d" % k)
        before = {p.name: p.read_bytes() for p in target.iterdir()}
    else:
        target = tmp_path / f"out{suffix}"
        target.write_bytes(b"previous export")
    processes: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def recording_popen(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        processes.append(proc)
        return proc

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    _interrupt_after(monkeypatch, 2, KeyboardInterrupt)
    anim = branches().animate("both", dpi=30)
    with pytest.raises(KeyboardInterrupt, match="interrupted mid-way"):
        # .html: the raster player, which streams the frames (the explorer draws none)
        anim.save(str(target) + ("/" if suffix.endswith("/") else ""), player="frames")
    if suffix.endswith("/"):
        assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    else:
        assert target.read_bytes() == b"previous export"
        assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
    assert all(p.poll() is not None for p in processes), "ffmpeg left running"
    assert len(processes) == (1 if suffix == ".mp4" else 0)


def test_interrupted_new_png_folder_is_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt_after(monkeypatch, 3, KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        branches().animate("backward", dpi=30).save(str(tmp_path / "new") + "/")
    assert list(tmp_path.iterdir()) == []


def test_interrupt_inside_the_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "w.gif"
    target.write_bytes(b"previous export")
    real_write = GifWriter._write

    def write(self: GifWriter, frame: np.ndarray) -> None:
        if self.frame_count == 3:
            raise KeyboardInterrupt
        real_write(self, frame)

    monkeypatch.setattr(GifWriter, "_write", write)
    with pytest.raises(KeyboardInterrupt):
        branches().animate("both", dpi=30).save(target)
    assert target.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.gif"]


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_interrupted_picture_leaves_the_old_file(
    suffix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.figure import Figure

    target = tmp_path / f"pic{suffix}"
    target.write_bytes(b"previous picture")

    def half_written(self, fname, *args, **kwargs):
        Path(fname).write_bytes(b"half a picture")
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", half_written)
    from graphanim.backends import svg  # SVG is written without matplotlib

    monkeypatch.setattr(svg, "write_svg", lambda pic, fname: half_written(pic, fname))
    with pytest.raises(KeyboardInterrupt):
        branches().save(target)
    assert target.read_bytes() == b"previous picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


# ----------------------------------------------------------------------------- many frames


def test_two_thousand_frames_stream_with_bounded_memory(tmp_path: Path) -> None:
    # The heavier comparison (100 vs 1,000 frames of 120×160) is in test_writers.py; here the
    # frame source itself shows that no more than two frames are alive at any time.
    alive = [0, 0]  # now, most

    def source(n: int) -> Iterator[np.ndarray]:
        for frame in synthetic(n, 64, 96):
            alive[0] += 1
            alive[1] = max(alive)
            weakref.finalize(frame, gone)
            yield frame

    def gone() -> None:
        alive[0] -= 1

    def peak(n: int) -> int:
        tracemalloc.start()
        try:
            write_frames(tmp_path / f"m{n}.gif", source(n), fps=25)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(5)
    small, large = peak(200), peak(2000)
    # 2,000 frames of 64×96 held in memory would be 37 MB
    assert large <= small + 1_000_000, (small, large)
    assert alive[1] <= 2
    with Image.open(tmp_path / "m2000.gif") as im:
        assert im.n_frames == 2000


# ------------------------------------------------------------------------ the writers' errors


def test_errors_while_exporting_leave_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "keep.gif"
    target.write_bytes(b"previous export")
    before = _state()
    for error in (RuntimeError, MemoryError, SystemExit, KeyboardInterrupt, OSError):
        with monkeypatch.context() as m:
            _interrupt_after(m, 1, error)
            with pytest.raises(error):
                branches().animate("backward", dpi=30).save(target)
        assert target.read_bytes() == b"previous export", error
        assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.gif"], error
        assert _state() == before, error
