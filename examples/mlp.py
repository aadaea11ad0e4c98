"""A small MLP with a mean-squared-error loss: 3 → 4 → 1 on a batch of 5."""

import torch
from _common import output_folder

from graphanim import TorchGraph

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))


def loss_of(x, target):
    prediction = model(x)
    loss = torch.nn.functional.mse_loss(prediction, target)
    return loss


if __name__ == "__main__":
    out = output_folder(__doc__)
    x = torch.randn(5, 3)
    target = torch.randn(5, 1)
    graph = TorchGraph(loss_of, [x, target])
    print("loss =", graph.value("loss").item(), "parameters:", list(graph.parameters))
    graph.save(out / "mlp.png", with_all=True)
    graph.animate(direction="backward").save(out / "mlp_backward.gif")
