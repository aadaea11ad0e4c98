"""Backpropagation through time: one nn.Linear cell unrolled over 3 steps shares its weight.

The weight's gradient is the sum of what each step sends back to it; the backward animation
steps through the cell's calls one at a time ("call 3 of 3" first).
"""

import torch
from _common import output_folder

from graphanim import TorchGraph

torch.manual_seed(0)
cell = torch.nn.Linear(2, 2).double()


def unrolled(x):
    h = x
    for _ in range(3):
        h = torch.tanh(cell(h))
    return h.sum()


if __name__ == "__main__":
    out = output_folder(__doc__)
    graph = TorchGraph(unrolled, [[0.5, -1.0]])
    weight = graph["cell.weight"]
    shares = [e.grad for e in graph.out_edges(weight)]
    for step, share in enumerate(shares, 1):
        print(f"step {step} sends cell.weight", [round(v, 5) for v in share.flatten().tolist()])
    print("dL/dcell.weight =", [round(v, 5) for v in weight.grad.flatten().tolist()])
    print("the sum of the steps' shares:", bool(torch.allclose(sum(shares), weight.grad)))
    graph.save(out / "recurrent.png", with_all=True)
    graph.animate(direction="backward", step="module").save(out / "recurrent_backward.gif")
