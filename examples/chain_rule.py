"""The chain rule, step by step: r = ((x² + y)·z)² at x=1, y=2, z=4.

By hand: r = 144, ∂r/∂x = 2w·z·2x = 192, ∂r/∂y = 2w·z = 96, ∂r/∂z = 2w·v = 72.
Writes chain_rule.png (every value, gradient and edge contribution) and chain_rule_backward.gif.
"""

from _common import output_folder

from graphanim import TorchGraph


def r_of(x, y, z):
    u = x**2
    v = u + y
    w = z * v
    r = w**2
    return r


if __name__ == "__main__":
    out = output_folder(__doc__)
    graph = TorchGraph(r_of, [1.0, 2.0, 4.0])
    print("r =", graph.value("r").item(), {n: graph.grad(n).item() for n in "xyz"})
    graph.save(out / "chain_rule.png", with_all=True)
    graph.animate(direction="backward").save(out / "chain_rule_backward.gif")
    graph.animate(direction="forward").save(out / "chain_rule_forward.gif")
