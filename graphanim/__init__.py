"""graphanim: see PyTorch autograd at work, as pictures and animations of the computation graph."""

from __future__ import annotations

from .functions import trackable_function
from .graph import Edge, Graph, Node
from .torchgraph import TorchGraph

__all__ = ["Edge", "Graph", "Node", "TorchGraph", "__version__", "trackable_function"]

__version__ = "0.1.0"
