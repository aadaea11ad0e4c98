"""Frames as changes to the static picture (graphanim.scene.changes): what each step changes,
as data, and the raster compositor drawing exactly that."""

from __future__ import annotations

import numpy as np

from graphanim import TorchGraph, render
from graphanim.frames import build_frames
from graphanim.scene.changes import apply_changes, changes, first_state, frame_state


def _branch() -> TorchGraph:
    return TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])


def _roles(g) -> list[str]:
    return ["op" if n.kind == "op" else "constant" if n.kind == "constant" else "value"
            for n in g.nodes]


def test_each_backward_step_changes_few_elements_and_shows_its_gradients():
    g = _branch()
    roles = _roles(g)
    state = first_state(g, roles)
    b = g.inputs["b"].id
    seen_grad_b = False
    for frame in build_frames(g, "backward"):
        new = frame_state(g, roles, frame)
        todo = changes(g, state, new)
        assert apply_changes(g, state, todo, new.direction) == new  # the changes are all of it
        ids = [c.id for c in todo]
        assert len(ids) == len(set(ids)) and len(todo) <= len(g.nodes) + len(g.edges) + 2
        for c in todo:  # nothing is listed that did not change
            if c.kind == "node":
                old = state.nodes[[n.id for n in g.nodes].index(c.id)]
                assert old != c.state
        if any(c.id == b and c.state.grad for c in todo):
            seen_grad_b = True
            assert new.nodes[[n.id for n in g.nodes].index(b)].grad
        state = new
    assert seen_grad_b  # b's gradient (2 + 3 = 5) appears at some step
    assert changes(g, state, state) == []  # a repeated frame changes nothing


def test_compositor_applying_the_changes_draws_the_frame():
    """Scene.apply(changes) gives the same pixels as Scene.show(frame), and as a fresh Scene
    shown that frame directly."""
    g = _branch()
    frames = build_frames(g, "both")
    a, b = render.Scene(g, g.layout()), render.Scene(g, g.layout())
    roles = [lk.role for lk in b._lay.looks]
    state = first_state(g, roles)
    for frame in frames:
        a.show(frame)
        new = frame_state(g, roles, frame)
        b.apply(changes(g, state, new), new.direction)
        state = new
        assert np.array_equal(a.rgb(), b.rgb())
    fresh = render.Scene(g, g.layout())
    fresh.show(frames[-1])
    assert np.array_equal(fresh.rgb(), a.rgb())
