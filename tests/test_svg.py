"""Tests of the picture as data (graphanim.scene.build) and the SVG backend written from it:
the same geometry as matplotlib's artists, valid XML with hostile names, tooltips, determinism,
and files that cairosvg (and Chromium, where installed) open."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from graphanim import TorchGraph, render
from graphanim.backends.matplotlib import draw_figure
from graphanim.backends.svg import mathtext_to_unicode, svg_escape, svg_id, to_svg
from graphanim.graph import Edge, Graph, Node, format_tensor, plain_text
from graphanim.scene.build import build_picture
from graphanim.scene.model import Box, Label

from ._functions import DoubledSigmoid
from .test_render import _big_tensor_graph, branch, chain_rule, layered, neuron, sigmoid

SVG = "{http://www.w3.org/2000/svg}"


def _mlp() -> TorchGraph:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    return TorchGraph(lambda x: net(x).sum(), [torch.randn(2, 3)])


GRAPHS = {
    "chain_rule": chain_rule, "branch": branch, "neuron": neuron, "sigmoid": sigmoid,
    "custom_function": lambda: TorchGraph(lambda x: DoubledSigmoid.apply(x * 2.0), [0.5]),
    "mlp": _mlp, "heatmap": _big_tensor_graph,
}


def _svg_centre(el: ET.Element, height: float) -> tuple[float, float]:
    """Centre (figure pt, y up) of an SVG node shape: an ellipse or a closed box path."""
    if el.tag == SVG + "ellipse":
        return float(el.get("cx")), height - float(el.get("cy"))
    xs, ys, x, y = [], [], 0.0, 0.0
    for cmd, args in re.findall(r"([MLHVQZ])([^MLHVQZ]*)", el.get("d").split("Z")[0]):
        nums = [float(v) for v in args.split()]
        if cmd == "H":
            x = nums[0]
        elif cmd == "V":
            y = nums[0]
        elif nums:
            x, y = nums[-2], nums[-1]
        xs.append(x)
        ys.append(y)
    return (min(xs) + max(xs)) / 2, height - (min(ys) + max(ys)) / 2


def _mpl_nodes(fig) -> tuple[list[tuple[float, float]], dict[str, tuple[str, tuple]]]:
    """Node centres and texts (gid -> (text, anchor)) of a matplotlib picture, in figure pt."""
    ax = fig.axes[0]
    to_pt = 72.0 / fig.dpi
    (coll,) = [c for c in ax.collections if c.get_gid() == "graphanim-nodes"]
    centres = []
    for path in coll.get_paths():
        ext = path.transformed(ax.transData).get_extents()
        centres.append(((ext.x0 + ext.x1) / 2 * to_pt, (ext.y0 + ext.y1) / 2 * to_pt))
    texts = {}
    for t in ax.texts:
        x, y = ax.transData.transform(t.get_position())
        texts[t.get_gid()] = (t.get_text(), (x * to_pt, y * to_pt))
    return centres, texts


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_scene_svg_and_matplotlib_show_the_same_geometry(name):
    """Node centres and every label (text and anchor) agree between the picture's data, the
    SVG parsed back and matplotlib's artists."""
    g = GRAPHS[name]()
    pos = layered(g)
    pic = build_picture(g, with_all=True, layout=pos)
    root = ET.fromstring(to_svg(pic))
    fig = draw_figure(g, {"with_all": True, "layout": pos}, "svg")
    assert pytest.approx((pic.width, pic.height)) == tuple(fig.get_size_inches() * 72.0)
    assert float(root.get("width").rstrip("pt")) == pytest.approx(pic.width, abs=0.006)
    boxes = pic.by_id()
    scene_c = [((b.rect[0] + b.rect[2]) / 2, (b.rect[1] + b.rect[3]) / 2)
               for b in (boxes[n.id] for n in g.nodes)]
    groups = {el.get("id"): el for el in root.iter(SVG + "g")}
    svg_c = []
    for n in g.nodes:
        shape = next(el for el in groups[n.id] if el.tag in (SVG + "path", SVG + "ellipse"))
        svg_c.append(_svg_centre(shape, pic.height))
    mpl_c, mpl_t = _mpl_nodes(fig)
    np.testing.assert_allclose(scene_c, mpl_c, atol=0.01)
    np.testing.assert_allclose(svg_c, scene_c, atol=0.006)
    labels = [e for e in pic.elements if isinstance(e, Label) and "/" in e.id
              and not e.id.startswith("module:")]
    assert labels
    svg_t = {el.get("id"): el for el in root.iter(SVG + "text")}
    for lab in labels:
        gid = svg_id(lab.id)
        text, (mx, my) = mpl_t[gid]
        assert lab.text == text
        assert (lab.x, lab.y) == pytest.approx((mx, my), abs=0.01)
        el = svg_t[gid]
        shown = "\n".join(s.text or "" for s in el) if len(el) else el.text
        assert shown == mathtext_to_unicode(text)
        assert float(el.get("x")) == pytest.approx(lab.x, abs=0.006)
    # every node and edge of the graph has its group with a tooltip
    for n in g.nodes:
        assert groups[n.id].find(SVG + "title").text.startswith(n.name[:20])
    edge_groups = [k for k in groups if re.fullmatch(r"e\d+", k)]
    assert len(edge_groups) == len(g.edges)


