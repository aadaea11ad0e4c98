"""What each animation frame shows (active nodes, values, gradients, caption), as data.

:func:`build_frames` makes the frames of a graph's forward and/or backward pass: a title frame,
one frame per step, a hold frame with the complete picture; what is shown only grows from frame
to frame.

Forward step: the op is active and its output value appears; the caption works it out
(``"c = a + b = 2 + 1 = 3"``). Backward step: the op is active and the gradient arrives on each
input edge with its number (``Edge.grad``); the caption spells out the chain rule with the
local derivative of :func:`graphanim.explain.local_derivative` (edge gradient ÷ upstream
gradient, for scalars): ``"∂e/∂c = d = 2, so c receives 1 × 2 = 2"``. The values the op's
backward reads (its saved tensors) are listed in :attr:`Frame.saved` and named in
:attr:`Frame.note` (``"sin′ uses the saved input x"``). A value used by several ops shows its
partial sum in :attr:`Frame.sums` (``"2 + …"``) and the full sum (``"2 + 3 = 5"``) once every
contribution has arrived; only then does its gradient become visible.

Large graphs step through several ops per frame: ``step="layer"`` runs all ops of one layout
layer per frame (forward: layer 1 first; backward: the last layer first), ``step="module"``
one run of consecutive ops inside the same call of an ``nn.Module`` (``Node.attrs["module"]``
and ``["module_call"]``); the caption starts with the layer or module (``"Layer 3 of 12: 4 ops
(2 add, 2 mul)"``, ``"cell (Linear), call 2 of 3"`` for a module called 3 times). When a
pass would still need more frames than ``max_frames`` allows, consecutive steps share a frame
and a :class:`FrameCapWarning` says so.

One job per module: :mod:`~graphanim.frames.model` (:class:`Frame` and the options),
:mod:`~graphanim.frames.steps` (what one step runs: an op, a layer, a module run),
:mod:`~graphanim.frames.forward` and :mod:`~graphanim.frames.backward` (the frames of each pass),
:mod:`~graphanim.frames.builder` (the state they share, the hold frame),
:mod:`~graphanim.frames.captions` (every caption text) and :mod:`~graphanim.frames.build`
(:func:`build_frames`).
"""

from __future__ import annotations

from .build import build_frames
from .captions import local_label, saved_note
from .model import AUTO_OP_LIMIT, DIRECTIONS, MAX_FRAMES, PHASES, STEPS, Frame, FrameCapWarning

__all__ = [
    "AUTO_OP_LIMIT",
    "DIRECTIONS",
    "MAX_FRAMES",
    "PHASES",
    "STEPS",
    "Frame",
    "FrameCapWarning",
    "build_frames",
    "local_label",
    "saved_note",
]
