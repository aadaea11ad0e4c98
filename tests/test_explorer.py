"""The explorer's data and page, without a browser: numbers, switches, escaping, determinism."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
from html.parser import HTMLParser

import pytest
import torch

from graphanim import TorchGraph
from graphanim.explorer import explorer_data, plain_caption, tensor_summary
from graphanim.explorer.page import explorer_html, json_script
from graphanim.frames import build_frames


def _branches() -> TorchGraph:
    return TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])


def _mlp() -> TorchGraph:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    return TorchGraph(lambda x: net(x).sum(), [torch.randn(2, 3)])


def _chain(n: int) -> TorchGraph:
    def f(x):
        for _ in range(n):
            x = torch.sin(x) * 1.01
        return x

    return TorchGraph(f, [0.3])


def _shown(toggles: list[int], k: int) -> bool:
    return sum(1 for t in toggles if t <= k) % 2 == 1


@pytest.mark.parametrize("make,direction,step", [
    (_branches, "both", None), (_mlp, "both", None), (_mlp, "backward", "layer"),
    (_mlp, "forward", "module"), (lambda: _chain(40), "both", None),
])
def test_switches_give_back_every_frames_sets_exactly(make, direction, step):
    """What the page derives from the switches equals what each frame shows, frame by frame."""
    graph = make()
    frames = build_frames(graph, direction, step=step)
    data = explorer_data(graph, frames)
    by_id = {n["id"]: n for n in data["nodes"]}
    for f in frames:
        for node in graph.nodes:
            entry = by_id[node.id]
            assert _shown(entry.get("v", []), f.index) == (node.id in f.values), (node.id, f.index)
            assert _shown(entry.get("g", []), f.index) == (node.id in f.grads), (node.id, f.index)
            assert _shown(entry.get("d", []), f.index) == (node.id in f.done), (node.id, f.index)
        for i, e in enumerate(data["edges"]):
            assert _shown(e.get("g", []), f.index) == (i in f.edge_grads), (i, f.index)
        assert data["frames"][f.index]["caption"] == plain_caption(f.caption)


def test_size_is_linear_in_nodes_and_frames():
    """O(nodes + frames): doubling a chain roughly doubles the data, no nodes × frames term."""
    def size(n: int) -> int:
        g = _chain(n)
        return len(json_script(explorer_data(g, build_frames(g, "both", step="op",
                                                             max_frames=None))))

    small, big = size(60), size(120)
    assert big < 2.3 * small


def test_values_and_gradients_are_torch_numbers():
    graph = _mlp()
    data = explorer_data(graph, build_frames(graph, "both"))
    w = next(n for n in data["nodes"] if n["name"] == "net.0.weight")
    node = graph["net.0.weight"]
    assert w["shape"] == [4, 3] and w["dtype"] == "float32"
    got = torch.tensor(w["grad"]["rows"], dtype=torch.float64)
    assert torch.allclose(got, node.grad.double(), rtol=1e-5, atol=1e-7)
    got = torch.tensor(w["value"]["rows"], dtype=torch.float64)
    assert torch.allclose(got, node.value.double(), rtol=1e-5, atol=1e-7)
    assert "∂" in w["why"] and w["why"].endswith(str(w["why"].split("= ")[-1]))
    mm = [n for n in data["nodes"] if n["kind"] == "op" and n.get("saved")]
    assert mm, "ops whose backward reads saved tensors list them by name"
    assert all(isinstance(s, str) for n in mm for s in n["saved"])


def test_big_tensors_are_summarised_with_statistics_and_a_heatmap():
    t = torch.arange(40 * 30, dtype=torch.float64).reshape(40, 30)
    t[0, 0] = float("nan")
    t[1, 1] = float("inf")
    s = tensor_summary(t)
    assert "rows" not in s and s["text"].startswith("40×30")
    finite = t[torch.isfinite(t)]
    assert s["stats"]["nan"] == 1 and s["stats"]["inf"] == 1 and s["stats"]["count"] == 1200
    assert math.isclose(s["stats"]["mean"], float(finite.mean()), rel_tol=1e-5)
    assert math.isclose(s["stats"]["std"], float(finite.std()), rel_tol=1e-5)
    assert math.isclose(s["stats"]["norm"], float(finite.norm()), rel_tol=1e-5)
    assert s["stats"]["min"] == 1.0 and s["stats"]["max"] == 1199.0
    heat = s["heat"]
    assert len(heat) == 32 and len(heat[0]) == 30
    assert heat[0][0] == -1, "a cell holding NaN/inf is marked"
    assert heat[-1][-1] >= 245 and min(v for row in heat for v in row if v >= 0) < 10
    small = tensor_summary(torch.ones(16, 16))
    assert len(small["rows"]) == 16 and len(small["rows"][0]) == 16


@pytest.mark.parametrize("text,plain", [
    ("c = a + b = 2 + 1 = 3", "c = a + b = 2 + 1 = 3"),
    (r"y = $\sigma$(u) = 0.5", "y = σ(u) = 0.5"),
    (r"$\partial L/\partial x$ costs \$3", "∂L/∂x costs $3"),
    (r"$x^{2}\,\cdot\,y$", "x² · y"),
])
def test_mathtext_becomes_plain_text_by_one_rule(text, plain):
    assert plain_caption(text) == plain


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict, str]] = []
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._open = dict(attrs)
            self.scripts.append((self._open, ""))

    def handle_data(self, data):
        if self._open is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._open = None


def test_hostile_names_cannot_end_the_data_script():
    evil = "</script><script>alert(1)</script><!--"
    graph = TorchGraph(lambda x: x * 2, [1.0], names=[evil])
    data = explorer_data(graph, build_frames(graph, "both"))
    page = explorer_html("<svg viewBox='0 0 1 1'></svg>", data, standalone=True)
    parser = _Scripts()
    parser.feed(page)
    assert [a.get("type") for a, _ in parser.scripts] == ["application/json", None]
    back = json.loads(parser.scripts[0][1])
    assert back["nodes"][0]["name"] == graph.inputs[evil].name


def test_saved_page_forbids_network_requests():
    page = explorer_html("<svg viewBox='0 0 1 1'></svg>",
                         explorer_data(g := _branches(), build_frames(g, "both")), standalone=True)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src 'none'" in csp and "connect-src" not in csp
    assert "http://" not in page and "https://" not in page.replace("http://www.w3.org", "")


def test_direction_is_checked_and_falls_back_without_backward():
    with pytest.raises(ValueError, match="unknown direction 'sideways'"):
        _branches().explore("sideways")
    fwd = TorchGraph(lambda a: a * 3, [2.0], backward=False).explore()
    assert fwd.direction == "forward"
    assert {f.phase for f in fwd.frames()} <= {"title", "forward", "hold"}


_DETERMINISM = textwrap.dedent("""
    import sys, torch
    from graphanim import TorchGraph
    from graphanim.explorer.data import explorer_data
    from graphanim.explorer.page import json_script
    from graphanim.frames import build_frames
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    g = TorchGraph(lambda x: net(x).sum(), [torch.randn(2, 3)])
    sys.stdout.write(json_script(explorer_data(g, build_frames(g, "both"))))
