"""The command line: rendering, refused input, exit codes, output safety, FILE.py:FUNC."""

from __future__ import annotations

import io
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image

import graphanim
from graphanim import TorchGraph, writers
from graphanim.cli import main
from graphanim.cli import output as cli_output
from graphanim.cli import run as cli_run
from graphanim.cli.language import FUNCTIONS
from graphanim.expr import compile_expression

REPO = Path(graphanim.__file__).resolve().parent.parent
SIN = ["render", "sin(a*x + c)", "--at", "x=2", "a=3", "c=4"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def fails(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 2) -> str:
    """Run ``argv``, check the exit code and a one-line ``error:`` message; return the message."""
    assert main(argv) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in captured.err
    return lines[0]


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------------- it works


def test_render_png_prints_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SIN, "-o", "out.png"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "out.png\n"
    assert captured.err == ""
    with Image.open(tmp_path / "out.png") as im:
        assert im.format == "PNG" and im.width > 100
    assert files(tmp_path) == ["out.png"]  # no temporary file left behind


def test_the_rendered_graph_has_torchs_gradients() -> None:
    # what the command line captures: the compiled expression, as TorchGraph sees it
    c = compile_expression("sin(a*x + c)", {"x": 2.0, "a": 3.0, "c": 4.0})
    g = TorchGraph(c.func, list(c.args), names=list(c.names))
    x, a, cc = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (2.0, 3.0, 4.0))
    out = torch.sin(a * x + cc)
    out.backward()
    assert list(g.inputs) == ["x", "a", "c"]
    assert torch.equal(g.value(g.outputs[0].name), out.detach())
    for name, t in (("x", x), ("a", a), ("c", cc)):
        assert torch.equal(g.grad(name), t.grad)


def test_default_output_is_graph_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "(a + b) * (b + 1)", "--at", "a=2", "b=1"]) == 0
    assert capsys.readouterr().out == "graph.png\n"
    assert files(tmp_path) == ["graph.png"]


def test_same_command_same_bytes(tmp_path: Path) -> None:
    assert main([*SIN, "-o", "one.svg"]) == 0
    assert main([*SIN, "-o", "two.svg"]) == 0
    assert (tmp_path / "one.svg").read_bytes() == (tmp_path / "two.svg").read_bytes()


def test_options_reach_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def fake_save(self, path, *, dpi=None, **kw):  # type: ignore[no-untyped-def]
        seen.update(kw, dpi=dpi, path=str(path))
        return str(path)

    monkeypatch.setattr(TorchGraph, "save", fake_save)
    argv = [*SIN, "-o", "o.pdf", "--theme", "dark", "--layout", "layered", "--dpi", "150"]
    assert main(argv) == 0
    assert seen == {
        "with_all": True,
        "theme": "dark",
        "layout": "layered",
        "dpi": 150,
        "depth": None,
        "path": str(Path.cwd() / "o.pdf"),
    }
    assert main([*argv, "--depth", "2"]) == 0 and seen["depth"] == 2


def test_animation_options_and_default_direction(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []

    class FakeAnimation:
        def save(self, path, player="explorer"):  # type: ignore[no-untyped-def]
            calls.append(("save", str(path)) if player == "explorer" else ("save", player))

    def fake_animate(self, direction="forward", **kw):  # type: ignore[no-untyped-def]
        calls.append((direction, kw))
        return FakeAnimation()

    monkeypatch.setattr(TorchGraph, "animate", fake_animate)
    assert main([*SIN, "-o", "a.gif"]) == 0
    assert main([*SIN, "-o", "b.html", "--direction", "both", "--fps", "4", "--dpi", "80"]) == 0
    assert main([*SIN, "--direction", "forward"]) == 0  # no -o: graph.gif
    base = {"theme": "light", "layout": "layered", "depth": None}
    assert calls == [
        ("backward", base),
        ("save", str(Path.cwd() / "a.gif")),  # absolute: fixed before the user's code runs
        ("both", {**base, "fps": 4.0, "dpi": 80}),
        ("save", str(Path.cwd() / "b.html")),
        ("forward", base),
        ("save", str(Path.cwd() / "graph.gif")),
    ]


def test_render_gif(tmp_path: Path) -> None:
    assert main(["render", "2*x + y", "--at", "x=1", "y=2", "-o", "g.gif", "--fps", "4"]) == 0
    with Image.open(tmp_path / "g.gif") as im:
        assert im.format == "GIF" and im.n_frames > 2
    assert files(tmp_path) == ["g.gif"]


def test_vector_inputs_and_seed(tmp_path: Path) -> None:
    # a list split by the shell is joined back; one seed number seeds every element
    argv = ["render", "x * w", "--at", "x=[1,", "2,", "3]", "w=[0.5, 1, 2]"]
    assert main([*argv, "--grad-output", "1", "-o", "v.png"]) == 0
    assert main([*argv, "--grad-output", "[1,", "0,", "2]", "-o", "w.png"]) == 0
    assert files(tmp_path) == ["v.png", "w.png"]


def test_several_outputs_take_one_seed_each(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "a*b, a+b", "--at", "a=2", "b=3", "--grad-output", "1", "2"]) == 0
    capsys.readouterr()
    message = fails(capsys, ["render", "a*b, a+b", "--at", "a=2", "b=3", "--grad-output", "1"])
    assert "--grad-output has 1 value but the expression has 2 outputs" in message


def test_values_starting_with_a_dash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # argparse alone would read these as unknown options
    assert main(["render", "-x*2", "--at", "x=-1.5e3", "--grad-output", "-2e0", "-o", "a.png"]) == 0
    assert main(["render", "-x", "--at", "x=1", "-ob.png"]) == 0  # -o with its value attached
    assert capsys.readouterr().out == "a.png\nb.png\n"
    assert "got '-y'" in fails(capsys, ["render", "x", "--at", "x=1", "-y"])


