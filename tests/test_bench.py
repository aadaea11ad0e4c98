"""The capture benchmark's peers do the job they are compared on."""

from __future__ import annotations

import pytest
import torch

from graphanim import TorchGraph

from ._bench import load as load_bench

bench = load_bench("capture")


def _small(name):
    if name == "chain":
        return bench.chain(40)
    if name == "dag":
        return bench.random_dag(60, seed=3)
    return bench.mlp()


@pytest.mark.parametrize("name", ["chain", "dag", "mlp"])
def test_minimal_capture_keeps_what_the_real_one_shows(name):
    """The 'minimal capture' floor makes the same nodes and arrows as TorchGraph, with the same
    values and gradients (its ops in the same order): it skips bookkeeping, not work."""
    func, args = _small(name)
    floor = bench.minimal(func, args)
    graph = TorchGraph(func, args)
    assert len(floor.nodes) == len(graph.nodes)
    assert len(floor.edges) == len(graph.edges)
    assert [n.kind for n in floor.nodes if n.kind == "op"] == [n.kind for n in graph.ops]
    got = [n for n in floor.nodes if n.kind == "value"]
    want = [n for n in graph.nodes if n.kind in ("value", "output")]
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert torch.equal(torch.as_tensor(a.value), torch.as_tensor(b.value))
        assert torch.equal(torch.as_tensor(a.grad), torch.as_tensor(b.grad))
