"""Custom autograd Functions shared by the tests: a correct sigmoid, one with a wrong backward."""

from __future__ import annotations

import torch

from graphanim import trackable_function


@trackable_function
class Sigmoid(torch.autograd.Function):
    """σ(x) = 1 / (1 + e^-x), with its own backward σ(1 - σ)."""

    name = r"$\sigma$"

    @staticmethod
    def forward(ctx, x):
        y = 1 / (1 + torch.exp(-x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y * (1 - y)


@trackable_function
class DoubledSigmoid(torch.autograd.Function):
    """A sigmoid whose backward deliberately returns twice the true derivative."""

    name = r"$\sigma$"

    @staticmethod
    def forward(ctx, x):
        y = torch.sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return 2 * grad * y * (1 - y)