def test_target_after_at_is_understood(tmp_path: Path) -> None:
    assert main(["render", "--at", "x=2", "sin(x)", "-o", "s.png"]) == 0
    assert files(tmp_path) == ["s.png"]


def test_unused_at_name_is_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "x * 2", "--at", "x=1", "y=2", "-o", "u.png"]) == 0
    err = capsys.readouterr().err
    assert err == "warning: --at y is not used in the expression; skipped\n"


# ------------------------------------------------------------- refused input: exit 2, no file

HOSTILE = [
    ("__import__('os').system('touch pwned')", "unsupported syntax"),
    ("().__class__.__bases__[0].__subclasses__()", "unsupported syntax: attribute access"),
    ("sin.__globals__", "unsupported syntax: attribute access"),
    ("open('x', 'w')", "unsupported syntax: call to 'open'"),
    ("exec('import os')", "unsupported syntax: call to 'exec'"),
    ("eval('1')", "unsupported syntax: call to 'eval'"),
    ("getattr(x, 'grad')", "unsupported syntax: call to 'getattr'"),
    ("x[0]", "unsupported syntax: subscript"),
    ("lambda: x", "unsupported syntax: lambda"),
    ("[x for x in [1]]", "unsupported syntax: list comprehension"),
    ("(y := x)", "unsupported syntax: assignment expression"),
    ("f'{x}'", "unsupported syntax: f-string"),
    ("'x' * 10**9", "unsupported syntax: string literal"),
    ("sin(x=1)", "unsupported syntax: keyword argument"),
    ("max(*[x])", "unsupported syntax: starred argument"),
    ("__ｉｍｐｏｒｔ__('os')", "unsupported syntax: dunder name '__import__'"),
    ("[1] * 10**9", "unsupported syntax: list display"),
    ("9**9**9 * x", "integer power too large"),
    ("1 << 10**9", "unsupported syntax: operator '<<'"),
    ("(" * 10_000 + "x" + ")" * 10_000, "expression too long"),
    ("-" * 1999 + "x", "nested too deeply"),
    ("sin(" * 101 + "x" + ")" * 101, "nested too deeply"),
    ("x\x00", "null bytes"),
    ("import os", "invalid expression"),
    ("q + x", "unknown name 'q'"),
]