def test_tooltips_hold_name_value_and_gradient():
    g = TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])
    root = ET.fromstring(render.to_svg_text(g, with_all=True))
    titles = {el.get("id"): el.find(SVG + "title").text for el in root.iter(SVG + "g")
              if el.find(SVG + "title") is not None}
    b = g.inputs["b"]
    assert titles[b.id] == f"b\nvalue {format_tensor(b.value)}\ngrad {format_tensor(b.grad)}"
    assert format_tensor(g.grad("b")) == "5"
    # the two edges out of b carry 2 and 3 (the chain rule's two paths)
    out_b = [k for k, e in enumerate(g.edges) if e.src == b.id]
    assert sorted(titles[f"e{k}"].split("grad ")[1] for k in out_b) == ["2", "3"]
    texts = [el.text for el in root.iter(SVG + "text")]
    assert "∂ 5" in texts and "b" in texts  # real, selectable text


def _hostile() -> Graph:
    names = ["<b>&\"'x\udc80", "$\\frac{1}{$", "ctl\x00\x1b[31m", "]]>--><!--"]
    # labels as capture makes them (plain text; the lone surrogate shown escaped); the names,
    # which the tooltips hold, as given
    labels = [plain_text(nm).replace("\udc80", "\\udc80") for nm in names]
    nodes = [Node(f"n{k}", nm, lab, "input", value=torch.tensor(1.0), grad=torch.tensor(2.0))
             for k, (nm, lab) in enumerate(zip(names, labels))]
    nodes += [Node("n4", "add\udcff", "+", "op", op="add"),
              Node("n5", "out<", "out<", "output", value=torch.tensor(3.0),
                   grad=torch.tensor(1.0))]
    edges = [Edge(f"n{k}", "n4", torch.tensor(2.0), k) for k in range(4)]
    edges.append(Edge("n4", "n5", torch.tensor(1.0), 0))
    g = Graph(nodes, edges, inputs=[f"n{k}" for k in range(4)], outputs=["n5"])
    g.has_backward = True  # type: ignore[attr-defined]
    return g


def test_hostile_names_are_escaped_valid_xml_and_deterministic(tmp_path):
    a = render.save(_hostile(), tmp_path / "a.svg", with_all=True)
    b = render.save(_hostile(), tmp_path / "b.svg", with_all=True)
    data = a.read_bytes()
    assert data == b.read_bytes()
    data.decode("utf-8")  # valid UTF-8: no raw surrogate got through
    root = ET.fromstring(data)
    text = " ".join(root.itertext())
    assert "<b>&\"'x\\udc80" in text  # the markup is text; the lone surrogate written out
    assert "add\\udcff" in text and "ctl\\x00\\x1b[31m" in text and "]]>--><!--" in text
    assert not [e for e in root.iter() if not e.tag.startswith(SVG)]  # no injected elements
    assert svg_escape("\udc80<&>\x07") == "\\udc80&lt;&amp;&gt;\\x07"


