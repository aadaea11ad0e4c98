"""The real networks a course builds after the lecture graphs (issue 19), as ``(func, args)``.

Shared by ``bench/networks.py`` (legibility table) and the tests; every builder is seeded, so the
same call gives the same weights, inputs and graph. Each ``func`` returns a scalar loss.

- ``mlp``: MLP 784-128-10 with cross-entropy, batch 4;
- ``lenet``: a LeNet-style CNN on 1x1x28x28 (conv 6@5x5, pool, conv 16@5x5, pool, fc 120, 84, 10);
- ``lstm``: ``nn.LSTM(8, 16)`` over 5 steps (batch 1) + a linear head on the last hidden state;
- ``transformer``: one ``nn.TransformerEncoderLayer(d_model=32, nhead=4)`` (dropout 0,
  feed-forward 64) on 3 tokens x batch 1, reduced by ``pow(2).mean()``;
- ``resnet18``: torchvision's ``resnet18(num_classes=10)`` if importable, else an equal-shaped
  definition (stem, four stages of two basic blocks 64-128-256-512, pool, fc) on 2x3x32x32 with
  cross-entropy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["NETWORKS", "build"]

Workload = tuple[Callable[..., Any], list[Any]]


def mlp() -> Workload:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    x = torch.randn(4, 784)
    target = torch.tensor([3, 1, 4, 1])

    def loss(x: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(x), target)

    return loss, [x]


class LeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


def lenet() -> Workload:
    torch.manual_seed(0)
    model = LeNet()
    x = torch.randn(1, 1, 28, 28)
    target = torch.tensor([7])

    def loss(x: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(x), target)

    return loss, [x]


class LSTMHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 16)
        self.head = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[-1])


def lstm() -> Workload:
    torch.manual_seed(0)
    model = LSTMHead()
    x = torch.randn(5, 1, 8)

    def loss(x: torch.Tensor) -> torch.Tensor:
        return model(x).pow(2).mean()

    return loss, [x]


def transformer() -> Workload:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0)
    x = torch.randn(3, 1, 32)

    def loss(x: torch.Tensor) -> torch.Tensor:
        return layer(x).pow(2).mean()

    return loss, [x]


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet-18's shape (torchvision's layer names) for machines without torchvision."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [64, 128, 256, 512]
        cin = 64
        for k, w in enumerate(widths, start=1):
            stride = 1 if k == 1 else 2
            setattr(self, f"layer{k}", nn.Sequential(_Block(cin, w, stride), _Block(w, w)))
            cin = w
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18() -> Workload:
    torch.manual_seed(0)
    try:
        from torchvision.models import resnet18 as tv_resnet18  # type: ignore[import-not-found]

        model: nn.Module = tv_resnet18(num_classes=10)
    except ImportError:
        model = ResNet18(10)
    x = torch.randn(2, 3, 32, 32)
    target = torch.tensor([2, 7])

    def loss(x: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(x), target)

    return loss, [x]


NETWORKS: dict[str, Callable[[], Workload]] = {
    "mlp": mlp,
    "lenet": lenet,
    "lstm": lstm,
    "transformer": transformer,
    "resnet18": resnet18,
}


def build(name: str) -> Workload:
    """``(func, args)`` of the network called ``name`` (one of ``NETWORKS``)."""
    try:
        return NETWORKS[name]()
    except KeyError:
        raise ValueError(f"unknown network {name!r}; choose one of {sorted(NETWORKS)}") from None