@pytest.mark.parametrize(("text", "fragment"), HOSTILE, ids=[t[:24] for t, _ in HOSTILE])
def test_hostile_expressions(
    text: str, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = fails(capsys, ["render", text, "--at", "x=2", "-o", "out.png"])
    assert fragment in message
    assert files(tmp_path) == []


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["x", "--at", "x=1", "x=2"], "--at x given twice (x=1 and x=2)"),
        (["x", "--at", "x=1", "--at", "ｘ=2"], "--at x given twice"),  # the same name in NFKC
        (["x", "--at", "1x=1"], "not a valid name"),
        (["x", "--at", "class=1"], "Python keyword"),
        (["x", "--at", "__x__=1"], "may not start with '__'"),
        (["x", "--at", "sin=1"], "'sin' is a function"),
        (["x", "--at", "x=__import__('os')"], "is not a number"),
        (["x", "--at", "x=[1,2"], "missing ']'"),
        (["x", "--at", "x=[[1,2],[3]]"], "ragged list"),
        (["x", "--at", "x"], "--at takes NAME=VALUE pairs, got 'x'"),
        (["x*2", "--at", "x=1", "stray"], "--at takes NAME=VALUE pairs, got 'stray'"),
        (["--at", "x=1"], "missing TARGET"),
        (["x"], "no --at values"),
        (["x + y", "--at", "x=1"], "unknown name 'y'"),
        (["x", "--at", "x=[1,2]"], "not a single number, so the backward pass needs a seed"),
        (["x", "--at", "x=[1,2]", "--grad-output", "[1,2,3]"], "seed must match"),
        (["x", "--at", "x=1", "--grad-output", "one"], "--grad-output: 'one' is not a number"),
        (["x @ y", "--at", "x=[1,2]", "y=[1,2,3]"], "cannot be multiplied"),
        (
            ["a + b", "--at", f"a={[[1]] * 1000}", f"b={[[1] * 1001]}".replace(" ", "")],
            "tensor too large",
        ),
        (["x", "--at", "x=" + "[" * 20 + "1" + "]" * 20], "nested too deeply"),
        (["x", "--at", *[f"x{i}=1" for i in range(300)]], "too many names"),
    ],
)
def test_bad_input(
    argv: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = fails(capsys, ["render", *argv, "-o", "out.png"])
    assert fragment in message
    assert files(tmp_path) == []


def test_very_long_at_list_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    value = "x=[" + ",".join(["1"] * 1_000_001) + "]"
    message = fails(capsys, ["render", "sum(x)", "--at", value, "-o", "out.png"])
    assert "too many numbers (limit 1,000,000)" in message
    assert files(tmp_path) == []


# ----------------------------------------------------------------------------- output safety


@pytest.mark.parametrize(
    ("output", "fragment"),
    [
        ("script.py", "unsupported output format '.py'"),
        ("notes", "unsupported output format '(no suffix)'"),
        ("missing/out.png", "output folder 'missing' does not exist"),
        ("", "empty path"),
    ],
)
def test_output_path_is_checked_first(
    output: str,
    fragment: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # nothing else runs: not even the expression is parsed
    monkeypatch.setattr(cli_run, "capture_expression", lambda *a: pytest.fail("work was done"))
    message = fails(capsys, [*SIN, "-o", output])
    assert fragment in message
    assert files(tmp_path) == []


def test_existing_script_is_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "script.py"
    script.write_text("print('mine')\n")
    fails(capsys, [*SIN, "-o", "script.py"])
    assert script.read_text() == "print('mine')\n"


def test_folder_as_output_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pics.png").mkdir()
    assert "is a folder" in fails(capsys, [*SIN, "-o", "pics.png"])


def test_existing_file_untouched_on_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "out.png"
    old.write_bytes(b"old picture")
    fails(capsys, ["render", "x.__class__", "--at", "x=1", "-o", "out.png"])
    assert old.read_bytes() == b"old picture"

    # a failure half-way through writing: the library writes to a temporary file, removed again
    from matplotlib.figure import Figure

    def broken_savefig(self, fname, *args, **kwargs):  # type: ignore[no-untyped-def]
        Path(fname).write_bytes(b"half a picture")
        raise OSError("No space left on device")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    message = fails(capsys, [*SIN, "-o", "out.png"], code=1)
    assert message == (
        "error: cannot write 'out.png': OSError: No space left on device "
        "(run with --debug for the traceback)"
    )
    assert old.read_bytes() == b"old picture"
    assert files(tmp_path) == ["out.png"]


def test_existing_output_is_replaced_on_success(tmp_path: Path) -> None:
    old = tmp_path / "out.png"
    old.write_bytes(b"old picture")
    assert main([*SIN, "-o", "out.png"]) == 0
    assert old.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["-o", "x.png", "--direction", "backward"], "--direction backward makes an animation"),
        (["-o", "x.svg", "--fps", "3"], "--fps applies to animations"),
        (["-o", "x.gif", "--direction", "none"], "--direction none draws a static picture"),
    ],
)
def test_direction_and_suffix_must_agree(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fragment in fails(capsys, [*SIN, *argv])


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_video_without_ffmpeg_fails_before_any_work(
    suffix: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("graphanim.io.video.find_ffmpeg", lambda: None)
    monkeypatch.setattr(TorchGraph, "__init__", lambda *a, **k: pytest.fail("captured"))
    message = fails(capsys, [*SIN, "-o", f"movie{suffix}"])
    assert "ffmpeg" in message and "-o movie.gif" in message
    assert files(tmp_path) == []


def test_dot_layout_without_graphviz(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda n: None if n == "dot" else real_which(n))
    assert "Graphviz" in fails(capsys, [*SIN, "--layout", "dot"])


# ---------------------------------------------------------------- argparse, help, version


def help_examples(text: str) -> list[str]:
    """The ``graphanim render ...`` command lines of a help text (``\\`` continuations joined)."""
    examples: list[str] = []
    lines = iter(text.splitlines())
    for line in lines:
        if line.strip().startswith("graphanim render"):
            command = line.strip()
            while command.endswith("\\"):
                command = command[:-1] + next(lines).strip()
            examples.append(command)
    return examples


def test_help_explains_every_output_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--help"]) == 0
    out = capsys.readouterr().out
    suffixes = [Path(ex.split(" -o ")[1].split()[0]).suffix for ex in help_examples(out)]
    assert suffixes == [".png", ".svg", ".pdf", ".gif", ".mp4", ".webm", ".html"]
    for word in (
        "--at",
        "--grad-output",
        "--direction",
        "--fps",
        "--theme",
        "--layout",
        "--dpi",
        "FILE.py:FUNC",
        "graph.png",
        "exit status",
        "where",
        "sigmoid",
        "--debug",
    ):
        assert word in out


def test_every_help_example_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # each example is captured for real; the drawing itself is covered by the tests above
    import shlex

    assert main(["render", "--help"]) == 0
    examples = help_examples(capsys.readouterr().out)
    written: list[str] = []

    class FakeAnimation:
        def save(self, path, **kw):  # type: ignore[no-untyped-def]
            written.append(str(path))

    monkeypatch.setattr(cli_output, "ffmpeg_available", lambda: True)
    monkeypatch.setattr(TorchGraph, "save", lambda self, path, **kw: written.append(str(path)))
    monkeypatch.setattr(TorchGraph, "animate", lambda self, d, **kw: FakeAnimation())
    Path("model.py").write_text("import torch\n\ndef loss(w, b):\n    return torch.tanh(2*w + b)\n")
    for example in examples:
        argv = shlex.split(example)[2:]
        assert main(["render", *argv]) == 0, example
    assert [Path(p).relative_to(Path.cwd()).as_posix() for p in written] == [
        "sin.png",
        "square.svg",
        "e.pdf",
        "max.gif",
        "neuron.mp4",
        "fwd.webm",
        "loss.html",
    ]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"graphanim {graphanim.__version__}\n"


def test_no_arguments_print_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "render" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("fps", "out", "says"),
    [
        ("inf", "g.gif", "finite"),
        ("nan", "g.mp4", "finite"),
        ("1e-9", "g.html", "4.66e-07 to 1000"),
        ("60", "g.gif", "from 0.00153 to 50 (GIF frame delays are whole hundredths"),
        ("0.0001", "g.webm", "from 0.001 to 1000"),
    ],
)
def test_fps_is_checked_against_the_format(
    fps: str, out: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli_output, "ffmpeg_available", lambda: True)
    monkeypatch.setattr(cli_run, "capture_expression", lambda *a: pytest.fail("work was done"))
    assert main([*SIN, "-o", out, "--fps", fps]) == 2
    err = capsys.readouterr().err
    assert "fps" in err and says in err and "Traceback" not in err
    assert files(tmp_path) == []


def test_read_only_output_is_kept_unless_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "g.svg"
    target.write_bytes(b"old")
    target.chmod(0o444)
    message = fails(capsys, [*SIN, "-o", "g.svg"])
    assert message == (
        "error: -o: 'g.svg' is read-only (mode 0444); pass --force to replace it, or name "
        "another file"
    )
    assert target.read_bytes() == b"old"
    assert main([*SIN, "-o", "g.svg", "--force"]) == 0
    assert b"<svg" in target.read_bytes() and files(tmp_path) == ["g.svg"]


def test_values_starting_with_a_dash_are_kept_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "-x*2", "--at", "x=-1", "--dpi", "30", "-o", "-x.png"]) == 0
    assert capsys.readouterr().out == "-x.png\n"
    assert files(tmp_path) == ["-x.png"]
    assert main([*SIN, "--depth", "-1"]) == 2  # argparse's usage error, the value as given
    err = capsys.readouterr().err
    assert "got '-1'" in err and "' -1'" not in err
    message = fails(capsys, [*SIN, "--grad-output", "-1", "-2"])
    assert "--grad-output has 2 values" in message


