"""The command line: rendering, refused input, exit codes, output safety, FILE.py:FUNC."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image

import graphanim
from graphanim import TorchGraph, cli, writers
from graphanim.cli import main
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
        "with_all": True, "theme": "dark", "layout": "layered", "dpi": 150, "path": "o.pdf"
    }


def test_animation_options_and_default_direction(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []

    class FakeAnimation:
        def save(self, path):  # type: ignore[no-untyped-def]
            calls.append(("save", str(path)))

    def fake_animate(self, direction="forward", **kw):  # type: ignore[no-untyped-def]
        calls.append((direction, kw))
        return FakeAnimation()

    monkeypatch.setattr(TorchGraph, "animate", fake_animate)
    assert main([*SIN, "-o", "a.gif"]) == 0
    assert main([*SIN, "-o", "b.html", "--direction", "both", "--fps", "4", "--dpi", "80"]) == 0
    assert main([*SIN, "--direction", "forward"]) == 0  # no -o: graph.gif
    assert calls == [
        ("backward", {"theme": "light", "layout": "layered"}),
        ("save", "a.gif"),
        ("both", {"theme": "light", "layout": "layered", "fps": 4.0, "dpi": 80}),
        ("save", "b.html"),
        ("forward", {"theme": "light", "layout": "layered"}),
        ("save", "graph.gif"),
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
        (["a + b", "--at", f"a={[[1]] * 1000}", f"b={[[1] * 1001]}".replace(" ", "")],
         "tensor too large"),
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
    monkeypatch.setattr(cli, "_capture_expression", lambda *a: pytest.fail("work was done"))
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
    monkeypatch.setattr(writers, "find_ffmpeg", lambda: None)
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
    for word in ("--at", "--grad-output", "--direction", "--fps", "--theme", "--layout", "--dpi",
                 "FILE.py:FUNC", "graph.png", "exit status", "where", "sigmoid", "--debug"):
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
        def save(self, path):  # type: ignore[no-untyped-def]
            written.append(str(path))

    monkeypatch.setattr(cli, "_ffmpeg_available", lambda: True)
    monkeypatch.setattr(TorchGraph, "save", lambda self, path, **kw: written.append(str(path)))
    monkeypatch.setattr(TorchGraph, "animate", lambda self, d, **kw: FakeAnimation())
    Path("model.py").write_text("import torch\n\ndef loss(w, b):\n    return torch.tanh(2*w + b)\n")
    for example in examples:
        argv = shlex.split(example)[2:]
        assert main(["render", *argv]) == 0, example
    assert written == [
        "sin.png", "square.svg", "e.pdf", "max.gif", "neuron.mp4", "fwd.webm", "loss.html"
    ]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"graphanim {graphanim.__version__}\n"


def test_no_arguments_print_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "render" in capsys.readouterr().err


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
        (["model.py:loss", "--at", "w=1", "b=1", "q=1"],
         "has no parameter 'q' (its parameters: w, b, x)", 2),
        (["model.py:nope", "--at", "w=1"],
         "no function 'nope' in 'model.py' (functions defined there: loss, vec, many, boom,", 2),
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