def test_mathtext_labels_become_unicode():
    assert mathtext_to_unicode("$\\sigma$") == "σ"
    assert mathtext_to_unicode("$x^2$ and $W_{1}$") == "x² and W₁"
    assert mathtext_to_unicode("a\\$b\\$") == "a$b$"  # a plain dollar, escaped for mathtext
    assert mathtext_to_unicode("$\\mathrm{ReLU}$") == "ReLU"


def test_save_svg_is_the_native_backend(tmp_path):
    g = neuron()
    path = render.save(g, tmp_path / "g.svg", with_all=True, layout=layered(g))
    text = path.read_text(encoding="utf-8")
    assert text.count("<style>") == 1 and "<title>" in text and "<text " in text
    assert "matplotlib" not in text.lower()
    assert render.to_svg_text(g, with_all=True, layout=layered(g)) == text
    tg = TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])
    assert ET.fromstring(tg._repr_svg_()).tag == SVG + "svg"
    with pytest.raises(TypeError, match=r"unexpected keyword argument.*colour"):
        render.to_svg_text(g, colour="red")


def test_module_frames_and_heatmaps_in_the_svg():
    root = ET.fromstring(render.to_svg_text(_mlp(), with_all=True))
    ids = {el.get("id") for el in root.iter()}
    assert {"graphanim-module-net", "graphanim-module-net.0", "graphanim-module-net.2"} <= ids
    g = _big_tensor_graph()
    root = ET.fromstring(render.to_svg_text(g, with_all=True, layout=layered(g)))
    images = [el for el in root.iter(SVG + "image")]
    assert len(images) == 2  # the value's and the gradient's heatmap
    pic = build_picture(g, with_all=True, layout=layered(g))
    assert [e.id for e in pic.elements if type(e).__name__ == "Image"] == [
        "n0/value-img", "n0/grad-img"]


def _png_of_svg(svg: str, dpi: float) -> np.ndarray:
    cairosvg = pytest.importorskip("cairosvg")
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = cairosvg.svg2png(bytestring=svg.encode("utf-8"), dpi=dpi)
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB"), dtype=float)


@pytest.mark.parametrize("name", ["branch", "sigmoid", "heatmap"])
def test_cairosvg_draws_what_matplotlib_draws(name):
    """cairosvg opens the SVG without a warning, and its pixels are close to matplotlib's PNG
    (same shapes in the same places; fonts are rasterised differently)."""
    g = GRAPHS[name]()
    pos = layered(g)
    got = _png_of_svg(render.to_svg_text(g, with_all=True, layout=pos), dpi=100)
    from PIL import Image

    fig = draw_figure(g, {"with_all": True, "layout": pos}, "svg")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    with Image.open(buf) as im:
        want = np.asarray(im.convert("RGB"), dtype=float)
    h, w = min(got.shape[0], want.shape[0]), min(got.shape[1], want.shape[1])
    assert abs(got.shape[0] - want.shape[0]) <= 1 and abs(got.shape[1] - want.shape[1]) <= 1
    diff = np.abs(got[:h, :w] - want[:h, :w]).mean()
    assert diff < 6.0, diff
    # not blank: the picture has ink where matplotlib has it
    ink = (want[:h, :w] < 200).any(axis=2)
    assert (got[:h, :w][ink] < 230).any(axis=1).mean() > 0.8


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_chromium_opens_the_svg(tmp_path):
    path = render.save(branch(), tmp_path / "g.svg", with_all=True)
    shot = tmp_path / "shot.png"
    run = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                          f"--screenshot={shot}", "--window-size=800,300", path.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    from PIL import Image

    with Image.open(shot) as im:
        px = np.asarray(im.convert("RGB"))
    assert (px < 200).any()  # something was drawn


def test_picture_is_plain_data():
    """The picture's modules import no drawing library; every element has a unique id."""
    import ast
    import pathlib

    import graphanim.scene.model as model

    tree = ast.parse(pathlib.Path(model.__file__).read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith("matplotlib")]
    pic = build_picture(_mlp(), with_all=True)
    ids = [e.id for e in pic.elements]
    assert len(ids) == len(set(ids))
    assert all(isinstance(pic.by_id()[n.id], Box) for n in _mlp().nodes)
