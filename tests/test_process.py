"""The command line as a user's shell runs it: a separate process, signals, closed or full
stdout, user code that changes directory; the file system is read back afterwards."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from graphanim.writers import find_ffmpeg

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and /dev/full")

TIMEOUT = 120
EXPR = ["render", "x*2", "--at", "x=1", "--dpi", "30"]

# A user file whose export is slow and says when it is under way: each frame waits a little,
# and after the second one a marker file appears (the temporary output exists by then).
SLOW = textwrap.dedent(
    """\
    import pathlib
    import time

    import torch
    from graphanim.writers import FrameWriter

    _grab = FrameWriter.grab_frame

    def _slow_grab(self, rgb):
        _grab(self, rgb)
        if self.frame_count == 2:
            pathlib.Path(__file__).with_name("exporting").touch()
        time.sleep(0.2)

    FrameWriter.grab_frame = _slow_grab

    def f(x, w):
        return torch.tanh(x * w + 1).sum()
    """
)

# A user function that changes directory while it runs (and its file does so at import).
MOVES = textwrap.dedent(
    """\
    import os

    os.chdir("elsewhere")

    def f(x):
        os.chdir(os.path.join(os.path.dirname(__file__), "elsewhere", "deeper"))
        return x * 2
    """
)


def command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "graphanim", *args]


def run(
    args: Sequence[str], cwd: Path, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("stdout", subprocess.PIPE)
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        command(args), cwd=cwd, stderr=subprocess.PIPE, text=True, timeout=TIMEOUT, **kwargs
    )


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: relative name -> (size, permission bits)."""
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_size, stat.S_IMODE(p.stat().st_mode))
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def no_temporaries(folder: Path) -> None:
    left = [p.name for p in folder.rglob("*") if ".part" in p.name]
    assert left == [], f"temporary files left behind: {left}"


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# ----------------------------------------------------------------- user code changes directory


def test_output_path_is_fixed_before_user_code_runs(tmp_path: Path) -> None:
    (tmp_path / "elsewhere" / "deeper").mkdir(parents=True)
    (tmp_path / "moves.py").write_text(MOVES)
    done = run(["render", "moves.py:f", "--at", "x=1", "--dpi", "30", "-o", "out.png"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "out.png\n"
    found = listing(tmp_path)
    assert set(found) == {"moves.py", "out.png"}, found  # nothing in the folders it moved to
    assert (tmp_path / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------- values that start with '-'


def test_dash_names_are_kept_exactly(tmp_path: Path) -> None:
    done = run([*EXPR, "-o", "-x.png"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "-x.png\n"
    assert list(listing(tmp_path)) == ["-x.png"]
    done = run([*EXPR, "--depth", "-1", "-o", "y.png"], tmp_path)
    assert done.returncode == 2
    assert "'-1'" in done.stderr and "' -1'" not in done.stderr
    assert list(listing(tmp_path)) == ["-x.png"]


# ----------------------------------------------------------------- termination signals


@pytest.mark.parametrize(
    ("suffix", "signum"),
    [
        (".gif", signal.SIGTERM),
        (".gif", signal.SIGHUP),
        pytest.param(
            ".mp4",
            signal.SIGTERM,
            marks=pytest.mark.skipif(find_ffmpeg() is None, reason="needs ffmpeg"),
        ),
    ],
)
def test_signal_during_export_removes_the_temporary_and_keeps_the_old_file(
    tmp_path: Path, suffix: str, signum: int
) -> None:
    (tmp_path / "slow.py").write_text(SLOW)
    target = tmp_path / f"out{suffix}"
    target.write_bytes(b"the previous animation")
    target.chmod(0o640)
    before = listing(tmp_path)
    args = ["render", "slow.py:f", "--at", "x=[1,2,3]", "w=0.5", "--dpi", "30", "-o", target.name]
    proc = subprocess.Popen(
        command(args), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (tmp_path / "exporting").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the export never started"
            time.sleep(0.01)
        parts = [p.name for p in tmp_path.iterdir() if ".part" in p.name]
        assert parts and all(p.startswith(f".out{suffix}.") for p in parts), parts
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signum, err
    line = one_error_line(err)
    assert signal.Signals(signum).name in line and "interrupted" in line
    assert out == ""
    (tmp_path / "exporting").unlink()
    no_temporaries(tmp_path)
    assert listing(tmp_path) == before  # the old file: same bytes, same mode
    assert target.read_bytes() == b"the previous animation"


# ----------------------------------------------------------------- closed or full stdout


def test_reader_gone_is_quiet_and_the_file_is_written(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # like `| head -0`: the reader is gone before anything is printed
    try:
        done = run([*EXPR, "-o", "g.png"], tmp_path, stdout=write)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, "")
    assert list(listing(tmp_path)) == ["g.png"]
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"


def test_full_stdout_is_one_error_line_and_the_file_is_complete(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        done = run([*EXPR, "-o", "g.gif", "--direction", "forward"], tmp_path, stdout=full)
    assert done.returncode == 1
    line = one_error_line(done.stderr)
    assert "stdout" in line and "g.gif" in line
    no_temporaries(tmp_path)
    from PIL import Image

    with Image.open(tmp_path / "g.gif") as im:
        assert im.n_frames > 1  # the whole animation, not a part of it


def test_closed_stdout_is_one_error_line_and_the_file_is_complete(tmp_path: Path) -> None:
    done = run(
        [*EXPR, "-o", "g.png"], tmp_path, stdout=None, preexec_fn=lambda: os.close(1)
    )
    assert done.returncode == 1
    line = one_error_line(done.stderr)
    assert "stdout" in line and "closed" in line
    assert list(listing(tmp_path)) == ["g.png"]
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"


def test_help_into_a_gone_reader_is_quiet(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)
    try:
        done = run(["render", "--help"], tmp_path, stdout=write)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, "")


# ----------------------------------------------------------------- write-protected target


def test_read_only_target_is_refused_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "g.png"
    target.write_bytes(b"keep me")
    target.chmod(0o444)
    done = run([*EXPR, "-o", "g.png"], tmp_path)
    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert "'g.png'" in line and "read-only" in line and "--force" in line
    assert listing(tmp_path) == {"g.png": (7, 0o444)}
    assert target.read_bytes() == b"keep me"

    done = run([*EXPR, "-o", "g.png", "--force"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert target.read_bytes()[:4] == b"\x89PNG"
    assert stat.S_IMODE(target.stat().st_mode) == 0o444  # replaced, with the mode it had
    no_temporaries(tmp_path)
