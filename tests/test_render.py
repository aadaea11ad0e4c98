"""Tests of graphanim.render: artists, texts, themes, files, baselines and the animation Scene."""

from __future__ import annotations

import io
import itertools
import math
import os
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.text import Text

from graphanim import render
from graphanim.frames import Frame
from graphanim.graph import Edge, Graph, Node, format_tensor, plain_text
from graphanim.scene.cards import as_grid, heatmap_pixels, pool_blocks

from ._functions import DoubledSigmoid

BASELINE = Path(__file__).parent / "baseline"
UPDATE = os.environ.get("GRAPHANIM_UPDATE_BASELINES") == "1"


# -- hand-built lecture graphs (values and gradients as PyTorch computes them) ------------------


def _t(x):
    return None if x is None else torch.tensor(x, dtype=torch.float64)


def build(nodes, edges, *, backward=True):
    """nodes: (name, kind, value, grad) for values, (name, "op", label) for ops; ids n0, n1, ...
    edges: (src, dst, grad) by index."""
    ns, inputs, outputs, params = [], [], [], []
    for i, spec in enumerate(nodes):
        nid = f"n{i}"
        if spec[1] == "op":
            ns.append(Node(nid, spec[0], spec[2], "op", op=spec[0]))
            continue
        name, kind, value, grad = spec[:4]
        attrs = {"parameter": True} if kind == "parameter" else {}
        kind = "input" if kind == "parameter" else kind
        ns.append(Node(nid, name, plain_text(name), kind, value=_t(value),
                       grad=_t(grad) if backward else None, attrs=attrs))
        if kind == "input":
            (params if attrs else inputs).append(nid)
        if kind == "output":
            outputs.append(nid)
    es = []
    seen = {}
    for s, d, g in edges:
        idx = seen.get(d, 0)
        seen[d] = idx + 1
        es.append(Edge(f"n{s}", f"n{d}", _t(g) if backward else None,
                       idx if nodes[d][1] == "op" else 0))
    g = Graph(ns, es, inputs=inputs + params, outputs=outputs, parameters=params,
              backward_order=[n.id for n in reversed(ns) if n.kind == "op"])
    g.has_backward = backward  # type: ignore[attr-defined]
    return g


def chain_rule(backward=True):
    """r = ((x² + y)·z)² at x=1, y=2, z=4."""
    return build(
        [("x", "input", 1.0, 192.0), ("y", "input", 2.0, 96.0), ("z", "input", 4.0, 72.0),
         ("pow", "op", "x²"), ("u", "value", 1.0, 96.0), ("add", "op", "+"),
         ("v", "value", 3.0, 96.0), ("mul", "op", "×"), ("w", "value", 12.0, 24.0),
         ("pow", "op", "x²"), ("r", "output", 144.0, 1.0)],
        [(0, 3, 192.0), (3, 4, 96.0), (4, 5, 96.0), (1, 5, 96.0), (5, 6, 96.0), (2, 7, 72.0),
         (6, 7, 96.0), (7, 8, 24.0), (8, 9, 24.0), (9, 10, 1.0)],
        backward=backward,
    )


def branch():
    """e = (a + b)(b + 1) at a=2, b=1: b receives 2 + 3 = 5."""
    return build(
        [("a", "input", 2.0, 2.0), ("b", "input", 1.0, 5.0), ("add", "op", "+"),
         ("c", "value", 3.0, 2.0), ("1", "constant", 1.0, None), ("add", "op", "+"),
         ("d", "value", 2.0, 3.0), ("mul", "op", "×"), ("e", "output", 6.0, 1.0)],
        [(0, 2, 2.0), (1, 2, 2.0), (2, 3, 2.0), (1, 5, 3.0), (4, 5, None), (5, 6, 3.0),
         (3, 7, 2.0), (6, 7, 3.0), (7, 8, 1.0)],
    )


def neuron():
    """1 / (-max(exp(x0*w0 + x1*w1), w2)) at x0=4, w0=1, x1=-2, w1=2, w2=0.5."""
    return build(
        [("x0", "input", 4.0, 1.0), ("w0", "input", 1.0, 4.0), ("x1", "input", -2.0, 2.0),
         ("w1", "input", 2.0, -2.0), ("w2", "input", 0.5, 0.0), ("mul", "op", "×"),
         ("y0", "value", 4.0, 1.0), ("mul", "op", "×"), ("y1", "value", -4.0, 1.0),
         ("add", "op", "+"), ("y2", "value", 0.0, 1.0), ("exp", "op", "exp"),
         ("y3", "value", 1.0, 1.0), ("max", "op", "max"), ("y4", "value", 1.0, 1.0),
         ("-1", "constant", -1.0, None), ("mul", "op", "×"), ("y5", "value", -1.0, -1.0),
         ("1", "constant", 1.0, None), ("div", "op", "÷"), ("y6", "output", -1.0, 1.0)],
        [(0, 5, 1.0), (1, 5, 4.0), (5, 6, 1.0), (2, 7, 2.0), (3, 7, -2.0), (7, 8, 1.0),
         (6, 9, 1.0), (8, 9, 1.0), (9, 10, 1.0), (10, 11, 1.0), (11, 12, 1.0), (12, 13, 1.0),
         (4, 13, 0.0), (13, 14, 1.0), (14, 16, 1.0), (15, 16, None), (16, 17, -1.0),
         (18, 19, None), (17, 19, -1.0), (19, 20, 1.0)],
    )


def sigmoid():
    """A trackable sigmoid Function (mathtext label) of a*x + b at x=0.5, a=2, b=-1."""
    return build(
        [("x", "input", 0.5, 0.5), ("a", "input", 2.0, 0.125), ("b", "input", -1.0, 0.25),
         ("mul", "op", "×"), ("mul", "value", 1.0, 0.25), ("add", "op", "+"),
         ("z", "value", 0.0, 0.25), ("Sigmoid", "op", r"$\sigma$"), ("s", "output", 0.5, 1.0)],
        [(1, 3, 0.125), (0, 3, 0.5), (3, 4, 0.25), (4, 5, 0.25), (2, 5, 0.25), (5, 6, 0.25),
         (6, 7, 0.25), (7, 8, 1.0)],
    )


def tensors():
    """y = W @ x, L = sum(y): a parameter matrix, a constant vector, tensor gradients."""
    return build(
        [("W", "parameter", [[1.0, 2.0], [3.0, 4.0]], [[0.5, -1.0], [0.5, -1.0]]),
         ("x", "constant", [0.5, -1.0], None), ("matmul", "op", "@"),
         ("y", "value", [-1.5, -2.5], [1.0, 1.0]), ("sum", "op", "Σ"),
         ("L", "output", -4.0, 1.0)],
        [(0, 2, [[0.5, -1.0], [0.5, -1.0]]), (1, 2, None), (2, 3, [1.0, 1.0]),
         (3, 4, [1.0, 1.0]), (4, 5, 1.0)],
    )


