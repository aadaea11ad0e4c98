"""Capture: run ``func`` once; record its ops, values, names and one backward pass.

The phases, one module each:

- :mod:`.record`: the :class:`Recorder`, a context manager around the one call of ``func``
  that sees every torch call (a ``TorchFunctionMode``) and every ``nn.Module`` call;
- :mod:`.structure`: which autograd nodes each recorded call made;
- :mod:`.backward` (and :mod:`.reentrant`): one backward pass, read per value and per edge;
- :mod:`.naming`: names from ``func``'s variables, modules and containers;
- :mod:`.build`: nodes and edges of the :class:`~graphanim.graph.Graph`;
- :mod:`.state`: module buffers and random generators, put back afterwards;
- :mod:`.inputs`: arguments, outputs and seeds; :mod:`.run` puts the phases together.
"""

from __future__ import annotations

from .errors import GraphanimWarning, TraceError
from .inputs import as_input
from .record import ALIAS_NUMEL, Recorder
from .run import capture, trace
from .state import (
    BUFFER_COPY_NUMEL,
    ModuleState,
    forked_rng,
    modules_kept,
    rng_state,
    set_rng_state,
)

__all__ = [
    "ALIAS_NUMEL",
    "BUFFER_COPY_NUMEL",
    "GraphanimWarning",
    "ModuleState",
    "Recorder",
    "TraceError",
    "as_input",
    "capture",
    "forked_rng",
    "modules_kept",
    "rng_state",
    "set_rng_state",
    "trace",
]
