"""Several paths from one input: f(x) = 10·exp(sin x) + cos² x at x = 1.

f'(x) = 10·exp(sin x)·cos x − 2·cos x·sin x: x feeds sin and cos, and the two paths add up.
"""

import torch
from _common import output_folder

from graphanim import TorchGraph


def f(x):
    return 10 * torch.exp(torch.sin(x)) + torch.cos(x) ** 2


if __name__ == "__main__":
    out = output_folder(__doc__)
    graph = TorchGraph(f, [1.0])
    print("f'(1) =", graph.grad("x").item())
    graph.save(out / "exp_sin_cos.png", with_all=True)
    graph.animate(direction="backward").save(out / "exp_sin_cos_backward.gif")