LECTURE = {"chain_rule": chain_rule, "branch": branch, "neuron": neuron, "sigmoid": sigmoid,
           "tensors": tensors}


def layered(graph, direction="LR"):
    """Trivial positions for tests: layer = longest path from the inputs (constants one layer
    before their op), slots in order of the predecessors' slots; 1.0 per layer and per slot."""
    layer = {}
    for n in graph.nodes:
        layer[n.id] = 1 + max((layer[p.id] for p in graph.predecessors(n.id)), default=-1)
    for n in graph.nodes:
        if n.kind == "constant" and graph.successors(n.id):
            layer[n.id] = layer[graph.successors(n.id)[0].id] - 1
    slot, pos = {}, {}
    for lay in sorted(set(layer.values())):
        ids = [n.id for n in graph.nodes if layer[n.id] == lay]
        ids.sort(key=lambda i: np.mean([slot[p.id] for p in graph.predecessors(i)
                                        if p.id in slot] or [0.0]))
        for k, i in enumerate(ids):
            slot[i] = k - (len(ids) - 1) / 2
            pos[i] = (float(lay), -slot[i]) if direction == "LR" else (slot[i], -float(lay))
    return pos


def texts_of(fig):
    return [t for ax in fig.axes for t in ax.texts] + list(fig.texts)


def by_gid(fig, gid):
    found = [t for t in texts_of(fig) if t.get_gid() == gid]
    assert len(found) <= 1
    return found[0] if found else None


def shown(t):
    """The text as displayed: matplotlib shows ``\\$`` as ``$`` in plain text."""
    return t.get_text().replace(r"\$", "$")


def value_text(t):
    return format_tensor(t).replace("; ", "\n")


# -- artists -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["chain_rule", "neuron", "tensors"])
@pytest.mark.parametrize("direction", ["LR", "TB"])
def test_node_positions_equal_layout(name, direction):
    g = LECTURE[name]()
    pos = layered(g, direction)
    fig = render.plot(g, True, layout=pos)
    (coll,) = [c for c in fig.axes[0].collections if c.get_gid() == "graphanim-nodes"]
    paths = coll.get_paths()
    assert len(paths) == len(g.nodes)
    ax = fig.axes[0]
    for node, path in zip(g.nodes, paths):
        # the shape's centre, measured on screen, is the layout position mapped by the axes
        ext = path.transformed(ax.transData).get_extents()
        centre = ax.transData.inverted().transform([(ext.x0 + ext.x1) / 2, (ext.y0 + ext.y1) / 2])
        assert centre == pytest.approx(pos[node.id], abs=1e-6)
        if node.kind == "op":  # the op symbol sits on the node position
            assert by_gid(fig, f"graphanim-{node.id}-op").get_position()[0] == pytest.approx(
                pos[node.id][0], abs=1e-9)


def test_layer_order_is_kept():
    """Layers keep their order and spacing grows with the layout coordinate."""
    g = chain_rule()
    pos = layered(g)
    ax = render.plot(g, layout=pos).axes[0]
    xs = sorted({p[0] for p in pos.values()})
    screen = ax.transData.transform([(x, 0.0) for x in xs])[:, 0]
    assert np.all(np.diff(screen) > 20)


@pytest.mark.parametrize("name", sorted(LECTURE))
def test_label_texts_equal_values_and_grads(name):
    g = LECTURE[name]()
    fig = render.plot(g, with_all=True, layout=layered(g))
    for n in g.nodes:
        if n.kind == "op":
            assert by_gid(fig, f"graphanim-{n.id}-op").get_text() == n.label
            continue
        value = by_gid(fig, f"graphanim-{n.id}-value")
        assert value is not None and value.get_text() == value_text(n.value)
        grad = by_gid(fig, f"graphanim-{n.id}-grad")
        if n.grad is None:
            assert grad is None
        else:
            assert grad.get_text() == "∂ " + value_text(n.grad)
    for i, e in enumerate(g.edges):
        label = by_gid(fig, f"graphanim-edge-{i}")
        assert (label is None) == (e.grad is None)
        if label is not None:
            assert label.get_text() == value_text(e.grad)


def test_branch_edges_carry_two_and_three_into_five():
    g = branch()
    fig = render.plot(g, with_all=True, layout=layered(g))
    b = g["b"]
    out = [i for i, e in enumerate(g.edges) if e.src == b.id]
    assert sorted(by_gid(fig, f"graphanim-edge-{i}").get_text() for i in out) == ["2", "3"]
    assert by_gid(fig, f"graphanim-{b.id}-grad").get_text() == "∂ 5"


def test_plain_plot_shows_values_only():
    g = branch()
    fig = render.plot(g, layout=layered(g))
    gids = {t.get_gid() for t in texts_of(fig)}
    assert not any(gid.endswith("-grad") or "-edge-" in gid for gid in gids)
    assert by_gid(fig, "graphanim-n0-value").get_text() == "2"
    fig = render.plot(g, layout=layered(g), values=False)
    values = [t.get_gid() for t in texts_of(fig) if t.get_gid().endswith("-value")]
    assert values == ["graphanim-n4-value"]  # only the constant, whose box is its value
    fig = render.plot(g, layout=layered(g), grads=True)
    assert by_gid(fig, "graphanim-n1-grad").get_text() == "∂ 5"
    assert by_gid(fig, "graphanim-edge-0") is None


def test_no_gradients_without_backward_pass():
    g = chain_rule(backward=False)
    fig = render.plot(g, with_all=True, layout=layered(g))
    assert not any(t.get_gid().endswith("-grad") or "-edge-" in t.get_gid()
                   for t in texts_of(fig))


def _overlaps(fig):
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_gid(), t.get_window_extent(renderer)) for t in texts_of(fig)
             if t.get_visible() and t.get_text()]
    bad = []
    for (ga, a), (gb, b) in itertools.combinations(boxes, 2):
        # a pixel of antialiasing may touch; real overlaps are larger
        if a.x0 + 0.5 < b.x1 and b.x0 + 0.5 < a.x1 and a.y0 + 0.5 < b.y1 and b.y0 + 0.5 < a.y1:
            bad.append((ga, gb))
    return bad


