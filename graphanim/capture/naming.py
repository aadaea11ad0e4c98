"""Naming: every value, module and parameter of a capture gets a name from ``func``'s code.

A value is named by the first of: the argument it is, the output name (dict key, namedtuple
field), the local variable of ``func`` holding it when ``func`` returned; a leaf or constant
then by the module parameter or buffer it is (``net.0.weight``), or the closure/global
variable or container entry holding it (:class:`HeldNames`); anything else by its op.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from ..graph import valid_text
from .record import Key, Recorder, key_of

__all__ = ["CONTAINER_NAMES_MAX", "HeldNames", "Names"]


class Names:
    """The names of one capture: values by key, modules and parameters by path, and the
    names handed out so far (:meth:`unique`)."""

    def __init__(
        self,
        func: Any,
        wrapped: list[Any],
        in_names: list[str],
        rec: Recorder,
        outputs: list[tuple[str | None, Key]],
    ) -> None:
        final_locals = rec.final_locals
        #: value key -> its name from an argument, an output or a local variable
        self.of_key: dict[Key, str] = {}
        for nm, a in zip(in_names, wrapped):
            if isinstance(a, torch.Tensor):
                self.of_key.setdefault(key_of(a), nm)
        for out_name, k in outputs:
            if out_name is not None:
                self.of_key.setdefault(k, out_name)
        for nm, t in final_locals.items():
            if isinstance(t, torch.Tensor) and not nm.startswith("__"):
                self.of_key.setdefault(key_of(t), nm)
        # modules func made or held in its own variables (``layer = nn.Linear(2, 1)``) are named so
        local_modules = {
            k: v
            for k, v in final_locals.items()
            if issubclass(type(v), torch.nn.Module) and not k.startswith("__")
        }
        #: id(module) -> its path; module path -> class name (named_modules() order);
        #: id(parameter or buffer) -> its path
        self.module_of: dict[int, str] = {}
        self.module_class: dict[str, str] = {}
        self.params: dict[int, str] = {}
        roots = list(rec.root_modules)
        if isinstance(func, torch.nn.Module) and all(m is not func for m in roots):
            roots.insert(0, func)
        prefixes = _module_prefixes(
            [m for m in roots if m is not func], func, wrapped, in_names, local_modules
        )
        for mod in roots:
            self._add_module(mod, "" if mod is func else prefixes[id(mod)])
        self.held = HeldNames(func, wrapped, in_names, final_locals)
        self.taken: set[str] = set()
        self._next_suffix: dict[str, int] = {}

    def _add_module(self, mod: Any, prefix: str) -> None:
        owned: list[tuple[str, Any]] = []  # parameters first, then buffers, as named_* give them
        buffers: list[tuple[str, Any]] = []
        module_of, module_class = self.module_of, self.module_class
        for path, m in mod.named_modules():
            full = f"{prefix}.{path}" if prefix and path else prefix or path
            if not full.isascii():
                full = valid_text(full)
            if module_of.setdefault(id(m), full) == full:
                module_class.setdefault(full, type(m).__name__)
            dot = f"{full}." if full else ""
            owned.extend((dot + nm, p) for nm, p in m._parameters.items() if p is not None)
            buffers.extend((dot + nm, b) for nm, b in m._buffers.items() if b is not None)
        for path, p in owned + buffers:
            self.params.setdefault(id(p), path)

    def unique(self, name: str) -> str:
        """``name``, or ``name_1``, ``name_2``, ... when it is taken already."""
        taken = self.taken
        if name not in taken:
            taken.add(name)
            return name
        i = self._next_suffix.get(name, 1)
        cand = f"{name}_{i}"
        while cand in taken:
            i += 1
            cand = f"{name}_{i}"
        self._next_suffix[name] = i + 1
        taken.add(cand)
        return cand


def _holders(
    func: Any, wrapped: list[Any], in_names: list[str], local_objects: dict[str, Any]
) -> Iterator[tuple[str, Any]]:
    """``(name, value)`` of the variables of ``func`` that may hold an object, in the order they
    name it: arguments, local variables (when ``func`` returned), closure, public globals."""
    yield from zip(in_names, wrapped)
    yield from local_objects.items()
    target = getattr(func, "__func__", func)
    if isinstance(target, torch.nn.Module):
        return
    code = getattr(target, "__code__", None)
    closure = getattr(target, "__closure__", None) or ()
    if code is not None:
        for nm, cell in zip(code.co_freevars, closure):
            try:
                yield nm, cell.cell_contents
            except ValueError:  # an empty cell
                continue
    for nm, v in list((getattr(target, "__globals__", None) or {}).items()):
        if not nm.startswith("_"):
            yield nm, v


def _module_prefixes(
    mods: list[Any],
    func: Any,
    wrapped: list[Any],
    in_names: list[str],
    local_modules: dict[str, Any],
) -> dict[int, str]:
    """Names (by ``id``) for the modules ``func`` called itself (not from inside another module).

    A module's path inside a module held by one of ``func``'s variables (see :func:`_holders`)
    comes first (``layers.2`` for ``for layer in layers``, whichever module the loop variable
    holds last); then the variable holding the module itself (``layer`` for
    ``layer = nn.Linear(2, 1)``); then its class name. Two modules never share a name
    (``linear``, ``linear_1``).
    """
    if not mods:
        return {}
    wanted = {id(m) for m in mods}
    inside: dict[int, str] = {}
    direct: dict[int, str] = {}
    for nm, v in _holders(func, wrapped, in_names, local_modules):
        if not issubclass(type(v), torch.nn.Module):  # (never asks a proxy for __class__)
            continue
        if id(v) in wanted:
            direct.setdefault(id(v), nm)
        for path, m in v.named_modules():
            if path and id(m) in wanted:
                inside.setdefault(id(m), f"{nm}.{path}")
    names: dict[int, str] = {}
    taken: set[str] = set()
    for m in mods:
        name = inside.get(id(m)) or direct.get(id(m)) or type(m).__name__.lower()
        base, i = name, 1
        while name in taken:
            name = f"{base}_{i}"
            i += 1
        taken.add(name)
        names[id(m)] = name
    return names


#: Containers with more entries than this are not searched for names (see ``HeldNames``).
CONTAINER_NAMES_MAX = 1 << 16


class HeldNames:
    """Names for tensors that no argument, output or local variable names: the closure or
    global variable of ``func`` holding the tensor (``w``), or, one level deep, the dict, list
    or tuple entry holding it (``params["0.weight"]``, ``ws[0]``), also in arguments and local
    variables (``torch.func.functional_call(net, params, ...)``).

    A variable holding the tensor itself wins over a container entry; otherwise the first in
    :func:`_holders`'s order, then the container's own (insertion or index) order. The index is
    built at the first lookup: captures that name everything otherwise pay nothing.
    """

    __slots__ = ("func", "in_names", "index", "local_objects", "wrapped")

    def __init__(
        self, func: Any, wrapped: list[Any], in_names: list[str], local_objects: dict[str, Any]
    ) -> None:
        self.func = func
        self.wrapped = wrapped
        self.in_names = in_names
        self.local_objects = local_objects
        self.index: dict[int, str] | None = None

    def name_of(self, t: torch.Tensor) -> str | None:
        """The name of the variable or container entry holding ``t``, if any."""
        if self.index is None:
            self.index = self._build()
        return self.index.get(id(t))

    def _build(self) -> dict[int, str]:
        index: dict[int, str] = {}
        containers: list[tuple[str, Any]] = []
        for nm, v in _holders(self.func, [], [], {}):
            if isinstance(v, torch.Tensor):
                index.setdefault(id(v), nm)
            elif isinstance(v, (dict, list, tuple)):
                containers.append((nm, v))
        args_and_locals = [*zip(self.in_names, self.wrapped), *self.local_objects.items()]
        containers[:0] = [
            (nm, v) for nm, v in args_and_locals if isinstance(v, (dict, list, tuple))
        ]
        for nm, held in containers:
            if len(held) > CONTAINER_NAMES_MAX:
                continue
            entries = held.items() if isinstance(held, dict) else enumerate(held)
            for key, v in entries:
                if isinstance(v, torch.Tensor) and id(v) not in index:
                    entry = _entry_name(nm, key)
                    if entry is not None:
                        index[id(v)] = entry
        return index


def _entry_name(holder: str, key: Any) -> str | None:
    """``params["0.weight"]``, ``ws[0]``: the name of a container entry (None for other keys)."""
    if isinstance(key, str):
        return f'{holder}["{valid_text(key)}"]' if '"' not in key else f"{holder}[{key!r}]"
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{holder}[{key}]"
    return None
