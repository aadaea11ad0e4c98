"""State a capture puts back: module buffers changed in place, the random generators."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import torch

from .errors import GraphanimWarning

__all__ = [
    "BUFFER_COPY_NUMEL",
    "ModuleState",
    "forked_rng",
    "modules_kept",
    "rng_state",
    "set_rng_state",
]


#: Module buffers with up to this many elements are copied while ``func`` runs, to be put back.
BUFFER_COPY_NUMEL = 1 << 16


class ModuleState:
    """The buffers of the modules seen (:meth:`see`), to put back (:meth:`restore`) what the
    code that ran changed in place: a BatchNorm in training mode updates its running
    statistics, and capturing (or checking) must leave the user's modules as they were.

    Buffers of more than ``BUFFER_COPY_NUMEL`` elements (positional tables, masks: read, not
    written) are not copied; if one of them is written all the same, :meth:`restore` warns.
    """

    __slots__ = ("buffers", "seen")

    def __init__(self) -> None:
        self.seen: set[int] = set()
        # id -> (buffer, a copy of its contents or None when too big, its version)
        self.buffers: dict[int, tuple[torch.Tensor, torch.Tensor | None, int]] = {}

    def see(self, mod: Any) -> None:
        """Keep the buffers of ``mod`` and of every module inside it (once per module)."""
        if id(mod) in self.seen:
            return
        kept = self.buffers
        for m in mod.modules():
            self.seen.add(id(m))
            for b in m._buffers.values():
                if b is not None and id(b) not in kept:
                    copy = b.detach().clone() if b.numel() <= BUFFER_COPY_NUMEL else None
                    kept[id(b)] = (b, copy, b._version)

    def restore(self) -> None:
        """Put back every kept buffer that changed (warn about big ones that cannot be)."""
        # kernels may write a buffer without a version bump (BatchNorm's running statistics):
        # the contents are compared too
        lost = 0
        with torch.no_grad():
            for b, contents, version in self.buffers.values():
                if contents is None:
                    lost += b._version != version
                    continue
                try:
                    changed = b._version != version or not torch.equal(b, contents)
                except (RuntimeError, NotImplementedError):  # no data to compare (meta)
                    changed = True
                if changed:
                    b.copy_(contents)
        if lost:
            warnings.warn(
                f"{lost} module buffer(s) of more than {BUFFER_COPY_NUMEL} elements were "
                "changed in place while func ran; graphanim copies only smaller buffers, so "
                "these keep their new contents",
                GraphanimWarning,
                stacklevel=4,
            )


@contextlib.contextmanager
def modules_kept() -> Iterator[None]:
    """Every module called inside the block has its buffers put back when the block ends."""
    from torch.nn.modules import module as M

    state = ModuleState()
    hook = M.register_module_forward_pre_hook(lambda mod, inputs: state.see(mod))
    try:
        yield
    finally:
        hook.remove()
        state.restore()


def _rng_devices() -> list[int]:
    return list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []


def rng_state() -> tuple[Any, list[Any]]:
    """The state of the CPU random generator and of the CUDA ones in use."""
    return torch.get_rng_state(), [torch.cuda.get_rng_state(d) for d in _rng_devices()]


def set_rng_state(state: tuple[Any, list[Any]]) -> None:
    """Set the generators to ``state`` (from :func:`rng_state`)."""
    cpu, cuda = state
    torch.set_rng_state(cpu)
    for device, s in enumerate(cuda):
        torch.cuda.set_rng_state(s, device)


@contextlib.contextmanager
def forked_rng(state: tuple[Any, list[Any]] | None = None) -> Iterator[None]:
    """Random draws inside the block leave the caller's generators where they were
    (``state``: theirs now, from :func:`rng_state`, if the caller has it already)."""
    if state is None:
        state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