@pytest.mark.parametrize("name", sorted(LECTURE))
@pytest.mark.parametrize("with_all", [False, True])
def test_no_two_labels_overlap(name, with_all):
    g = LECTURE[name]()
    fig = render.plot(g, with_all, layout=layered(g))
    assert len(texts_of(fig)) > len(g.nodes) / 2
    assert _overlaps(fig) == []
    # and every node's text stays inside its own shape
    renderer = fig.canvas.get_renderer()
    (coll,) = [c for c in fig.axes[0].collections if c.get_gid() == "graphanim-nodes"]
    shapes = {n.id: p.transformed(fig.axes[0].transData).get_extents()
              for n, p in zip(g.nodes, coll.get_paths())}
    for t in texts_of(fig):
        nid = t.get_gid().split("-")[1]
        if nid in shapes:
            box, shape = t.get_window_extent(renderer), shapes[nid]
            assert shape.x0 - 1 <= box.x0 and box.x1 <= shape.x1 + 1, t.get_gid()


@pytest.mark.parametrize("name", ["neuron", "tensors"])
def test_node_shapes_do_not_overlap(name):
    g = LECTURE[name]()
    for direction in ("LR", "TB"):
        fig = render.plot(g, True, layout=layered(g, direction))
        ax = fig.axes[0]
        (coll,) = [c for c in ax.collections if c.get_gid() == "graphanim-nodes"]
        ext = [p.transformed(ax.transData).get_extents() for p in coll.get_paths()]
        for a, b in itertools.combinations(ext, 2):
            assert not (a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1)


def test_text_is_at_least_8pt_at_default_size():
    g = neuron()
    fig = render.plot(g, True, layout=layered(g))
    sizes = [t.get_fontsize() for t in texts_of(fig)]
    assert sizes and min(sizes) >= 8.0


def test_figure_grows_with_the_graph():
    small = render.plot(branch(), layout=layered(branch())).get_size_inches()
    big = render.plot(neuron(), layout=layered(neuron())).get_size_inches()
    assert big[0] > small[0]


# -- text content --------------------------------------------------------------------------------


def test_dollar_in_a_name_shows_as_a_dollar_sign():
    g = build([("cost$x$", "input", 2.0, 1.0), ("neg", "op", "−"), ("$", "output", -2.0, 1.0)],
              [(0, 1, 1.0), (1, 2, 1.0)])
    fig = render.plot(g, with_all=True, layout=layered(g))
    renderer = fig.canvas.get_renderer()
    for gid, expect in (("graphanim-n0-name", "cost$x$"), ("graphanim-n2-name", "$")):
        t = by_gid(fig, gid)
        assert shown(t) == expect
        # drawn exactly as the same characters with math parsing off: no mathtext italics
        ref = Text(0, 0, expect, fontproperties=t.get_fontproperties(), parse_math=False)
        ref.set_figure(fig)
        w = t.get_window_extent(renderer).width
        assert w == pytest.approx(ref.get_window_extent(renderer).width, abs=0.5)
    render.to_png_bytes(g, layout=layered(g))  # and it renders


def test_mathtext_op_label_is_drawn_as_math():
    g = sigmoid()
    fig = render.plot(g, layout=layered(g))
    t = by_gid(fig, "graphanim-n7-op")
    assert t.get_text() == r"$\sigma$"
    renderer = fig.canvas.get_renderer()
    plain = Text(0, 0, r"$\sigma$", fontproperties=t.get_fontproperties(), parse_math=False)
    plain.set_figure(fig)
    # rendered as one glyph, much narrower than the eight raw characters
    assert t.get_window_extent(renderer).width < 0.5 * plain.get_window_extent(renderer).width


def test_nan_and_inf_render():
    g = build([("x", "input", float("nan"), float("inf")), ("exp", "op", "exp"),
               ("y", "output", float("inf"), float("-inf")), ("sin", "op", "sin"),
               ("z", "output", float("-inf"), float("nan"))],
              [(0, 1, float("nan")), (1, 2, float("-inf")), (0, 3, float("inf")),
               (3, 4, float("nan"))])
    fig = render.plot(g, True, layout=layered(g))
    assert by_gid(fig, "graphanim-n0-value").get_text() == "nan"
    assert by_gid(fig, "graphanim-n2-value").get_text() == "inf"
    assert by_gid(fig, "graphanim-n4-value").get_text() == "-inf"
    assert by_gid(fig, "graphanim-n2-grad").get_text() == "∂ -inf"
    png = render.to_png_bytes(g, with_all=True, layout=layered(g))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_tensor_values_are_compact_matrices():
    g = tensors()
    fig = render.plot(g, True, layout=layered(g))
    assert by_gid(fig, "graphanim-n0-value").get_text() == "[1, 2\n3, 4]"
    big = build([("x", "input", np.arange(25.0).reshape(5, 5).tolist(), None),
                 ("sum", "op", "Σ"), ("s", "output", 300.0, None)], [(0, 1, None), (1, 2, None)],
                backward=False)
    fig = render.plot(big, layout=layered(big))
    assert by_gid(fig, "graphanim-n0-value").get_text() == "5×5 min 0 mean 12 max 24"


# -- themes, figures, errors -------------------------------------------------------------------


def test_dark_theme_colours_differ():
    g = branch()
    light = render.plot(g, True, layout=layered(g), theme="light")
    dark = render.plot(g, True, layout=layered(g), theme="dark")
    assert light.get_facecolor() != dark.get_facecolor()
    nodes = [next(c for c in f.axes[0].collections if c.get_gid() == "graphanim-nodes")
             for f in (light, dark)]
    assert not np.allclose(nodes[0].get_facecolors(), nodes[1].get_facecolors())
    assert by_gid(light, "graphanim-n0-name").get_color() != by_gid(
        dark, "graphanim-n0-name").get_color()
    # the dark background is dark, its text light
    assert sum(matplotlib.colors.to_rgb(dark.get_facecolor())) < 0.5
    assert sum(matplotlib.colors.to_rgb(by_gid(dark, "graphanim-n0-name").get_color())) > 2.4


def test_unknown_theme_lists_the_themes():
    g = branch()
    with pytest.raises(ValueError, match=r"light.*dark|dark.*light") as err:
        render.plot(g, layout=layered(g), theme="solarized")
    assert "solarized" in str(err.value)
    with pytest.raises(ValueError, match="solarized"):
        render.Scene(g, layered(g), theme="solarized")


def test_layout_missing_a_node_is_an_error():
    g = branch()
    pos = layered(g)
    del pos["n3"]
    with pytest.raises(ValueError, match="n3"):
        render.plot(g, layout=pos)


def test_draws_on_a_given_axes():
    g = branch()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3))
    ax1.plot([0, 1], [0, 1])
    out = render.plot(g, layout=layered(g), ax=ax2)
    assert out is fig
    assert by_gid(fig, "graphanim-n0-name") in ax2.texts
    assert len(ax1.lines) == 1 and not ax1.texts


