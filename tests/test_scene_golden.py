"""Golden files of the lecture pictures as data: one line per element of the scene, sorted by id
(:meth:`graphanim.scene.model.Picture.to_text`). A change to a picture shows as a reviewable
diff; regenerate deliberately with ``pytest --update-golden`` (or GRAPHANIM_UPDATE_GOLDEN=1)."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from graphanim.scene.build import build_picture

from ._bench import load

GOLDEN = Path(__file__).parent / "golden"

#: golden name -> (lecture graph, plot options)
CASES = {
    "chain_rule": ("chain_rule", {"with_all": True}),  # ((x² + y)·z)²
    "branch": ("branch", {"with_all": True}),  # (a + b)(b + 1)
    "max_switch": ("neuron", {"with_all": True}),  # 1 / -max(exp(x0·w0 + x1·w1), w2)
    "sin": ("sin", {"with_all": True}),  # sin(a·x + c)
    "sigmoid_function": ("sigmoid", {"with_all": True}),  # a trackable custom Function
    "mlp": ("mlp", {"with_all": True}),  # a small MLP with module boxes and tensor cards
    "branch_dark_values": ("branch", {"theme": "dark"}),
}


@pytest.fixture(scope="module")
def lecture():
    return load("dags").lecture_graphs()


@pytest.mark.parametrize("case", sorted(CASES))
def test_scene_matches_its_golden_file(case, lecture, update_golden):
    name, options = CASES[case]
    text = build_picture(lecture[name], **options).to_text()
    path = GOLDEN / f"scene_{case}.txt"
    if update_golden:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"missing golden file {path}; run pytest --update-golden and review it")
    want = path.read_text(encoding="utf-8")
    if text != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True),
                                            str(path), "now", n=1))
        pytest.fail(f"the scene of {case} changed (pytest --update-golden rewrites it):\n"
                    + diff[:4000])


def test_golden_lines_are_sorted_and_name_every_node(lecture):
    pic = build_picture(lecture["branch"], with_all=True)
    lines = pic.to_text().splitlines()
    body = lines[1:]
    ids = [line.split(" ", 1)[0] for line in body]
    groups = [i for i, line in zip(ids, body) if " group " in line]
    assert groups == sorted(groups)
    elements = [i for i, line in zip(ids, body) if " group " not in line]
    assert elements == sorted(elements)
    for n in lecture["branch"].nodes:
        assert n.id in elements and n.id in groups
