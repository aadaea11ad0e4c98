"""Gradients add up where a value branches: e = (a + b)·(b + 1) at a=2, b=1.

b feeds both factors, so it receives 2 (through c = a + b) plus 3 (through d = b + 1): 5.
The second graph uses one input twice in one op: x·x sends x to each operand, 3 + 3 = 6.
"""

from _common import output_folder

from graphanim import TorchGraph


def e_of(a, b):
    c = a + b
    d = b + 1
    e = c * d
    return e


def square(x):
    return x * x


if __name__ == "__main__":
    out = output_folder(__doc__)
    graph = TorchGraph(e_of, [2.0, 1.0])
    print("de/db =", graph.grad("b").item())
    graph.save(out / "branches.png", with_all=True)
    graph.animate(direction="backward").save(out / "branches_backward.gif")
    twice = TorchGraph(square, [3.0])
    print("d(x·x)/dx =", twice.grad("x").item())
    twice.save(out / "used_twice.png", with_all=True)