@pytest.mark.parametrize("projection", ["polar", "3d", "mollweide"])
def test_plot_refuses_an_axes_with_a_projection(projection):
    """A polar, 3-D or map Axes cannot hold the picture: a ValueError naming the projection and
    asking for a plain 2-D Axes, before anything is drawn on it."""
    fig = plt.figure()
    ax = fig.add_subplot(projection=projection)
    before = (len(ax.get_children()), ax.get_xlim())
    with pytest.raises(ValueError, match=rf"plain 2-D Axes.*'{projection}' projection"):
        render.plot(branch(), ax=ax)
    assert (len(ax.get_children()), ax.get_xlim()) == before
    # a plain Axes of the same figure still works
    assert render.plot(branch(), ax=fig.add_subplot(2, 1, 2)) is fig


def test_honours_an_empty_current_figure_and_figsize():
    g = branch()
    user = plt.figure(figsize=(7, 3))
    assert render.plot(g, layout=layered(g)) is user
    assert tuple(user.get_size_inches()) == (7, 3)
    # a figure that already holds a plot is left alone
    fig = render.plot(g, layout=layered(g))
    assert fig is not user
    fig = render.plot(g, layout=layered(g), figsize=(5, 2))
    assert fig is not user and tuple(fig.get_size_inches()) == (5, 2)


def test_huge_graph_hides_illegible_labels_with_a_warning():
    n = 300
    nodes = [("x", "input", 1.0, 1.0)]
    edges = []
    for k in range(n):
        nodes += [("sin", "op", "sin"), (f"v{k}", "value", 0.5, 0.25)]
        edges += [(2 * k, 2 * k + 1, 0.25), (2 * k + 1, 2 * k + 2, 0.25)]
    g = build(nodes, edges)
    pos = layered(g)
    with pytest.warns(render.LegibilityWarning, match="labels=True"):
        fig = render.plot(g, layout=pos, figsize=(6, 2))
    assert texts_of(fig) == [] and not any(
        c.get_gid() == "graphanim-labels" for c in fig.axes[0].collections)
    with pytest.warns(render.LegibilityWarning, match="may not be legible"):
        fig = render.plot(g, layout=pos, figsize=(6, 2), labels=True)
    assert any(c.get_gid() == "graphanim-labels" for c in fig.axes[0].collections)
    # as a vector file there is no size cap: full size, labels shown, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg = render.to_svg_text(g, layout=pos, with_all=True)
    root = ET.fromstring(svg)
    assert float(root.get("width").rstrip("pt")) > 72 * 100
    texts = [el for el in root.iter() if el.tag.endswith("}text")]
    assert len(texts) > 300 and {"sin", "x"} <= {el.text for el in texts}


def test_scene_hides_illegible_labels_with_a_warning():
    nodes, edges = [("x", "input", 1.0, 1.0)], []
    for k in range(150):
        nodes += [("sin", "op", "sin"), (f"v{k}", "value", 0.5, 0.25)]
        edges += [(2 * k, 2 * k + 1, 0.25), (2 * k + 1, 2 * k + 2, 0.25)]
    g = build(nodes, edges)
    with pytest.warns(render.LegibilityWarning, match="figsize"):
        scene = render.Scene(g, layered(g), figsize=(4, 3))
    assert not any(na.texts for na in scene._painter.nodes)
    assert scene.size == (400, 300)


def test_user_style_and_usetex_do_not_change_the_picture():
    g = sigmoid()
    pos = layered(g)
    reference = render.to_png_bytes(g, with_all=True, layout=pos)
    style = {"text.usetex": True, "font.family": "serif", "font.size": 22,
             "axes.facecolor": "red", "figure.facecolor": "blue", "lines.linewidth": 9.0,
             "patch.linewidth": 7.0, "path.sketch": (3.0, 20.0, 1.0), "text.color": "green",
             "mathtext.fontset": "cm", "svg.fonttype": "none", "savefig.bbox": "tight",
             "figure.dpi": 37, "text.parse_math": False}
    with plt.style.context("dark_background"), matplotlib.rc_context(style):
        assert render.to_png_bytes(g, with_all=True, layout=pos) == reference
        fig = render.plot(g, with_all=True, layout=pos)
        fig.savefig(io.BytesIO(), format="png")  # usetex without LaTeX would fail here
        assert all(not t.get_usetex() for t in texts_of(fig))


# -- files ---------------------------------------------------------------------------------------


def test_svg_parses_as_xml_and_names_the_nodes(tmp_path):
    g = neuron()
    path = render.save(g, tmp_path / "g.svg", with_all=True, layout=layered(g))
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    ids = {el.get("id") for el in root.iter()}
    assert "graphanim-n0-name" in ids and "graphanim-edge-0" in ids
    assert ET.fromstring(render.to_svg_text(g, layout=layered(g))).tag.endswith("svg")


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_same_graph_same_bytes(tmp_path, suffix):
    g = neuron()
    a = render.save(g, tmp_path / f"a{suffix}", with_all=True, layout=layered(g))
    b = render.save(neuron(), tmp_path / f"b{suffix}", with_all=True, layout=layered(g))
    assert a.read_bytes() == b.read_bytes()
    assert len(a.read_bytes()) > 1000


def test_bad_suffix_is_refused_before_drawing(tmp_path):
    g = branch()
    with pytest.raises(ValueError, match=r"\.png.*\.svg.*\.pdf"):
        render.save(g, tmp_path / "g.txt", layout=layered(g))
    assert list(tmp_path.iterdir()) == []


def test_save_and_reprs_leave_no_open_figures(tmp_path):
    g = branch()
    before = plt.get_fignums()
    render.save(g, tmp_path / "g.png", layout=layered(g), dpi=50)
    render.to_png_bytes(g, layout=layered(g))
    render.to_svg_text(g, layout=layered(g))
    assert plt.get_fignums() == before


def test_save_dpi_sets_the_pixel_size(tmp_path):
    from PIL import Image

    g = branch()
    with Image.open(render.save(g, tmp_path / "a.png", layout=layered(g), dpi=50)) as a, \
            Image.open(render.save(g, tmp_path / "b.png", layout=layered(g), dpi=100)) as b:
        assert b.size[0] == pytest.approx(2 * a.size[0], abs=2)


