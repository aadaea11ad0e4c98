"""max is a gradient switch: out = 1 / (−max(exp(x0·w0 + x1·w1), w2)).

At x0=4, w0=1, x1=−2, w1=2, w2=0.5 the exponential (1) beats w2 (0.5), so the whole gradient goes
through it and w2 receives 0.
"""

import torch
from _common import output_folder

from graphanim import TorchGraph


def switch(x0, w0, x1, w1, w2):
    s = x0 * w0 + x1 * w1
    m = torch.max(torch.exp(s), w2)
    return 1 / -m


if __name__ == "__main__":
    out = output_folder(__doc__)
    graph = TorchGraph(switch, [4.0, 1.0, -2.0, 2.0, 0.5])
    print({n: graph.grad(n).item() for n in graph.inputs})
    graph.save(out / "max_switch.png", with_all=True)
    graph.animate(direction="backward").save(out / "max_switch_backward.gif")