@pytest.mark.parametrize(
    "argv",
    [
        ["render", "x", "--at", "x=1", "--direction", "sideways"],
        ["render", "x", "--at", "x=1", "--fps", "0"],
        ["render", "x", "--at", "x=1", "--fps", "abc"],
        ["render", "x", "--at", "x=1", "--dpi", "5"],
        ["render", "x", "--at", "x=1", "--theme", "pink"],
        ["render", "x", "--bogus"],
        ["paint"],
    ],
)
def test_argparse_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


# ------------------------------------------------------------------ failures while running


def test_internal_error_exit_1_and_debug_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self, *a, **k):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(TorchGraph, "save", broken)
    message = fails(capsys, [*SIN], code=1)
    assert message == (
        "error: internal error: RuntimeError: boom (run with --debug for the traceback "
        "and please report it)"
    )
    assert main([*SIN, "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: boom" in err


def test_interrupt_exit_130_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self, *a, **k):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(TorchGraph, "save", interrupted)
    assert main([*SIN]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert files(tmp_path) == []


# ----------------------------------------------------------------------------- FILE.py:FUNC

MODEL = textwrap.dedent(
    """
    import torch
    from helper import scale

    LOG = []

    def loss(w, b, x=2.0):
        y = scale(w * x + b)
        return torch.tanh(y)

    def vec(x):
        return x * 2

    def many(*xs):
        return sum(xs)

    def boom(x):
        raise ZeroDivisionError("no good")

    def quits(x):
        raise SystemExit("bye")

    def returns_number(x):
        return 3.0

    def kwonly(x, *, k):
        return x * k

    if __name__ == "__main__":
        raise SystemExit("the main block must not run")
    """
)


@pytest.fixture()
def model(tmp_path: Path) -> Path:
    (tmp_path / "helper.py").write_text("def scale(t):\n    return 3 * t\n")
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    return path


def test_file_function(model: Path, tmp_path: Path) -> None:
    assert main(["render", "model.py:loss", "--at", "b=0.1", "w=0.5", "-o", "l.png"]) == 0
    assert (tmp_path / "l.png").exists()
    assert str(tmp_path) not in sys.path  # the file's folder is not left on sys.path


def test_file_function_values_in_parameter_order(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}
    real_init = TorchGraph.__init__

    def spy(self, func, args, grad_outputs=None, **kw):  # type: ignore[no-untyped-def]
        seen.update(args=list(args), names=kw["names"])
        real_init(self, func, args, grad_outputs, **kw)

    monkeypatch.setattr(TorchGraph, "__init__", spy)
    monkeypatch.setattr(TorchGraph, "save", lambda self, path, **kw: str(path))
    assert main(["render", "model.py:loss", "--at", "x=3", "b=0.1", "w=0.5"]) == 0
    assert seen == {"args": [0.5, 0.1, 3.0], "names": ["w", "b", "x"]}
    assert main(["render", "model.py:many", "--at", "p=1", "q=2"]) == 0
    assert seen == {"args": [1.0, 2.0], "names": ["p", "q"]}


@pytest.mark.parametrize(
    ("argv", "fragment", "code"),
    [
        (["model.py:loss", "--at", "w=1"], "missing --at value for b", 2),
        (
            ["model.py:loss", "--at", "w=1", "b=1", "q=1"],
            "has no parameter 'q' (its parameters: w, b, x)",
            2,
        ),
        (
            ["model.py:nope", "--at", "w=1"],
            "no function 'nope' in 'model.py' (functions defined there: loss, vec, many, boom,",
            2,
        ),
        (["model.py:LOG", "--at", "w=1"], "not a function: 'LOG'", 2),
        (["model.py", "--at", "w=1"], "name the function to render: model.py:FUNC", 2),
        (["model.py:a.b", "--at", "w=1"], "is not a function name", 2),
        (["nofile.py:f", "--at", "w=1"], "no such file: 'nofile.py'", 2),
        (["model.py:kwonly", "--at", "x=1", "k=2"], "parameter 'k' is keyword-only", 2),
        (["model.py:vec", "--at", "x=[1,2]"], "not a scalar", 2),
        (["model.py:returns_number", "--at", "x=1"], "not a torch.Tensor", 2),
        (["model.py:boom", "--at", "x=1"], "model.py:boom raised ZeroDivisionError: no good", 1),
        (["model.py:quits", "--at", "x=1"], "model.py:quits raised SystemExit: bye", 1),
    ],
)
def test_file_function_errors(
    model: Path, argv: list[str], fragment: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    message = fails(capsys, ["render", *argv, "-o", "out.png"], code=code)
    assert fragment in message
    assert not Path("out.png").exists()


def test_file_that_does_not_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.py").write_text("def f(x):\n    return x +\n")
    message = fails(capsys, ["render", "bad.py:f", "--at", "x=1"])
    assert "cannot import 'bad.py': SyntaxError" in message
    (tmp_path / "raises.py").write_text("raise RuntimeError('top level')\n")
    message = fails(capsys, ["render", "raises.py:f", "--at", "x=1"], code=1)
    assert "importing 'raises.py' raised RuntimeError: top level" in message
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(3)\n")
    message = fails(capsys, ["render", "exits.py:f", "--at", "x=1"], code=1)
    assert "importing 'exits.py' raised SystemExit: 3" in message


def test_file_function_with_vector_output_and_seed(model: Path, tmp_path: Path) -> None:
    argv = ["render", "model.py:vec", "--at", "x=[1,2]", "--grad-output", "1", "-o", "v.png"]
    assert main(argv) == 0
    assert (tmp_path / "v.png").exists()


# ------------------------------------------------------------------------------ subprocesses


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "graphanim", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_subprocess_render(tmp_path: Path) -> None:
    done = run_cli(*SIN, "-o", "out.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "out.png\n"
    assert (tmp_path / "out.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch pwned')",
        "().__class__.__bases__[0].__subclasses__()",
        "open('pwned', 'w')",
        "9**9**9",
        "(" * 10_000 + "x" + ")" * 10_000,
    ],
    ids=["import", "subclasses", "open", "power", "parentheses"],
)
def test_subprocess_hostile(text: str, tmp_path: Path) -> None:
    done = run_cli("render", text, "--at", "x=1", "-o", "out.png", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    assert files(tmp_path) == []


def test_subprocess_version_and_usage(tmp_path: Path) -> None:
    done = run_cli("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"graphanim {graphanim.__version__}"
    done = run_cli("render", "x", "--at", "x=1", "--theme", "pink", cwd=tmp_path)
    assert done.returncode == 2 and "invalid choice: 'pink'" in done.stderr


# ------------------------------------------------------------ hardening: injection, Unicode

FUNCTION_LIST = " ".join(FUNCTIONS)

INJECTION = [
    (
        "'{0.__class__}'.format(x)",
        "unsupported syntax: attribute access \"'{0.__class__}'.format\"",
    ),
    ("'%s' % x", "unsupported syntax: operator '%' in \"'%s' % x\" (operators: + - * / ** @)"),
    ("x.__class__.__mro__", "unsupported syntax: attribute access 'x.__class__.__mro__'"),
    ("sin.__self__", "unsupported syntax: attribute access 'sin.__self__'"),
    ("__builtins__", "unsupported syntax: dunder name '__builtins__'"),
    ("__import__", "unsupported syntax: dunder name '__import__'"),
    ("globals()", f"unsupported syntax: call to 'globals' (functions: {FUNCTION_LIST})"),
    ("breakpoint()", f"unsupported syntax: call to 'breakpoint' (functions: {FUNCTION_LIST})"),
    ("𝐨𝐩𝐞𝐧('x')", f"unsupported syntax: call to 'open' (functions: {FUNCTION_LIST})"),
    (
        "(lambda: x)()",
        "unsupported syntax: call of an expression 'lambda: x' (call functions by name)",
    ),
    ("sin(x)(x)", "unsupported syntax: call of a call result 'sin(x)(x)'"),
    (
        "[sin][0](x)",
        "unsupported syntax: call of an expression '[sin][0]' (call functions by name)",
    ),
    ("sum(x for x in [1])", "unsupported syntax: generator expression '(x for x in [1])'"),
    (
        "x if x else x",
        "unsupported syntax: conditional expression 'x if x else x' (use where(cond, a, b))",
    ),
    ("{x}", "unsupported syntax: set display '{x}'"),
    ("x[...]", "unsupported syntax: subscript 'x[...]'"),
    ("~x", "unsupported syntax: operator '~' in '~x'"),
    ("await x", "unsupported syntax: await 'await x'"),
    (
        "x\u202e + x",
        "invalid expression at column 2: invalid non-printable character U+202E "
        '(EXPR must be one Python expression, e.g. "sin(a*x + c)")',
    ),
    (
        "x\u200d + x",
        "invalid expression at column 2: invalid non-printable character U+200D "
        '(EXPR must be one Python expression, e.g. "sin(a*x + c)")',
    ),
    ("1e400 * x", "number too large in '1e400' (beyond the float range, about 1.8e308)"),
    (
        "1e300 * 1e300 * x",
        "number too large in '1e300 * 1e300' (beyond the float range, about 1.8e308)",
    ),
]


@pytest.mark.parametrize(("text", "message"), INJECTION, ids=[t for t, _ in INJECTION])
def test_injection_attempts_are_refused_exactly(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fails(capsys, ["render", text, "--at", "x=2", "-o", "out.png"]) == f"error: {message}"
    assert files(tmp_path) == []


NOT_A_NUMBER = "is not a number (numbers look like 2, -1.5, 3e-4, inf; lists like [1, 2, 3])"
CODE_LIKE_VALUES = [
    ("x=1;import os", f"--at x: '1;import os' {NOT_A_NUMBER}"),
    ("x=__import__('os')", f"--at x: \"__import__('os')\" {NOT_A_NUMBER}"),
    ("x=[1,__import__]", f"--at x: '__import__' {NOT_A_NUMBER}"),
    ("x=[1]*1000", "--at x: unexpected '*1000' after the closing ']'"),
    ("x=$(id)", f"--at x: '$(id)' {NOT_A_NUMBER}"),
    ("x=(1)", f"--at x: '(1)' {NOT_A_NUMBER}"),
    ("x=0x10", f"--at x: '0x10' {NOT_A_NUMBER}"),
    ("x=1_000", f"--at x: '1_000' {NOT_A_NUMBER}"),
    ("x=True", f"--at x: 'True' {NOT_A_NUMBER}"),
    ("x=1j", f"--at x: '1j' {NOT_A_NUMBER}"),
    ("x=１", f"--at x: '１' {NOT_A_NUMBER}"),  # a fullwidth digit
    ("x=٣", f"--at x: '٣' {NOT_A_NUMBER}"),  # an Arabic-Indic digit
    (
        "x=1e5000",
        "--at x: '1e5000' is beyond the float range (about 1.8e308); write inf for infinity",
    ),
    (
        "x=[1e400]",
        "--at x: '1e400' is beyond the float range (about 1.8e308); write inf for infinity",
    ),
    (
        "x\u200dy=1",
        "--at: 'x\\u200dy' is not a valid name (letters, digits and '_', not starting "
        "with a digit)",
    ),
    (
        "x\u202e=1",
        "--at: 'x\\u202e' is not a valid name (letters, digits and '_', not starting with a digit)",
    ),
    ("𝐬𝐢𝐧=1", "--at: 'sin' is a function of the expression language; pick another name"),
]


@pytest.mark.parametrize(
    ("pair", "message"), CODE_LIKE_VALUES, ids=[p for p, _ in CODE_LIKE_VALUES]
)
def test_at_values_that_look_like_code(
    pair: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fails(capsys, ["render", "x*2", "--at", pair, "-o", "out.png"]) == f"error: {message}"
    assert files(tmp_path) == []


def captured_graphs(monkeypatch: pytest.MonkeyPatch) -> list[TorchGraph]:
    """Record the graphs the command line would draw, without drawing them."""
    graphs: list[TorchGraph] = []

    def record(self: TorchGraph, path: object, **kw: object) -> str:
        graphs.append(self)
        return str(path)

    monkeypatch.setattr(TorchGraph, "save", record)
    return graphs


def test_unicode_lookalikes_are_the_names_python_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    graphs = captured_graphs(monkeypatch)
    # mathematical bold letters are NFKC 'sin' and 'x'; a combining accent composes with its letter
    assert main(["render", "𝐬𝐢𝐧(𝐱) * é", "--at", "ｘ=0.5", "e\u0301=2", "-o", "u.png"]) == 0
    (g,) = graphs
    assert list(g.inputs) == ["x", "é"]
    assert [op.op for op in g.ops] == ["sin", "mul"]
    assert float(g.grad("é")) == pytest.approx(math.sin(0.5))


# ------------------------------------------------------------ hardening: resource exhaustion


def column(n: int) -> str:
    return "[" + ",".join(f"[{i}]" for i in range(1, n + 1)) + "]"


def row(n: int) -> str:
    return "[" + ",".join(str(i) for i in range(1, n + 1)) + "]"


def test_broadcast_to_exactly_the_element_limit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    graphs = captured_graphs(monkeypatch)
    # (1000,) + (1000, 1) broadcasts to 1,000 × 1,000 = MAX_ELEMENTS: allowed
    argv = ["render", "sum(x + y)", "--at", f"x={row(1000)}", f"y={column(1000)}", "-o", "b.png"]
    assert main(argv) == 0
    (g,) = graphs
    assert [n.shape for n in g.nodes if n.kind == "value"] == [(1000, 1000)]
    assert float(g.outputs[0].value) == 1000 * 500500 * 2
    capsys.readouterr()
    # one more row is one row too many
    argv[4] = f"y={column(1001)}"
    assert fails(capsys, argv) == (
        "error: tensor too large: 'x + y' would have shape (1001, 1000), 1,001,000 elements "
        "(limit 1,000,000)"
    )


def test_sum_of_a_list_at_the_element_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    graphs = captured_graphs(monkeypatch)
    assert main(["render", "sum(x)", "--at", "x=[" + ",".join(["1"] * 1_000_000) + "]"]) == 0
    assert float(graphs[0].outputs[0].value) == 1_000_000.0


def test_many_names_and_many_flags_are_refused_quickly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import time

    start = time.perf_counter()
    names = [f"x{i}=1" for i in range(100_000)]
    assert fails(capsys, ["render", "x0", "--at", *names]) == (
        "error: --at: too many names (100000; limit 256)"
    )
    # argparse takes time quadratic in the number of flags: they are counted first
    flags = [a for pair in names for a in ("--at", pair)]
    assert fails(capsys, ["render", "x0", *flags, "-o", "n.png"]) == (
        "error: too many options (100,001; limit 1,000): give all NAME=VALUE pairs after one --at"
    )
    assert fails(capsys, ["render", "x0", *flags[:600]]) == (
        "error: --at: too many names (300; limit 256)"
    )
    assert time.perf_counter() - start < 5.0


def test_a_list_split_by_the_shell_is_joined_in_linear_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    tokens = ["x=[1,", *(["1,"] * 200_000), "1]"]  # `--at x=[1, 1, ...]` unquoted
    start = time.perf_counter()
    (joined,) = cli_run.join_lists(tokens)
    assert time.perf_counter() - start < 1.0
    assert joined.count("1") == 200_002
    assert cli_run.join_lists(["x=[[1,", "2],", "[3,", "4]]", "y=[5]", "z=1"]) == [
        "x=[[1, 2], [3, 4]]",
        "y=[5]",
        "z=1",
    ]
    graphs = captured_graphs(monkeypatch)
    assert main(["render", "sum(x)", "--at", *tokens]) == 0
    assert float(graphs[0].outputs[0].value) == 200_002.0


def test_total_numbers_in_all_at_values_are_limited(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli_run, "MAX_TOTAL_ELEMENTS", 10)
    argv = ["render", "sum(a) + sum(b)", "--at", "a=[1,2,3,4,5,6]", "b=[1,2,3,4,5]"]
    assert fails(capsys, argv) == "error: --at: too many numbers in all (11 up to b; limit 10)"


# ---------------------------------------------------------------------- hardening: paths

EXTENSIONS = ".png, .svg, .pdf, .gif, .mp4, .webm, .html"
PATH_TRICKS = [
    ("-", "-o -: writing to stdout is not supported; name a file, e.g. -o graph.png"),
    ("", "-o: empty path; name the output file, e.g. -o graph.png"),
    (
        ".gif",
        f"-o: unsupported output format '(no suffix)' for '.gif' (expected one of "
        f"{EXTENSIONS}); '.gif' is a suffix alone: name the file, e.g. 'graph.gif'",
    ),
    (
        "/dev/null",
        f"-o: unsupported output format '(no suffix)' for '/dev/null' (expected one of "
        f"{EXTENSIONS})",
    ),
    (
        "a\nb.png",
        "-o: the path 'a\\nb.png' contains U+000A (a control character); name the file "
        "without control characters",
    ),
    (
        "x\x1b[2J.png",
        "-o: the path 'x\\x1b[2J.png' contains U+001B (a control character); name "
        "the file without control characters",
    ),
    (
        "pic\u202egnp.png",
        "-o: the path 'pic\\u202egnp.png' contains U+202E (right-to-left "
        "override); name the file without control characters",
    ),
    (
        "out.png/",
        "-o: output path 'out.png/' ends in '/', which names a folder; name a file, "
        "e.g. 'out.png/graph.png'",
    ),
    (
        "frames/",
        "-o: output path 'frames/' ends in '/', which names a folder; name a file, "
        "e.g. 'frames/graph.png'",
    ),
]


@pytest.mark.parametrize(("output", "message"), PATH_TRICKS, ids=[repr(o) for o, _ in PATH_TRICKS])
def test_path_tricks_are_refused_before_any_work(
    output: str,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli_run, "capture_expression", lambda *a: pytest.fail("work was done"))
    assert fails(capsys, [*SIN, "-o", output]) == f"error: {message}"
    assert files(tmp_path) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_folder_where_no_file_can_be_created(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # /proc refuses new files even to root, for whom a permission check always passes
    monkeypatch.setattr(cli_run, "capture_expression", lambda *a: pytest.fail("work was done"))
    message = fails(capsys, [*SIN, "-o", "/proc/graphanim-test.png"])
    assert re.fullmatch(
        r"error: -o: cannot create a file in folder '/proc' \((No such file or "
        r"directory|Permission denied|Read-only file system)\)",
        message,
    ), message


def test_relative_paths_with_dotdot_are_used_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert main([*SIN, "--dpi", "30", "-o", "../up.png"]) == 0
    assert main([*SIN, "--dpi", "30", "-o", "../sub/../same.png"]) == 0
    assert capsys.readouterr().out == "../up.png\n../sub/../same.png\n"
    assert files(tmp_path) == ["same.png", "sub", "up.png"]


def test_symlinked_output_replaces_the_link_never_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "script.py"
    script.write_text("print('mine')\n")
    (tmp_path / "link.png").symlink_to("script.py")
    assert main([*SIN, "--dpi", "30", "-o", "link.png"]) == 0
    assert script.read_text() == "print('mine')\n"
    link = tmp_path / "link.png"
    assert not link.is_symlink() and link.read_bytes().startswith(b"\x89PNG")
    capsys.readouterr()
    # a link to something that is not a regular file is refused
    (tmp_path / "null.png").symlink_to(os.devnull)
    assert fails(capsys, [*SIN, "-o", "null.png"]) == (
        "error: -o: 'null.png' exists and is not a regular file; name a file"
    )
    assert Path(os.devnull).is_char_device()


def test_dev_null_png_is_a_file_named_null_png(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # '/dev/null.png' is an ordinary path in /dev, not the device: written where the user may
    # write there (root), refused before any work elsewhere; /dev/null itself is never opened.
    if not os.access("/dev", os.W_OK):
        message = fails(capsys, [*SIN, "-o", "/dev/null.png"])
        assert message.startswith("error: -o: cannot create a file in folder '/dev' (")
    else:
        graphs = captured_graphs(monkeypatch)
        assert main([*SIN, "-o", "/dev/null.png"]) == 0
        assert len(graphs) == 1 and capsys.readouterr().out == "/dev/null.png\n"
    assert not Path("/dev/null.png").exists()
    assert Path(os.devnull).is_char_device()


def test_long_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "a" * 250 + ".png"  # 254 bytes: fits, and so must the temporary file beside it
    assert main([*SIN, "--dpi", "30", "-o", name]) == 0
    assert files(tmp_path) == [name]
    capsys.readouterr()
    message = fails(capsys, [*SIN, "-o", "b" * 300 + ".png"])
    assert message.startswith("error: -o: ") and "File name too long" in message
    assert files(tmp_path) == [name]


def test_path_that_stdout_cannot_encode_is_printed_as_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="strict")
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main([*SIN, "--dpi", "30", "-o", "é.png"]) == 0
    name = os.fsdecode(b"\xff.png")  # bytes that are not UTF-8: a surrogate escape
    assert main([*SIN, "--dpi", "30", "-o", name]) == 0
    stdout.flush()
    assert stdout.buffer.getvalue() == "é.png\n".encode() + b"\xff.png\n"  # type: ignore[attr-defined]
    assert files(tmp_path) == sorted(["é.png", name])


# -------------------------------------------------- hardening: a clean process after errors


def process_state() -> tuple[object, ...]:
    return (
        sys.gettrace(),
        sys.getprofile(),
        torch._C._len_torch_function_stack(),
        torch.is_grad_enabled(),
        list(sys.path),
    )


def interrupt_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C after two frames of the real export."""
    from graphanim.animation import Animation

    original = Animation._rgb_frames

    def frames(self, scene, subset=None):  # type: ignore[no-untyped-def]
        for i, rgb in enumerate(original(self, scene, subset)):
            if subset is None and i == 2:
                raise KeyboardInterrupt
            yield rgb

    monkeypatch.setattr(Animation, "_rgb_frames", frames)


def fail_savefig(monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    def half(self, fname, *a, **k):  # type: ignore[no-untyped-def]
        Path(fname).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", half)


def fail_inside_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    import graphanim.cli.expression as expr

    real = expr._evaluate

    def evaluate(plan, env):  # type: ignore[no-untyped-def]
        if getattr(plan, "name", None) == "sin":
            raise KeyboardInterrupt
        return real(plan, env)

    monkeypatch.setattr(expr, "_evaluate", evaluate)


def bad_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    if writers.find_ffmpeg() is None:
        pytest.skip("no ffmpeg found")
    monkeypatch.setattr(writers.MP4Writer, "codec_args", ("-c:v", "no-such-encoder"))


FAILING_RUNS = [
    # (argv after "render", setup, exit code, start of the message)
    (["x.__class__", "--at", "x=1", "-o", "out.gif"], None, 2, "error: unsupported syntax"),
    (
        ["model.py:boom", "--at", "x=1", "-o", "out.gif"],
        None,
        1,
        "error: model.py:boom raised ZeroDivisionError: no good",
    ),
    (
        ["exits.py:f", "--at", "x=1", "-o", "out.png"],
        None,
        1,
        "error: importing 'exits.py' raised SystemExit: 3",
    ),
    (
        [*SIN[1:], "-o", "out.gif", "--dpi", "30"],
        interrupt_export,
        130,
        "error: interrupted by SIGINT while rendering",
    ),
    (
        [*SIN[1:], "-o", "out.png"],
        fail_inside_capture,
        130,
        "error: interrupted by SIGINT while rendering",
    ),
    (
        [*SIN[1:], "-o", "out.png"],
        fail_savefig,
        1,
        "error: cannot write 'out.png': OSError: [Errno 28] No space left on device",
    ),
    (
        [*SIN[1:], "-o", "out.mp4", "--dpi", "30"],
        bad_encoder,
        1,
        "error: cannot write 'out.mp4': FFmpegError: ffmpeg failed writing",
    ),
]


@pytest.mark.parametrize(
    ("argv", "setup", "code", "start"),
    FAILING_RUNS,
    ids=[
        "usage",
        "func-raises",
        "import-exits",
        "ctrl-c-export",
        "ctrl-c-capture",
        "disk-full",
        "ffmpeg-fails",
    ],
)
def test_after_any_error_the_process_is_clean_and_nothing_is_left(
    argv: list[str],
    setup: object,
    code: int,
    start: str,
    model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(3)\n")
    suffix = Path(argv[argv.index("-o") + 1]).suffix
    (tmp_path / f"out{suffix}").write_bytes(b"previous output")
    before_files = files(tmp_path)
    if callable(setup):
        setup(monkeypatch)
    before = process_state()
    message = fails(capsys, ["render", *argv], code=code)
    assert message.startswith(start), message
    assert process_state() == before
    assert files(tmp_path) == before_files  # no temporary file, nothing half-written
    assert (tmp_path / f"out{suffix}").read_bytes() == b"previous output"


def test_huge_user_input_is_not_echoed_whole(capsys: pytest.CaptureFixture[str]) -> None:
    big = "[" + ",".join(["1"] * 100_000) + "]"
    shown = ("x=[" + "1," * 100)[:57] + "..."  # 60 characters
    message = fails(capsys, ["render", "x", "--at", f"x={big}", f"x={big}"])
    assert message == f"error: --at x given twice ({shown} and {shown}); give each name once"
    message = fails(capsys, ["render", "x", "--at", "x=1", "y" * 100_000])
    assert message == f"error: --at takes NAME=VALUE pairs, got '{'y' * 57}...'"
    message = fails(capsys, ["render", "x", "--at", "x=1", "y" * 100_000 + "=1"])
    assert message == (
        "error: --at: name too long (100,000 characters; an expression has at most 2,000)"
    )
    message = fails(capsys, ["render", "x", "--at", "x=1", "-o", "d" * 100_000 + "/x.png"])
    assert len(message) == len("error: ") + 4000 and message.endswith("...")


def test_depth_folds_modules(tmp_path):
    import torch

    from graphanim import TorchGraph
    from graphanim.cli import load_function, main

    script = tmp_path / "net.py"
    script.write_text(
        "import torch\n"
        "torch.manual_seed(0)\n"
        "net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),"
        " torch.nn.Linear(4, 1)).double()\n"
        "def loss(x):\n"
        "    return net(x).pow(2).sum()\n"
    )
    out0 = tmp_path / "d0.png"
    outfull = tmp_path / "full.png"
    assert (
        main(["render", f"{script}:loss", "--at", "x=[1,2,3]", "--depth", "0", "-o", str(out0)])
        == 0
    )
    assert (
        main(
            ["render", f"{script}:loss", "--at", "x=[1,2,3]", "--depth", "full", "-o", str(outfull)]
        )
        == 0
    )
    assert out0.stat().st_size < outfull.stat().st_size  # one folded node instead of three layers
    assert (
        main(["render", f"{script}:loss", "--at", "x=[1,2,3]", "--depth", "-1", "-o", str(out0)])
        == 2
    )
    g = TorchGraph(load_function(str(script), "loss"), [[1.0, 2.0, 3.0]])
    assert "net.0" in g.modules and torch.isfinite(g.grad("x")).all()