BASELINES = {
    "branch_all_light": (branch, {"with_all": True}),
    "chain_rule_dark": (chain_rule, {"theme": "dark"}),
    "neuron_all_light": (neuron, {"with_all": True}),
}


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_images(name):
    """Pixels against reviewed baselines (GRAPHANIM_UPDATE_BASELINES=1 rewrites them)."""
    from PIL import Image

    make, kw = BASELINES[name]
    g = make()
    png = render.to_png_bytes(g, layout=layered(g), dpi=60, **kw)
    path = BASELINE / f"{name}.png"
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"missing baseline {path}; run with GRAPHANIM_UPDATE_BASELINES=1")
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(png)
    got = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)
    with Image.open(path) as im:
        want = np.asarray(im.convert("RGB"), dtype=float)
    assert got.shape == want.shape
    assert np.abs(got - want).mean() < 1.0


# -- the animation scene -------------------------------------------------------------------------


def branch_frames(g):
    """A backward pass of the branch graph as hand-written frames."""
    values = frozenset(n.id for n in g.nodes if n.kind != "op")
    return [
        Frame(0, "title", "Backward pass", values=values, grads=frozenset({"n8"}),
              direction="backward"),
        Frame(1, "backward", "∂e/∂c = d = 2\n∂e/∂d = c = 3", active=("n7", "n8", "n3", "n6"),
              active_edges=(6, 7, 8), values=values, grads=frozenset({"n8", "n3", "n6"}),
              edge_grads=frozenset({6, 7, 8}), direction="backward"),
        Frame(2, "backward", "b receives 3", active=("n5", "n6", "n1"), active_edges=(3, 5),
              values=values, grads=frozenset({"n8", "n3", "n6"}),
              edge_grads=frozenset({3, 5, 6, 7, 8}), done=frozenset({"n7", "n8", "n3"}),
              sums={"n1": "… + 3"}, direction="backward"),
        Frame(3, "backward", "b receives 2: 2 + 3 = 5", active=("n2", "n3", "n0", "n1"),
              active_edges=(0, 1, 2), values=values, grads=frozenset(values - {"n4"}),
              edge_grads=frozenset({0, 1, 2, 3, 5, 6, 7, 8}),
              done=frozenset({"n5", "n6", "n7", "n8"}), sums={"n1": "2 + 3 = 5"},
              direction="backward"),
        Frame(4, "hold", "Done: ∂e/∂a = 2, ∂e/∂b = 5", values=values,
              grads=frozenset(values - {"n4"}), edge_grads=frozenset({0, 1, 2, 3, 5, 6, 7, 8}),
              done=frozenset(n.id for n in g.nodes), sums={"n1": "2 + 3 = 5"},
              direction="backward"),
    ]


def test_scene_frames_have_even_size():
    g = branch()
    for figsize, dpi in ((None, 100), ((8.01, 6.03), 100), ((3.33, 2.71), 73)):
        scene = render.Scene(g, layered(g), figsize=figsize, dpi=dpi)
        w, h = scene.size
        assert w % 2 == 0 and h % 2 == 0
        rgb = scene.rgb()
        assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8
    assert render.Scene(g, layered(g), figsize=(8, 6)).size == (800, 600)


def test_scene_changes_are_local_and_positions_fixed():
    g = branch()
    scene = render.Scene(g, layered(g))
    paths = [na.patch.get_path().vertices.copy() for na in scene._painter.nodes]
    prev = scene.rgb()
    changed_any = False
    for frame in branch_frames(g):
        scene.show(frame)
        cur = scene.rgb()
        changed = np.any(cur != prev, axis=2)
        changed_any |= bool(changed.any())
        assert changed.mean() < 0.35  # a step touches a few nodes, edges and the caption
        prev = cur
    assert changed_any
    for na, before in zip(scene._painter.nodes, paths):
        assert np.array_equal(na.patch.get_path().vertices, before)


def test_scene_caption_change_touches_only_the_caption_band():
    g = branch()
    scene = render.Scene(g, layered(g))
    f0 = branch_frames(g)[0]
    scene.show(f0)
    a = scene.rgb()
    scene.show(Frame(0, f0.phase, "another caption", values=f0.values, grads=f0.grads,
                     direction="backward"))
    rows = np.nonzero(np.any(scene.rgb() != a, axis=(1, 2)))[0]
    assert len(rows) and rows.min() > scene.size[1] * 0.6


def test_scene_incremental_equals_full_redraw():
    g = branch()
    pos = layered(g)
    frames = branch_frames(g)
    scene = render.Scene(g, pos)
    for k, frame in enumerate(frames):
        scene.show(frame)
        fresh = render.Scene(g, pos)
        fresh.show(frame)
        assert np.array_equal(scene.rgb(), fresh.rgb()), f"frame {k}"
    # going back to an earlier state restores exactly its pixels
    scene.show(frames[1])
    fresh = render.Scene(g, pos)
    fresh.show(frames[1])
    assert np.array_equal(scene.rgb(), fresh.rgb())


def test_scene_shows_what_the_frame_lists():
    g = branch()
    scene = render.Scene(g, layered(g))
    blank = scene.rgb()
    scene.show(branch_frames(g)[3])
    full = scene.rgb()
    h = scene.size[1]
    b = scene._painter.nodes[1]  # b: active, its gradient and the sum "2 + 3 = 5" appear
    x0, y0, x1, y1 = scene._extent[id(b.patch)]
    assert np.any(full[h - y1:h - y0, x0:x1] != blank[h - y1:h - y0, x0:x1])
    looks = scene._look
    assert looks[id(b.patch)] == "active"
    assert looks[id(b.texts["grad"])] == "on"
    assert looks[id(b.sum_text)] == "2 + 3 = 5"
    assert looks[id(scene._painter.nodes[8].patch)] == "done-backward"
    assert looks[id(scene._painter.nodes[4].texts["value"])] == "on"  # a constant: always
    assert looks[id(scene._painter.edge_labels[0])] == "on"
    assert looks[id(scene._edge_overlay[0][0])] == "backward"
    assert looks[id(scene._edge_overlay[6][0])] is None


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_scene_with_real_frames(theme):
    from graphanim.frames import build_frames

    g = neuron()
    pos = layered(g)
    frames = build_frames(g, "both")
    scene = render.Scene(g, pos, theme=theme)
    for frame in frames:
        scene.show(frame)
    fresh = render.Scene(g, pos, theme=theme)
    fresh.show(frames[-1])
    assert np.array_equal(scene.rgb(), fresh.rgb())
    assert not math.isnan(float(scene.rgb().mean()))


def test_torchgraph_pictures_end_to_end(tmp_path):
    """The captured (a+b)(b+1): plot, TB direction, save and the notebook repr."""
    from graphanim import TorchGraph

    g = TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])
    fig = g.plot(with_all=True)
    b = g["b"]
    out = [i for i, e in enumerate(g.edges) if e.src == b.id]
    assert sorted(by_gid(fig, f"graphanim-edge-{i}").get_text() for i in out) == ["2", "3"]
    w, h = render.plot(g, direction="TB").get_size_inches()
    assert h > w
    assert Path(g.save(tmp_path / "g.pdf", theme="dark")).read_bytes()[:5] == b"%PDF-"
    assert g._repr_png_()[:4] == b"\x89PNG"


