"""One neuron: tanh(w·x + b) with nn.Linear(4, 1); its weight and bias are leaves of the graph."""

import torch
from _common import output_folder

from graphanim import TorchGraph

torch.manual_seed(0)
layer = torch.nn.Linear(4, 1).double()


def neuron(x):
    return torch.tanh(layer(x)).sum()


if __name__ == "__main__":
    out = output_folder(__doc__)
    graph = TorchGraph(neuron, [[0.5, -1.0, 2.0, 0.1]])
    print("dL/dweight =", graph.grad("layer.weight").tolist())
    graph.save(out / "neuron.png", with_all=True)
    graph.animate(direction="backward").save(out / "neuron_backward.gif")
