"""A custom autograd Function joins the picture as one node: a sigmoid with its own backward.

σ(x) = 1 / (1 + e^(−x)), σ'(x) = σ(x)(1 − σ(x)). The decorated class is drawn as a single "σ"
node, and the gradient shown is the one its backward computes.
"""

import torch
from _common import output_folder

from graphanim import TorchGraph, trackable_function


@trackable_function
class Sigmoid(torch.autograd.Function):
    name = r"$\sigma$"

    @staticmethod
    def forward(ctx, x):
        s = 1 / (1 + torch.exp(-x))
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s * (1 - s)


def neuron(x, w, b):
    z = w * x + b
    return Sigmoid.apply(z)


if __name__ == "__main__":
    out = output_folder(__doc__)
    graph = TorchGraph(neuron, [1.5, -0.8, 0.3])
    print({n: graph.grad(n).item() for n in graph.inputs})
    graph.save(out / "custom_sigmoid.png", with_all=True)
    graph.animate(direction="both").save(out / "custom_sigmoid.gif")