# -- local derivatives on edges (issue 7) --------------------------------------------------------


def test_local_derivative_sits_before_the_edge_gradient():
    g = branch()
    fig = render.plot(g, with_all=True, layout=layered(g))
    locals_ = {i: by_gid(fig, f"graphanim-edge-{i}-local") for i in range(len(g.edges))}
    # c -> mul carries 2 because ∂e/∂c = d = 2 and e receives 1; d -> mul: ∂e/∂d = c = 3
    assert locals_[6].get_text() == "×2 →" and by_gid(fig, "graphanim-edge-6").get_text() == "2"
    assert locals_[7].get_text() == "×3 →" and by_gid(fig, "graphanim-edge-7").get_text() == "3"
    assert locals_[3].get_text() == "×1 →"  # b -> (b + 1): 3 × 1 → 3
    # none on edges out of ops, nor where no gradient flows (the constant 1)
    assert locals_[2] is None and locals_[8] is None and locals_[4] is None
    # one label: factor left of the gradient, on the same baseline, in the text colour
    r = fig.canvas.get_renderer()
    a, b = locals_[6].get_window_extent(r), by_gid(fig, "graphanim-edge-6").get_window_extent(r)
    assert a.x1 <= b.x0 + 0.5 and a.x1 > b.x0 - 12 and abs(a.y0 - b.y0) < 1.0
    assert locals_[6].get_color() == render.THEMES["light"]["local"]


def test_local_derivatives_option():
    g = branch()
    pos = layered(g)
    for fig in (render.plot(g, with_all=True, layout=pos, local=False),
                render.plot(g, layout=pos), render.plot(g, layout=pos, grads=True)):
        assert not any(t.get_gid().endswith("-local") for t in texts_of(fig))
        assert _overlaps(fig) == []
    fig = render.plot(g, layout=pos, edge_grads=True, local=True)
    assert by_gid(fig, "graphanim-edge-6-local").get_text() == "×2 →"
    with pytest.raises(TypeError, match="local"):
        render.plot(g, layout=pos, local="yes")


def test_local_derivatives_only_for_scalar_edges():
    g = tensors()
    fig = render.plot(g, with_all=True, layout=layered(g))
    assert by_gid(fig, "graphanim-edge-0") is not None  # the gradient of W is drawn
    assert not any(t.get_gid().endswith("-local") for t in texts_of(fig))


def test_local_derivatives_give_way_on_a_small_figure():
    """Automatic factors are left out when they would push the text below 8 pt; local=True
    keeps them."""
    g = neuron()
    pos = layered(g)
    # 16.5 in fits the graph at full size without the factors, not with them (18.7 in)
    fig = render.plot(g, with_all=True, layout=pos, figsize=(16.5, 3))
    assert not any(t.get_gid().endswith("-local") for t in texts_of(fig))
    assert min(t.get_fontsize() for t in texts_of(fig)) >= 8.0
    fig = render.plot(g, with_all=True, layout=pos, figsize=(16.5, 3), local=True)
    assert any(t.get_gid().endswith("-local") for t in texts_of(fig))
    assert min(t.get_fontsize() for t in texts_of(fig)) < 8.0


# -- the gradient-check overlay (issue 7) --------------------------------------------------------


def _wrong_neuron():
    from graphanim import TorchGraph

    WrongSigmoid = DoubledSigmoid

    def neuron(x, w, b):
        z = w * x + b
        return WrongSigmoid.apply(z)

    return TorchGraph(neuron, [0.5, 2.0, -1.0])


def test_check_overlay_marks_a_wrong_backward():
    g = _wrong_neuron()
    fig = render.plot(g, check=True)
    light = render.THEMES["light"]
    for name, numeric in (("x", "0.5"), ("w", "0.125"), ("b", "0.25")):
        node = g[name]
        text = by_gid(fig, f"graphanim-{node.id}-check")
        assert text.get_text() == f"✗ numeric {numeric}"
        assert text.get_color() == light["check_bad"]
        # the autograd gradient is shown next to it (twice the numeric one)
        assert by_gid(fig, f"graphanim-{node.id}-grad").get_text() == "∂ " + format_tensor(
            node.grad)
    # a ring in the warning colour around each input whose check failed, and only there
    rings = {p.get_gid(): p for p in fig.axes[0].patches
             if (p.get_gid() or "").endswith("-mismatch")}
    assert set(rings) == {f"graphanim-{g[n].id}-mismatch" for n in ("x", "w", "b")}
    ax = fig.axes[0]
    (coll,) = [c for c in ax.collections if c.get_gid() == "graphanim-nodes"]
    for n in ("x", "w", "b"):
        ring = rings[f"graphanim-{g[n].id}-mismatch"]
        assert ring.get_edgecolor() == matplotlib.colors.to_rgba(light["check_bad"])
        shape = coll.get_paths()[g.nodes.index(g[n])].transformed(ax.transData).get_extents()
        around = ring.get_path().transformed(ax.transData).get_extents()
        assert around.x0 < shape.x0 and shape.x1 < around.x1
    assert _overlaps(fig) == []


def test_check_overlay_agrees_on_a_correct_graph():
    from graphanim import TorchGraph

    g = TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])
    result = g.check()
    for fig in (render.plot(g, check=result), render.plot(g, with_all=True, check=True)):
        assert by_gid(fig, f"graphanim-{g['a'].id}-check").get_text() == "✓ numeric 2"
        assert by_gid(fig, f"graphanim-{g['b'].id}-check").get_text() == "✓ numeric 5"
        assert by_gid(fig, f"graphanim-{g['b'].id}-check").get_color() == (
            render.THEMES["light"]["check_ok"])
    v = TorchGraph(lambda x: (x * x).sum(), [[[1.0, 2.0], [3.0, 4.0]]])
    fig = render.plot(v, check=True)
    assert by_gid(fig, f"graphanim-{v['x'].id}-check").get_text() == "✓ numeric: all 4 agree"


def test_check_overlay_errors():
    g = branch()
    with pytest.raises(TypeError, match="TorchGraph"):
        render.plot(g, layout=layered(g), check=True)
    with pytest.raises(TypeError, match="GradCheck"):
        render.plot(g, layout=layered(g), check="yes")
    assert not any(t.get_gid().endswith("-check")
                   for t in texts_of(render.plot(g, layout=layered(g), check=False)))


# -- tensors: shape, dtype, heatmaps (issue 8) ---------------------------------------------------