""")


def test_same_graph_same_bytes_across_hash_seeds():
    outs = []
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.append(subprocess.run([sys.executable, "-c", _DETERMINISM], env=env, check=True,
                                   capture_output=True).stdout)
    assert outs[0] == outs[1] and len(outs[0]) > 1000


def test_animation_html_is_the_explorer_unless_frames_are_asked_for(tmp_path):
    graph = _branches()
    anim = graph.animate("both")
    page = anim.save(tmp_path / "a.html").read_text(encoding="utf-8")
    assert "data-graphanim-explorer" in page and "<svg" in page
    parser = _Scripts()
    parser.feed(page)
    data = json.loads(parser.scripts[0][1])
    assert [f["caption"] for f in data["frames"]] == [plain_caption(f.caption)
                                                     for f in anim.frame_data]
    frames_page = anim.save(tmp_path / "b.html", player="frames").read_text(encoding="utf-8")
    assert "data-graphanim-explorer" not in frames_page and "data:image/png;base64" in frames_page
    with pytest.raises(ValueError, match="unknown player 'slides'"):
        anim.save(tmp_path / "c.html", player="slides")
    assert not (tmp_path / "c.html").exists()


def test_write_protected_targets_need_overwrite(tmp_path):
    from graphanim.io import ReadOnlyTargetError

    graph = _branches()
    for name, save in (("g.svg", lambda p, **kw: graph.save(p, **kw)),
                       ("g.html", lambda p, **kw: graph.explore().save(p, **kw)),
                       ("a.html", lambda p, **kw: graph.animate("forward").save(p, **kw))):
        target = tmp_path / name
        target.write_text("old")
        target.chmod(0o444)
        with pytest.raises(ReadOnlyTargetError):
            save(target)
        assert target.read_text() == "old"
        save(target, overwrite=True)
        assert target.read_text() != "old"
        assert sorted(p.name for p in tmp_path.iterdir() if ".part" in p.name) == []


def test_cli_writes_the_explorer_for_html(tmp_path):
    from graphanim.cli import main

    out = tmp_path / "g.html"
    assert main(["render", "sin(a*x + c)", "--at", "x=2", "a=3", "c=4", "-o", str(out)]) == 0
    assert "data-graphanim-explorer" in out.read_text(encoding="utf-8")
    out2 = tmp_path / "f.html"
    assert main(["render", "x*2", "--at", "x=1", "-o", str(out2), "--player", "frames"]) == 0
    assert "data-graphanim-explorer" not in out2.read_text(encoding="utf-8")
