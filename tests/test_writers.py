"""Writers on synthetic frames: GIF/MP4/WebM/HTML/PNG folder, streaming, atomic, errors."""

from __future__ import annotations

import base64
import gc
import io
import os
import re
import tracemalloc
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from graphanim import writers
from graphanim.io import base as io_base
from graphanim.writers import (
    FFmpegNotFoundError,
    FrameWriter,
    GifWriter,
    PngFolderWriter,
    gif_palette,
    html_player,
    register,
    write_frames,
    writer_for,
)

needs_ffmpeg = pytest.mark.skipif(writers.find_ffmpeg() is None, reason="no ffmpeg found")

COLOURS = np.array(
    [(255, 255, 255), (230, 230, 240), (200, 80, 80), (40, 40, 40), (80, 160, 90)], dtype=np.uint8
)


def synthetic(n: int, h: int = 48, w: int = 64) -> Iterator[np.ndarray]:
    """Frames like an animation's: a fixed background, a box moving, a caption bar changing."""
    base = np.empty((h, w, 3), dtype=np.uint8)
    base[...] = COLOURS[0]
    base[h - 10 :, :] = COLOURS[1]
    for i in range(n):
        frame = base.copy()
        x = (i * 3) % (w - 8)
        frame[8:16, x : x + 8] = COLOURS[2]
        frame[h - 8 : h - 4, 2 : 2 + (i % 20) * 3] = COLOURS[3]
        if i % 7 == 3:
            frame[20:24, 20:30] = COLOURS[4]
        yield frame


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


# -- GIF ----------------------------------------------------------------------------------------


def test_gif_reads_back_frame_for_frame(tmp_path: Path) -> None:
    frames = list(synthetic(30))
    out = write_frames(tmp_path / "a.gif", iter(frames), fps=4, palette=COLOURS)
    with Image.open(out) as im:
        assert im.n_frames == 30
        assert im.info["loop"] == 0
        assert im.size == (64, 48)
        durations = []
        for k in range(im.n_frames):
            im.seek(k)
            durations.append(im.info["duration"])
            # Only changed rectangles are stored; composited, every frame equals its source.
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), frames[k])
    assert set(durations) == {250}


def test_gif_is_deterministic_and_palette_is_shared(tmp_path: Path) -> None:
    a = write_frames(tmp_path / "a.gif", synthetic(12), fps=2)
    b = write_frames(tmp_path / "b.gif", synthetic(12), fps=2)
    assert a.read_bytes() == b.read_bytes()
    data = a.read_bytes()
    # One global colour table (flag 0x80 in the logical screen descriptor), no local tables.
    assert data[:6] == b"GIF89a" and data[10] & 0x80
    with Image.open(a) as im:
        for k in range(im.n_frames):
            im.seek(k)
            assert im.palette is not None


def test_gif_palette_keeps_few_colours_exactly() -> None:
    samples = list(synthetic(3))
    table = gif_palette(samples)
    assert len(table) <= 255
    for colour in COLOURS[:4]:
        assert (table == colour).all(axis=1).any()


def test_gif_palette_of_a_photo_like_frame_is_reduced() -> None:
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    assert 200 < len(gif_palette([noisy])) <= 255


def test_gif_unchanged_frame_still_counts(tmp_path: Path) -> None:
    frame = next(synthetic(1))
    out = write_frames(tmp_path / "still.gif", [frame, frame, frame], fps=1)
    with Image.open(out) as im:
        assert im.n_frames == 3
        im.seek(2)
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), frame)


def test_gif_memory_does_not_grow_with_frames(tmp_path: Path) -> None:
    def peak(n: int) -> int:
        tracemalloc.start()
        try:
            write_frames(tmp_path / f"m{n}.gif", synthetic(n, 120, 160), fps=10, palette=COLOURS)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(10)  # first-use allocations (imports, caches) out of the way
    small, large = peak(100), peak(1000)
    assert large <= 1.2 * small, (small, large)


# -- video --------------------------------------------------------------------------------------


def read_video(path: Path) -> tuple[dict, np.ndarray]:
    """Decode a video with imageio: its metadata and all frames, ``(n, H, W, 3)``."""
    import imageio.v3 as iio

    # imageio-ffmpeg's reader leaves its pipes to the garbage collector; collect them here,
    # where their ResourceWarning is expected, rather than in some later test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        meta = iio.immeta(path, plugin="FFMPEG")
        frames = iio.imread(path, plugin="FFMPEG")
        gc.collect()
    return meta, frames