def _big_tensor_graph():
    values = np.arange(-12.0, 13.0).reshape(5, 5)
    return build([("x", "input", values.tolist(), (values / 8).tolist()), ("sum", "op", "Σ"),
                  ("s", "output", 0.0, 1.0)], [(0, 1, (values / 8).tolist()), (1, 2, 1.0)])


def test_tensor_nodes_show_shape_and_dtype():
    from graphanim import TorchGraph

    g = tensors()
    fig = render.plot(g, True, layout=layered(g))
    # the hand-built nodes have no dtype field: the tensor's own is shown
    assert by_gid(fig, "graphanim-n0-shape").get_text() == "2×2 float64"
    assert by_gid(fig, "graphanim-n3-shape").get_text() == "2 float64"
    assert by_gid(fig, "graphanim-n5-shape") is None  # the scalar loss
    cap = TorchGraph(lambda w: (w * 2).sum(), [np.ones((3, 4), dtype=np.float32)])
    fig = render.plot(cap)
    assert by_gid(fig, f"graphanim-{cap['w'].id}-shape").get_text() == "3×4 float32"
    assert _overlaps(fig) == []


def _images(fig):
    from matplotlib.image import BboxImage

    return {a.get_gid(): a for a in fig.axes[0].get_children() if isinstance(a, BboxImage)}


def test_large_tensors_are_heatmaps_centred_at_zero():
    g = _big_tensor_graph()
    fig = render.plot(g, with_all=True, layout=layered(g))
    images = _images(fig)
    assert set(images) == {"graphanim-n0-value-img", "graphanim-n0-grad-img"}
    assert by_gid(fig, "graphanim-n0-value").get_text() == "5×5 min -12 mean 0 max 12"
    assert by_gid(fig, "graphanim-n0-grad").get_text() == "∂ 5×5 min -1.5 mean 0 max 1.5"
    cmap = matplotlib.colormaps["RdBu_r"]
    for key in ("value", "grad"):
        rgba = np.asarray(images[f"graphanim-n0-{key}-img"].get_array())
        cells = rgba[1:-1, 1:-1]  # inside the one-pixel frame
        k = cells.shape[0] // 5
        # the diverging colormap spans -max|x| .. +max|x|: 0 is its white middle
        assert tuple(cells[0, 0]) == cmap(0.0, bytes=True)  # the most negative: blue
        assert tuple(cells[-1, -1]) == cmap(1.0, bytes=True)  # the most positive: red
        assert tuple(cells[2 * k, 2 * k]) == cmap(0.5, bytes=True)
    # an asymmetric range keeps 0 in the middle: -1 of [-1, 3] is a third of the way to blue
    img, _, _ = heatmap_pixels(torch.tensor([[-1.0, 0.0, 3.0, 3.0, 3.0]]))
    cells = img[1:-1, 1:-1]
    k = cells.shape[1] // 5
    assert tuple(cells[0, 0]) == cmap((1 - 1 / 3) / 2, bytes=True)
    assert tuple(cells[0, k]) == cmap(0.5, bytes=True)
    # the image covers a rectangle inside its node's box
    (coll,) = [c for c in fig.axes[0].collections if c.get_gid() == "graphanim-nodes"]
    box = coll.get_paths()[0].transformed(fig.axes[0].transData).get_extents()
    ext = images["graphanim-n0-value-img"].get_window_extent(fig.canvas.get_renderer())
    assert box.x0 < ext.x0 < ext.x1 < box.x1 and box.y0 < ext.y0 < ext.y1 < box.y1
    assert _overlaps(fig) == []


def test_heatmaps_tile_feature_maps_and_average_big_tensors():
    t = torch.arange(2 * 3 * 4 * 5, dtype=torch.float64).reshape(2, 3, 4, 5)
    grid = as_grid(t)
    assert grid.shape[0] * grid.shape[1] >= 2 * 3 * 4 * 5
    assert np.isnan(grid).sum() == grid.size - 120
    pooled = pool_blocks(np.arange(100.0 * 70).reshape(100, 70), 32)
    assert max(pooled.shape) <= 32 and pooled.mean() == pytest.approx(np.arange(7000.0).mean(),
                                                                       rel=0.02)
    img, w, h = heatmap_pixels(torch.randn(1000, 3, generator=torch.Generator().manual_seed(0)))
    assert img.dtype == np.uint8 and img.shape[2] == 4 and max(w, h) <= 36.0


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_heatmaps_are_deterministic(tmp_path, suffix):
    g = _big_tensor_graph()
    a = render.save(g, tmp_path / f"a{suffix}", with_all=True, layout=layered(g))
    b = render.save(_big_tensor_graph(), tmp_path / f"b{suffix}", with_all=True,
                    layout=layered(g))
    assert a.read_bytes() == b.read_bytes()
    if suffix == ".svg":
        assert "<image" in a.read_text()


def test_scene_shows_heatmaps_with_their_values():
    g = _big_tensor_graph()
    scene = render.Scene(g, layered(g), dpi=60)
    na = scene._painter.nodes[0]
    value_img, grad_img = na.texts["value-img"], na.texts["grad-img"]
    values = frozenset({"n0"})
    scene.show(Frame(0, "title", "", values=values))
    assert scene._look[id(value_img)] == "on" and scene._look[id(grad_img)] is None
    before = scene.rgb()
    scene.show(Frame(1, "backward", "", values=values, grads=frozenset({"n0", "n2"}),
                     direction="backward"))
    assert scene._look[id(grad_img)] == "on"
    x0, y0, x1, y1 = scene._extent[id(grad_img)]
    h = scene.size[1]
    assert np.any(scene.rgb()[h - y1:h - y0, x0:x1] != before[h - y1:h - y0, x0:x1])
    fresh = render.Scene(g, layered(g), dpi=60)
    fresh.show(Frame(1, "backward", "", values=values, grads=frozenset({"n0", "n2"}),
                     direction="backward"))
    assert np.array_equal(scene.rgb(), fresh.rgb())


# -- module boxes (issue 8) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_net():
    from graphanim import TorchGraph

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    return TorchGraph(lambda x: net(x).sum(), [torch.tensor([[1.0, 2.0, 3.0]])])


def _module_patches(fig):
    return {p.get_gid()[len("graphanim-module-"):]: p for p in fig.axes[0].patches
            if (p.get_gid() or "").startswith("graphanim-module-")}


