"""Everything a user sees runs: example scripts, README snippets, the tour notebook, --help."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

#: script -> files it must write (GIFs are checked for several frames)
EXPECTED = {
    "chain_rule.py": ["chain_rule.png", "chain_rule_backward.gif", "chain_rule_forward.gif"],
    "add_and_multiply.py": ["add.png", "multiply.png"],
    "branches.py": ["branches.png", "branches_backward.gif", "used_twice.png"],
    "max_switch.py": ["max_switch.png", "max_switch_backward.gif"],
    "custom_sigmoid.py": ["custom_sigmoid.png", "custom_sigmoid.gif"],
    "exp_sin_cos.py": ["exp_sin_cos.png", "exp_sin_cos_backward.gif"],
    "neuron.py": ["neuron.png", "neuron_backward.gif"],
    "mlp.py": ["mlp.png", "mlp_backward.gif"],
    "tensors.py": ["tensors.png", "tensors_backward.gif"],
    "recurrent.py": ["recurrent.png", "recurrent_backward.gif"],
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def test_every_example_is_listed():
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(EXPECTED) | {"make_assets.py"}


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_writes_its_pictures(script, tmp_path):
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / script), str(tmp_path)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip(), "each example prints the numbers it shows"
    for name in EXPECTED[script]:
        path = tmp_path / name
        assert path.is_file(), f"{script} did not write {name}"
        with Image.open(path) as im:
            assert im.width >= 200 and im.height >= 50
            if name.endswith(".gif"):
                assert getattr(im, "n_frames", 1) >= 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left"


def test_chain_rule_example_prints_the_lecture_numbers(tmp_path):
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / "chain_rule.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert "r = 144.0" in run.stdout and "'x': 192.0, 'y': 96.0, 'z': 72.0" in run.stdout


def _readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_python_snippets_run(tmp_path, monkeypatch):
    blocks = _readme_blocks()
    assert blocks, "the README shows Python code"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S)
    assert first_block is not None
    lines = [ln for ln in first_block.group(1).splitlines() if ln.strip()]
    assert len(lines) == 2
    assert "pip install" in lines[0] and "graphanim render" in lines[0]
    assert "pip install" in lines[1] and "pytest" in lines[1]


def test_tour_notebook_executes(monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel must pick the inline backend
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(EXAMPLES / "tour.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the notebook with its outputs stripped"
    )
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}
    )
    client.execute()
    shown = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type != "error"
    ]
    images = [o for o in shown if "image/png" in o.get("data", {})]
    players = [o for o in shown if "text/html" in o.get("data", {})]
    assert len(images) >= 5 and len(players) >= 2
    explored = [o for c in nb.cells if c.cell_type == "code" and ".explore(" in c.source
                for o in c.outputs if "text/html" in o.get("data", {})]
    assert len(explored) == 1, "the explorer cell shows the explorer"
    page = explored[0]["data"]["text/html"]
    assert page.count("<div class=\"ga-x\" data-graphanim-explorer") == 1 and "<svg" in page
    assert page.count('role="button" tabindex="0"') == 9, "one focusable group per node of (a+b)(b+1)"
    for cell in nb.cells:
        if cell.cell_type == "code" and ".plot(" in cell.source:
            pictures = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert len(pictures) == 1, f"a plot cell shows its picture once: {cell.source!r}"