@needs_ffmpeg
@pytest.mark.ffmpeg
@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_video_reads_back_with_even_size(tmp_path: Path, suffix: str) -> None:
    # An odd size is padded to even pixels for yuv420p.
    source = list(synthetic(10, 47, 63))
    out = write_frames(tmp_path / f"v{suffix}", iter(source), fps=5)
    meta, frames = read_video(out)
    assert len(frames) == 10
    assert frames.shape[1:] == (48, 64, 3)
    assert meta["size"] == (64, 48)
    assert meta["fps"] == 5
    assert "yuv420p" in meta["pix_fmt"]
    # Lossy, but every frame is the picture we sent: only changed regions are converted to
    # YUV, so a stale region would show up as a block of large errors.
    for got, sent in zip(frames, source, strict=True):
        error = np.abs(got[:47, :63].astype(int) - sent).max(axis=2)
        assert (error > 60).mean() < 0.01


def test_missing_ffmpeg_fails_before_any_frame(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("graphanim.io.video.find_ffmpeg", lambda: None)
    drawn = []

    def frames() -> Iterator[np.ndarray]:
        for f in synthetic(3):
            drawn.append(1)
            yield f

    for suffix in (".mp4", ".webm"):
        with pytest.raises(FFmpegNotFoundError, match=r"ffmpeg.*\.gif"):
            write_frames(tmp_path / f"x{suffix}", frames())
    assert drawn == []
    assert list(tmp_path.iterdir()) == []


@needs_ffmpeg
def test_ffmpeg_failure_leaves_no_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "broken.mp4"
    target.write_bytes(b"old")
    monkeypatch.setattr(writers.MP4Writer, "codec_args", ("-c:v", "no-such-encoder"))
    with pytest.raises(RuntimeError, match="ffmpeg"):
        write_frames(target, synthetic(3))
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


# -- HTML ---------------------------------------------------------------------------------------


def test_html_player_is_self_contained(tmp_path: Path) -> None:
    frames = list(synthetic(6))
    out = write_frames(tmp_path / "p.html", iter(frames), fps=3)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert re.search(r"https?://", text) is None
    for cls in ("ga-play", "ga-prev", "ga-next", 'type="range"'):
        assert cls in text
    embedded = re.findall(r'^"([A-Za-z0-9+/=]+)",$', text, flags=re.M)
    assert len(embedded) == 6
    for data, frame in zip(embedded, frames, strict=True):
        with Image.open(io.BytesIO(base64.b64decode(data))) as im:
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), frame)
    assert "333" in text  # 1000 ms / 3 fps between frames


def test_html_fragment_ids_differ_per_element_id() -> None:
    a = html_player(synthetic(2), element_id="one")
    b = html_player(synthetic(2), element_id="two")
    assert 'id="one"' in a and 'id="two"' in b
    assert "<!DOCTYPE" not in a
    assert html_player(synthetic(2)) == html_player(synthetic(2))
    with pytest.raises(ValueError, match="element_id"):
        html_player(synthetic(1), element_id="bad id\"><script>")


# -- PNG folder ---------------------------------------------------------------------------------


@pytest.mark.parametrize("trailing_slash", [True, False])
def test_png_folder(tmp_path: Path, trailing_slash: bool) -> None:
    folder = tmp_path / "frames"
    if not trailing_slash:
        folder.mkdir()
    target = str(folder) + ("/" if trailing_slash else "")
    assert writer_for(target) is PngFolderWriter
    (folder.mkdir(exist_ok=True))
    (folder / "frame_0007.png").write_bytes(b"stale")
    (folder / "notes.txt").write_text("mine")
    frames = list(synthetic(5))
    write_frames(target, iter(frames))
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"frame_{i:04d}.png" for i in range(5)] + ["notes.txt"]
    with Image.open(folder / "frame_0003.png") as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), frames[3])


# -- atomic behaviour and errors ----------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gif", ".html", pytest.param(".mp4", marks=needs_ffmpeg)])
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_mid_way_leaves_existing_file_untouched(
    tmp_path: Path, suffix: str, error: type[BaseException]
) -> None:
    target = tmp_path / f"out{suffix}"
    target.write_bytes(b"previous export")

    def frames() -> Iterator[np.ndarray]:
        yield from synthetic(4)
        raise error("stop")

    with pytest.raises(error):
        write_frames(target, frames())
    assert target.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    out = write_frames(tmp_path / "mode.gif", synthetic(2))
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask
    existing = tmp_path / "kept.gif"
    existing.write_bytes(b"x")
    existing.chmod(0o640)
    write_frames(existing, synthetic(2))
    assert existing.stat().st_mode & 0o777 == 0o640


def test_writer_context_manager_protocol(tmp_path: Path) -> None:
    target = tmp_path / "ctx.gif"
    with GifWriter(target, fps=2) as w:
        for f in synthetic(3):
            w.grab_frame(f)
        assert not target.exists()  # only the temporary file exists while writing
        assert len(leftovers(tmp_path)) == 1
    assert target.exists() and leftovers(tmp_path) == []
    assert w.frame_count == 3