def test_module_boxes_hold_their_nodes(small_net):
    g = small_net
    fig = render.plot(g, with_all=True)
    ax = fig.axes[0]
    boxes = _module_patches(fig)
    assert set(boxes) == {"net", "net.0", "net.1", "net.2"}
    assert by_gid(fig, "graphanim-module-net.0-label").get_text() == "net.0: Linear"
    assert by_gid(fig, "graphanim-module-net-label").get_text() == "net: Sequential"
    ext = {k: p.get_path().transformed(ax.transData).get_extents() for k, p in boxes.items()}
    (coll,) = [c for c in ax.collections if c.get_gid() == "graphanim-nodes"]
    shapes = {n.id: p.transformed(ax.transData).get_extents()
              for n, p in zip(g.nodes, coll.get_paths())}

    def inside(a, b):
        return b.x0 <= a.x0 and a.x1 <= b.x1 and b.y0 <= a.y0 and a.y1 <= b.y1

    for path in ("net.0", "net.1", "net.2"):
        assert inside(ext[path], ext["net"])  # nested
    for n in g.nodes:
        module = n.attrs.get("module")
        if n.attrs.get("parameter"):
            module = n.name.rsplit(".", 1)[0]  # parameters sit in their module's box
        if module:
            assert inside(shapes[n.id], ext[module]), n
    # siblings do not overlap, and nodes of other modules stay out of a box
    for a, b in itertools.combinations(("net.0", "net.1", "net.2"), 2):
        assert not ext[a].overlaps(ext[b])
    for n in g.nodes:
        if not n.attrs.get("module") and not n.attrs.get("parameter") and n.kind == "op":
            assert not any(inside(shapes[n.id], e) for e in ext.values())
    # behind edges and nodes, light, and their labels readable
    assert all(p.get_zorder() < 1.0 for p in boxes.values())
    assert _overlaps(fig) == []


def test_module_boxes_option(small_net):
    assert _module_patches(render.plot(small_net, modules=False)) == {}
    assert _module_patches(render.plot(branch(), layout=layered(branch()))) == {}


def test_a_model_calling_one_sequential_gets_one_box():
    from graphanim import TorchGraph

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())

        def forward(self, x):
            return self.body(x)

    model = Model()
    g = TorchGraph(lambda x: model(x).sum(), [torch.tensor([[1.0, -1.0]])])
    fig = render.plot(g)
    assert set(_module_patches(fig)) == {"model.body", "model.body.0", "model.body.1"}
    assert by_gid(fig, "graphanim-module-model.body-label").get_text() == (
        "model: Model › model.body: Sequential")


def test_collapsed_module_is_a_box_shaped_node_outside_its_own_box():
    g = build([("x", "input", 1.0, 2.0), ("Linear", "op", "net.0 · Linear"),
               ("y", "output", 3.0, 1.0)], [(0, 1, 2.0), (1, 2, 1.0)])
    g.nodes[1].attrs.update({"module": "net.0", "collapsed": True, "ops": 3})
    g.modules = {"net": "Sequential", "net.0": "Linear"}
    fig = render.plot(g, with_all=True, layout=layered(g))
    assert by_gid(fig, "graphanim-n1-op").get_text() == "net.0 · Linear"
    assert by_gid(fig, "graphanim-n1-ops").get_text() == "3 ops"
    assert set(_module_patches(fig)) == {"net"}
    assert _overlaps(fig) == []


def test_scene_draws_module_boxes(small_net):
    scene = render.Scene(small_net, small_net.layout(), dpi=50)
    assert set(_module_patches(scene.fig)) == {"net", "net.0", "net.1", "net.2"}


# -- backward frames: saved tensors, arrows against the flow (issue 7) ---------------------------


def test_scene_highlights_saved_tensors_and_names_them():
    from graphanim import TorchGraph
    from graphanim.frames import build_frames

    g = TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])
    frames = build_frames(g, "backward")
    scene = render.Scene(g, g.layout(), dpi=60)
    index = {n.id: i for i, n in enumerate(g.nodes)}
    mul_step = frames[1]
    scene.show(mul_step)
    for n in g.nodes:
        if n.kind != "op":
            assert scene._look[id(scene._saved[index[n.id]])] == (
                "on" if n.id in mul_step.saved else None)
    with_note = scene.rgb()
    scene.show(frames[2])
    assert all(scene._look[id(p)] is None for p in scene._saved.values())
    # the note is drawn in the caption band only
    scene.show(mul_step)
    assert np.array_equal(scene.rgb(), with_note)
    scene.show(Frame(**{**mul_step.__dict__, "note": ""}))
    rows = np.nonzero(np.any(scene.rgb() != with_note, axis=(1, 2)))[0]
    assert len(rows) and rows.min() > scene.size[1] * 0.6


def test_scene_backward_edges_point_at_the_operand():
    from graphanim import TorchGraph
    from graphanim.frames import build_frames

    g = TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])
    pos = g.layout()
    frames = build_frames(g, "both")
    scene = render.Scene(g, pos, dpi=60)
    mul = next(f for f in frames if f.phase == "backward")
    scene.show(mul)
    for ei in mul.active_edges:
        e = g.edges[ei]
        _, head = scene._edge_overlay[ei]
        assert scene._look[id(head)] == "backward"
        assert scene._look[id(scene._edge_mask[ei])] == "on"  # the forward tip is covered
        tip = np.asarray(scene._overlay_geom[id(head)]["backward"])[0]
        src, dst = np.asarray(pos[e.src]), np.asarray(pos[e.dst])
        assert np.hypot(*(tip - src)) < np.hypot(*(tip - dst))
    fwd = next(f for f in frames if f.phase == "forward")
    scene.show(fwd)
    for ei in fwd.active_edges:
        e = g.edges[ei]
        _, head = scene._edge_overlay[ei]
        assert scene._look[id(head)] == "forward" and scene._look[id(scene._edge_mask[ei])] is None
        tip = np.asarray(scene._overlay_geom[id(head)]["forward"])[0]
        src, dst = np.asarray(pos[e.src]), np.asarray(pos[e.dst])
        assert np.hypot(*(tip - dst)) < np.hypot(*(tip - src))
    # going through every frame gives the pixels of drawing the last one afresh
    for frame in frames:
        scene.show(frame)
    fresh = render.Scene(g, pos, dpi=60)
    fresh.show(frames[-1])
    assert np.array_equal(scene.rgb(), fresh.rgb())
    scene.show(mul)
    fresh.show(mul)
    assert np.array_equal(scene.rgb(), fresh.rgb())


def test_scene_local_labels_follow_the_edge_gradients():
    g = branch()
    scene = render.Scene(g, layered(g), dpi=60)
    frames = branch_frames(g)
    scene.show(frames[1])
    locals_ = scene._painter.edge_locals
    assert locals_[6].get_text() == "×2 →"
    assert scene._look[id(locals_[6])] == "on" and scene._look[id(locals_[0])] is None
    assert render.Scene(g, layered(g), dpi=60, local=False)._painter.edge_locals == {}
