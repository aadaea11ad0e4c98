"""The frame model: :class:`Frame`, the shared read-only sets frames show, the frame options."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AUTO_OP_LIMIT",
    "DIRECTIONS",
    "MAX_FRAMES",
    "PHASES",
    "STEPS",
    "Frame",
    "FrameCapWarning",
    "Log",
    "dedup",
]

#: The directions an animation can play.
DIRECTIONS = ("forward", "backward", "both")
#: The phases a frame can belong to.
PHASES = ("title", "forward", "backward", "hold")
#: What one step (frame) of a pass shows: one op, all ops of one layout layer, or one run of ops
#: inside one ``nn.Module``.
STEPS = ("op", "layer", "module")
#: ``step=None`` steps op by op up to this many ops, by module or layer above it.
AUTO_OP_LIMIT = 300
#: Default cap on the number of frames of an animation.
MAX_FRAMES = 500


class FrameCapWarning(UserWarning):
    """An animation would have more frames than ``max_frames``: several steps share a frame."""


@dataclass(frozen=True)
class Frame:
    """One frame of an animation, as plain data (no drawing).

    Attributes
    ----------
    index : int
        Position of the frame in the animation (0-based).
    phase : str
        ``"title"``, ``"forward"``, ``"backward"`` or ``"hold"``.
    caption : str
        Text shown under the graph: what happens in this step, with numbers (mathtext allowed).
    active : tuple of str
        Node ids highlighted in this step (the op that runs and the values it reads/writes).
    active_edges : tuple of int
        Indexes into ``graph.edges`` highlighted in this step.
    values : set of str
        Ids of value nodes whose forward value is shown.
    grads : set of str
        Ids of value nodes whose gradient is shown.
    edge_grads : set of int
        Indexes into ``graph.edges`` whose gradient contribution is shown.
    done : set of str
        Ids of nodes already processed in this pass (drawn in the "done" style).

        ``values``, ``grads``, ``edge_grads`` and ``done`` are read-only sets: frozensets, or for
        frames built together, views of one shared record of what was added in which order (so an
        animation of a huge graph does not hold a copy of every set per frame). They compare equal
        to the frozensets of the same elements.
    sums : dict
        Node id -> accumulation text shown at a value that sums several contributions
        (``"2 + 3 = 5"``; ``"2 + …"`` while contributions are still missing).
    step : int or None
        Index of the op step within its pass (``None`` for title/hold frames).
    direction : str or None
        The pass this frame belongs to, ``"forward"`` or ``"backward"`` (for a title frame the pass
        it introduces, for the hold frame the last pass shown).
    saved : tuple of str
        Backward steps: ids of the value nodes the op's backward reads (the tensors autograd saved
        for it, ``Node.attrs["saved"]``), highlighted while the step runs.
    note : str
        A second caption line about the saved tensors (``"sin′ uses the saved input x"``), drawn
        under the caption in the colour of the saved-tensor highlight.
    ops : tuple of str
        Ids of the op nodes this step runs (one, or several when stepping by layer or module).
    """

    index: int
    phase: str
    caption: str = ""
    active: tuple[str, ...] = ()
    active_edges: tuple[int, ...] = ()
    values: AbstractSet[str] = frozenset()
    grads: AbstractSet[str] = frozenset()
    edge_grads: AbstractSet[int] = frozenset()
    done: AbstractSet[str] = frozenset()
    sums: dict[str, str] = field(default_factory=dict)
    step: int | None = None
    direction: str | None = None
    saved: tuple[str, ...] = ()
    note: str = ""
    ops: tuple[str, ...] = ()


class _FrameSet(AbstractSet):  # type: ignore[type-arg]
    """A read-only set: the first ``n`` entries of a shared, append-only log, minus ``skip``."""

    __slots__ = ("_items", "_n", "_rank", "_skip")

    def __init__(self, items: list[Any], rank: dict[Any, int], n: int,
                 skip: frozenset[Any] = frozenset()) -> None:
        self._items, self._rank, self._n, self._skip = items, rank, n, skip

    def __contains__(self, x: object) -> bool:
        r = self._rank.get(x)
        return r is not None and r < self._n and x not in self._skip

    def __len__(self) -> int:
        return self._n - len(self._skip)

    def __iter__(self) -> Iterator[Any]:
        skip = self._skip
        return (x for x in itertools.islice(self._items, self._n) if x not in skip)

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> frozenset[Any]:
        return frozenset(it)

    __hash__ = AbstractSet._hash

    def __repr__(self) -> str:
        return f"FrameSet({sorted(self, key=str)!r})"


class Log:
    """What is shown so far, in the order it was added; frames take cheap snapshots of it."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.rank: dict[Any, int] = {}

    def add(self, x: Any) -> None:
        if x not in self.rank:
            self.rank[x] = len(self.items)
            self.items.append(x)

    def update(self, xs: Iterable[Any]) -> None:
        for x in xs:
            self.add(x)

    def __contains__(self, x: object) -> bool:
        return x in self.rank

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def snapshot(self, skip: Iterable[Any] = ()) -> _FrameSet:
        drop = frozenset(x for x in skip if x in self.rank)
        return _FrameSet(self.items, self.rank, len(self.items), drop)


def dedup(ids: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ids))