def test_frames_of_different_sizes_are_refused(tmp_path: Path) -> None:
    frames = [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 10, 3), np.uint8)]
    with pytest.raises(ValueError, match="differs from the first frame"):
        write_frames(tmp_path / "s.gif", frames)
    assert list(tmp_path.iterdir()) == []


def test_bad_frames_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        write_frames(tmp_path / "s.gif", [np.zeros((8, 8), np.float32)])
    with pytest.raises(ValueError, match="no frames"):
        write_frames(tmp_path / "s.gif", [])
    assert list(tmp_path.iterdir()) == []


def test_unknown_suffix_lists_the_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'\.avi'") as info:
        write_frames(tmp_path / "x.avi", synthetic(1))
    for suffix in (".gif", ".mp4", ".webm", ".html"):
        assert suffix in str(info.value)
    assert "folder" in str(info.value)
    with pytest.raises(ValueError, match=r"script\.py"):
        writer_for(tmp_path / "script.py")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        writer_for(tmp_path / "missing" / "x.gif")


def test_bad_fps(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fps"):
        write_frames(tmp_path / "x.gif", synthetic(1), fps=0)


@pytest.mark.parametrize("fps", [float("inf"), float("nan"), 1e-9, -1.0, 0, True, "2"])
def test_fps_that_no_format_holds_is_refused_everywhere(tmp_path: Path, fps: object) -> None:
    with pytest.raises(ValueError, match="fps"):
        writers.check_fps(fps)
    for suffix in (".gif", ".html", ".mp4", ".webm"):
        with pytest.raises(ValueError, match="fps"):
            writers.check_fps(fps, suffix)
    with pytest.raises(ValueError, match="fps"):
        html_player(synthetic(1), fps=fps)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fps"):
        write_frames(tmp_path / "x.gif", synthetic(1), fps=fps)  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


def test_fps_limits_follow_the_format(tmp_path: Path) -> None:
    # GIF delays are whole hundredths of a second, 2 to 65535: 50 fps is the most, 60 is not
    assert writers.check_fps(50, ".gif") == 50.0
    with pytest.raises(ValueError, match=r"\.gif.*50.*hundredths") as info:
        write_frames(tmp_path / "x.gif", synthetic(2), fps=60)
    assert "60" in str(info.value)
    with pytest.raises(ValueError, match=r"0\.00153"):
        writers.check_fps(0.001, ".gif")
    assert writers.check_fps(0.001, ".mp4") == 0.001
    assert writers.check_fps(60, ".html") == 60.0
    assert os.listdir(tmp_path) == []
    out = write_frames(tmp_path / "slow.gif", synthetic(2), fps=100 / 65535, palette=COLOURS)
    with Image.open(out) as im:
        assert im.info["duration"] == 655350  # the longest delay a GIF holds, in ms


def test_read_only_target_is_kept_unless_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "x.gif"
    target.write_bytes(b"old")
    target.chmod(0o444)
    with pytest.raises(writers.ReadOnlyTargetError, match=r"x\.gif.*read-only.*overwrite=True"):
        write_frames(target, synthetic(2), palette=COLOURS)
    with pytest.raises(PermissionError, match="read-only"):
        with writers.atomic_path(target) as tmp:
            tmp.write_bytes(b"new")
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["x.gif"]
    assert (target.stat().st_mode & 0o777) == 0o444
    write_frames(target, synthetic(2), palette=COLOURS, overwrite=True)
    with Image.open(target) as im:
        assert im.n_frames == 2
    target.write_bytes(b"old")  # root may write it; the bits still say read-only
    with writers.allow_overwrite():
        write_frames(target, synthetic(2), palette=COLOURS)
    assert target.read_bytes()[:6] == b"GIF89a"
    with pytest.raises(writers.ReadOnlyTargetError):
        writers.check_replaceable(target)  # the context is over
    assert sorted(os.listdir(tmp_path)) == ["x.gif"]


def test_register_fills_the_writer_table(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(io_base, "writers", dict(io_base.writers))

    @register(".raw")
    class RawWriter(FrameWriter):
        def _write(self, frame: np.ndarray) -> None:
            assert self._tmp is not None
            with open(self._tmp, "ab") as fp:
                fp.write(frame.tobytes())

    assert io_base.writers[".raw"] is RawWriter
    out = write_frames(tmp_path / "x.raw", synthetic(2))
    assert os.path.getsize(out) == 2 * 48 * 64 * 3
    with pytest.raises(ValueError, match="dot"):
        register("gif")


def test_progress_bar_only_when_asked_or_on_a_terminal(tmp_path: Path, capsys) -> None:
    write_frames(tmp_path / "q.gif", synthetic(3), progress=None)
    assert capsys.readouterr().err == ""  # pytest's stderr is not a terminal
    write_frames(tmp_path / "p.gif", synthetic(3), progress=True, total=3)
    err = capsys.readouterr().err
    assert "p.gif" in err and "/3" in err
