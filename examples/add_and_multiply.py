"""Addition hands the gradient on unchanged; multiplication swaps the operands.

With the output seeded by 2: ∂(a + b) sends 2 to a and to b; ∂(a · b) sends 2·b to a and 2·a to b.
"""

from _common import output_folder

from graphanim import TorchGraph


def add(a, b):
    return a + b


def multiply(a, b):
    return a * b


if __name__ == "__main__":
    out = output_folder(__doc__)
    for func in (add, multiply):
        graph = TorchGraph(func, [3.0, -4.0], grad_outputs=2.0)
        print(func.__name__, {n: graph.grad(n).item() for n in "ab"})
        graph.save(out / f"{func.__name__}.png", with_all=True)
