"""Tensors: (t1 · t2).sum() on 2×3 matrices; each gradient is the other matrix."""

from _common import output_folder

from graphanim import TorchGraph


def total(t1, t2):
    product = t1 * t2
    return product.sum()


if __name__ == "__main__":
    out = output_folder(__doc__)
    t1 = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    t2 = [[0.5, -1.0, 2.0], [1.5, 0.0, -2.0]]
    graph = TorchGraph(total, [t1, t2])
    print("d total / d t1 =", graph.grad("t1").tolist())
    graph.save(out / "tensors.png", with_all=True)
    graph.animate(direction="backward").save(out / "tensors_backward.gif")
