"""Forward recording: the ``Recorder`` that sees every torch call ``func`` makes."""

from __future__ import annotations

import contextlib
import sys
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from .. import functions
from ..graph import valid_text
from ..ops import op_label
from .errors import GraphanimWarning
from .state import ModuleState, forked_rng, rng_state

__all__ = ["ALIAS_NUMEL", "Call", "Key", "Recorder", "key_of"]


#: Computed values with more elements than this are kept as aliases, not copies (see ``snap``).
ALIAS_NUMEL = 4096

#: Reflected operators: (name after normalising, operands swapped).
_DUNDER = {
    "__add__": ("add", False),
    "__radd__": ("add", True),
    "__iadd__": ("add_", False),
    "__sub__": ("sub", False),
    "__rsub__": ("sub", True),
    "__isub__": ("sub_", False),
    "__mul__": ("mul", False),
    "__rmul__": ("mul", True),
    "__imul__": ("mul_", False),
    "__truediv__": ("div", False),
    "__div__": ("div", False),
    "__rtruediv__": ("div", True),
    "__rdiv__": ("div", True),
    "__itruediv__": ("div_", False),
    "__idiv__": ("div_", False),
    "__floordiv__": ("floor_divide", False),
    "__rfloordiv__": ("floor_divide", True),
    "__mod__": ("remainder", False),
    "__rmod__": ("remainder", True),
    "__pow__": ("pow", False),
    "__rpow__": ("pow", True),
    "__ipow__": ("pow_", False),
    "__matmul__": ("matmul", False),
    "__rmatmul__": ("matmul", True),
    "__neg__": ("neg", False),
    "__pos__": ("positive", False),
    "__abs__": ("abs", False),
    "__getitem__": ("getitem", False),
    "__setitem__": ("setitem", False),
}
_ALIASES = {
    "true_divide": "div",
    "divide": "div",
    "subtract": "sub",
    "multiply": "mul",
    "negative": "neg",
    "absolute": "abs",
    "rsub": "sub",
    "arctan": "atan",
    "arcsin": "asin",
    "arccos": "acos",
    "clip": "clamp",
    "float_power": "pow",
}
#: Ops whose Python-number arguments are math operands (drawn as constant nodes).
_SCALAR_OPERAND_OPS = frozenset(
    "add sub mul div rsub maximum minimum max min where remainder fmod floor_divide atan2 "
    "hypot lerp xlogy add_ sub_ mul_ div_ eq ne lt le gt ge".split()
)

class _LabelCache(dict):  # type: ignore[type-arg]
    """op -> its label when the op has no attributes (``op_label(op)``), computed once."""

    def __missing__(self, op: str) -> str:
        label = self[op] = op_label(op)
        return label


_LABELS = _LabelCache()
_NAME_CACHE: dict[Any, tuple[str, bool]] = {}
#: torch function -> (op name, operands swapped, in place by its name)
_OPS: dict[Any, tuple[str, bool, bool]] = {}


def _op_name(func: Any) -> tuple[str, bool]:
    """(normalised op name, operands swapped) for a torch function or method."""
    try:
        return _NAME_CACHE[func]
    except (KeyError, TypeError):
        pass
    name = getattr(func, "__name__", None) or type(func).__name__
    swapped = False
    if name == "__get__":  # a property such as Tensor.T
        owner = getattr(func, "__self__", None)
        name = getattr(owner, "__name__", "get")
    elif name in _DUNDER:
        name, swapped = _DUNDER[name]
    if name.startswith("__") and name.endswith("__") and len(name) > 4:
        name = name[2:-2]
    name = _ALIASES.get(name, name)
    result = (name, swapped)
    try:
        _NAME_CACHE[func] = result
    except TypeError:
        pass
    return result


# --------------------------------------------------------------------------------------------
# recording

Key = tuple[Any, Any]


def key_of(t: torch.Tensor) -> Key:
    """What names a value: ``(grad_fn, output_nr)``, or ``("leaf"/"const", id)`` for a tensor
    without a ``grad_fn``."""
    fn = t.grad_fn
    if fn is not None:
        return (fn, t.output_nr)
    if t.requires_grad:
        return ("leaf", id(t))
    return ("const", id(t))


class Call:
    """One recorded op: a torch function call or a ``@trackable_function`` apply."""

    __slots__ = ("attrs", "internal", "label", "module", "op", "operands", "outputs", "pending",
                 "saved", "seq", "tensors")

    def __init__(
        self,
        op: str,
        label: str,
        operands: list[tuple[str, Any]],
        outputs: Sequence[Key],
        attrs: dict[str, Any],
        module: Any = None,
        tensors: Sequence[torch.Tensor] = (),
    ) -> None:
        self.op = op
        self.label = label
        self.operands = operands  # ("t", key) or ("n", number), in operand order
        self.outputs = outputs  # keys of the differentiable outputs, in output order
        self.attrs = attrs
        self.module = module  # number of the innermost nn.Module call running, if any
        self.seq = 0
        self.internal: Sequence[Any] = ()  # autograd nodes this op created (a list once known)
        self.saved: Sequence[Key] = ()  # values its backward reads (saved tensors)
        self.tensors: Sequence[torch.Tensor] = tensors  # the output tensors, until backward ran
        # (args, kwargs, operands swapped) while the operands are still to be read (see
        # Recorder.resolve)
        self.pending: tuple[Sequence[Any], dict[str, Any], bool] | None = None


class Recorder:
    """Collects calls, value snapshots and module context while ``func`` runs.

    Used as a context manager around the one call of ``func`` (``with Recorder(...) as rec:
    result = func(*args)``): entering installs what records (a ``TorchFunctionMode``, module
    hooks, the ``@trackable_function`` hook) and forks the random generators; leaving removes
    all of it, whatever ``func`` raised, and keeps ``func``'s final local variables
    (``final_locals``), which name values.
    """

    def __init__(
        self, modules: ModuleState, code: types.CodeType | None = None, *, mode: bool = True
    ) -> None:
        self.calls: list[Call] = []
        self.snapshots: dict[Key, torch.Tensor] = {}
        self.keep: dict[int, torch.Tensor] = {}  # id -> tensor, keeps leaf/const ids valid
        self.module_stack: list[Any] = []
        # one entry per nn.Module call, in call order: (module, number of the enclosing call)
        self.module_calls: list[tuple[Any, int | None]] = []
        self.call_stack: list[int] = []  # numbers of the module calls running now
        self.module_names: dict[int, str] = {}
        self.root_modules: list[Any] = []
        self.modules = modules  # what the modules called had, put back when trace() ends
        self.rng: tuple[Any, list[Any]] | None = None  # the random state func started from
        # calls before this index have their operands read (see resolve_all)
        self.resolved = 0
        # storage address -> keys of aliased values; built at the first in-place op
        self.aliases: dict[int, list[Key]] | None = None
        self.versions: dict[Key, int] = {}  # aliased value -> its version counter when recorded
        # func's own frame, found from the first recorded op; its locals name the values
        self.code = code
        self.frame: types.FrameType | None = None
        self.stop: types.FrameType | None = None
        self.final_locals: dict[str, Any] = {}
        self.result: Any = None  # what func returned
        self.use_mode = mode  # False for a torch.compile'd func: its ops are not seen one by one
        self._exit: contextlib.ExitStack | None = None

    # the one call of func ---------------------------------------------------------------
    def __enter__(self) -> Recorder:
        stack = contextlib.ExitStack()
        stack.callback(self._uninstall, _module_hooks(self))
        functions.RECORDERS.append(self)
        # func draws from forked random generators: dropout masks and the like are the ones
        # func would draw now, and the caller's generators are left where they were
        self.rng = rng_state()
        stack.enter_context(forked_rng(self.rng))
        stack.enter_context(torch.enable_grad())
        if self.use_mode:
            stack.enter_context(_CaptureMode(self))
        self.stop = sys._getframe(1)  # the frame calling func: find_frame looks no further
        self._exit = stack
        return self

    def __exit__(self, *exc: object) -> None:
        if self._exit is not None:
            self._exit.close()
            self._exit = None

    def _uninstall(self, hooks: list[Any]) -> None:
        functions.RECORDERS.remove(self)
        for h in hooks:
            h.remove()
        self.final_locals = dict(self.frame.f_locals) if self.frame is not None else {}
        self.frame = self.stop = None

    def reached(self, nexts: dict[Any, Any]) -> list[Call]:
        """The calls whose outputs the autograd nodes ``nexts`` hold (what the outputs depend
        on), their operands read."""
        calls: list[Call] = []
        for call in self.calls:
            made = call.outputs
            if made[0][0] in nexts or any(k[0] in nexts for k in made[1:]):
                if call.pending is not None:
                    self.resolve(call)
                calls.append(call)
        return calls

    def warn_stale(self) -> None:
        """Warn if recorded values were changed in place where graphanim could not see it."""
        stale = self.changed_behind_our_back()
        if stale:
            warnings.warn(
                f"{len(stale)} recorded value(s) were changed in place by code graphanim could "
                "not see (e.g. under torch._C.DisableTorchFunction or in a C extension); their "
                "pictures show the later contents",
                GraphanimWarning,
                stacklevel=5,
            )

    def find_frame(self) -> None:
        """Remember the outermost frame running ``func``'s code (its locals are read at the end).

        A frame object that outlives its call keeps its final locals, so holding it is enough: no
        trace function is needed (``sys.settrace`` would slow every Python call down).
        """
        f: types.FrameType | None = sys._getframe(2)
        found = None
        while f is not None and f is not self.stop:
            if f.f_code is self.code:
                found = f
            f = f.f_back
        self.frame = found

    # keys ---------------------------------------------------------------------------------
    def see(self, t: torch.Tensor) -> Key:
        """Key of ``t`` now, snapshotting its value the first time it is seen."""
        fn = t.grad_fn
        if fn is not None:
            k: Key = (fn, t.output_nr)
            if k not in self.snapshots:
                self.snapshots[k] = self.snap(t, k)
            return k
        k = ("leaf" if t.requires_grad else "const", id(t))
        if k not in self.snapshots:
            self.keep[k[1]] = t
            self.snapshots[k] = t.detach().clone()
        return k

    def snap(self, t: torch.Tensor, k: Key) -> torch.Tensor:
        """The value of the computed tensor ``t``: ``t`` itself while ``func`` runs.

        Copying every value as it is computed costs time, and copying every activation of a
        network would double its memory. Values are kept as they are instead and copied only
        when an in-place op is about to change them (``protect``); a change graphanim could not
        see is caught by the version counter. When ``func`` has returned, ``settle`` detaches
        them and copies the small ones (scalars are copied into the graph's packed store when it
        is built).
        """
        self.versions[k] = t._version
        if self.aliases is not None:
            self._index_alias(t, k)
        return t

    def _index_alias(self, alias: torch.Tensor, k: Key) -> None:
        try:
            where = alias.untyped_storage().data_ptr()
        except (RuntimeError, NotImplementedError):  # meta and other storage-less tensors
            return
        self.aliases.setdefault(where, []).append(k)  # type: ignore[union-attr]

    def protect(self, t: Any) -> None:
        """Copy the aliased values that share ``t``'s memory before an op writes into it."""
        if not isinstance(t, torch.Tensor) or not self.versions:
            return
        if self.aliases is None:  # the first in-place op: index the aliases by memory now
            self.aliases = {}
            for k in self.versions:
                self._index_alias(self.snapshots[k], k)
        try:
            where = t.untyped_storage().data_ptr()
        except (RuntimeError, NotImplementedError):
            return
        for k in self.aliases.pop(where, ()):
            if self.versions.pop(k, None) is not None:
                self.snapshots[k] = self.snapshots[k].detach().clone()

    def changed_behind_our_back(self) -> list[Key]:
        """Aliased values whose memory changed after they were recorded, by an unseen write."""
        snapshots = self.snapshots
        return [k for k, v in self.versions.items() if snapshots[k]._version != v]

    def settle(self) -> None:
        """Detach the values kept as they were, and copy the small ones, so that nothing the
        caller does later changes them.

        Big values (more than ``ALIAS_NUMEL`` elements) stay aliases; 0-dim CPU values are
        copied into the packed store when the graph is built (``Packer`` detaches them).
        """
        snapshots = self.snapshots
        for k in self.versions:
            t = snapshots[k]
            if not t.dim() and t.is_cpu:
                continue
            snapshots[k] = t.detach() if t.numel() > ALIAS_NUMEL else t.detach().clone()
        self.versions = {}
        self.aliases = None

    def _operands(
        self, op: str, args: Sequence[Any], kwargs: dict[str, Any]
    ) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
        operands: list[tuple[str, Any]] = []
        attrs: dict[str, Any] = _NO_KWARGS  # replaced by a new dict before any write
        scalars_are_operands = op in _SCALAR_OPERAND_OPS
        extra: list[Any] | None = None
        snapshots = self.snapshots
        for i, a in enumerate(args):
            if isinstance(a, torch.Tensor):
                fn = a.grad_fn
                if fn is not None:  # see(a), written out for the common case
                    key: Key = (fn, a.output_nr)
                    if key not in snapshots:
                        snapshots[key] = self.snap(a, key)
                    operands.append(("t", key))
                else:
                    operands.append(("t", self.see(a)))
            elif isinstance(a, (list, tuple)) and a and any(isinstance(b, torch.Tensor) for b in a):
                for b in a:
                    if isinstance(b, torch.Tensor):
                        operands.append(("t", self.see(b)))
            elif isinstance(a, (int, float)) and not isinstance(a, bool):
                if scalars_are_operands:
                    operands.append(("n", a))
                elif op in ("pow", "pow_") and i == 1:
                    attrs = {"exponent": a}
                else:
                    extra = [a] if extra is None else [*extra, a]
            elif a is not None:
                extra = [a] if extra is None else [*extra, a]
        for k, v in kwargs.items():
            if isinstance(v, torch.Tensor):
                operands.append(("t", self.see(v)))
            elif v is not None and k != "out":
                attrs = {**attrs, k: v}
        if extra:
            attrs = {**attrs, "args": tuple(_describe(e) for e in extra)}
        return operands, attrs

    # the TorchFunctionMode calls this -----------------------------------------------------
    def on_torch_function(self, func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        if self.frame is None and self.code is not None:
            self.find_frame()
        try:
            op, swapped, inplace = _OPS[func]
        except (KeyError, TypeError):
            op, swapped = _op_name(func)
            inplace = op[-1] == "_" or op == "setitem"
            try:
                _OPS[func] = (op, swapped, inplace)
            except TypeError:  # an unhashable callable
                pass
        if kwargs and ("out" in kwargs or kwargs.get("inplace") is True):
            inplace = True
        if not inplace:
            out = func(*args, **kwargs)
            if type(out) is not torch.Tensor:
                return self._record(op, swapped, args, kwargs, out, None)
            fn = out.grad_fn
            if fn is None:
                return out
            # the common case, written out: one new differentiable tensor
            k = (fn, out.output_nr)
            snapshots = self.snapshots
            module = self.call_stack[-1] if self.call_stack else None
            call = Call(op, op, [], (k,), _NO_KWARGS, module, (out,))
            call.pending = (args, kwargs, swapped)
            # Reading the operands waits (most calls of a big program never reach the outputs):
            # their keys stay the same until an in-place op runs, and every in-place op
            # resolves the waiting calls first. Not for keyword arguments or an argument that is
            # a container (either may change later), nor when the op may have returned an input
            # unchanged.
            wait = not kwargs and k not in snapshots
            if wait:
                for a in args:
                    if type(a) is list or type(a) is dict:
                        wait = False
                        break
            if not wait:
                self.resolve(call)
                if k in snapshots and any(k == o[1] for o in call.operands):
                    return out  # the op returned an input unchanged (x.contiguous(), x.float())
            snapshots[k] = out  # detached (or copied) by settle() when func has returned
            self.versions[k] = out._version
            if self.aliases is not None:
                self._index_alias(out, k)
            self.calls.append(call)
            return out
        # the operands' keys change when the op runs: read them first, and every waiting call's
        self.resolve_all()
        pre = self._operands(op, args, kwargs)
        self.protect(kwargs.get("out", args[0] if args else None))
        return self._record(op, swapped, args, kwargs, func(*args, **kwargs), pre)

    def resolve(self, call: Call) -> None:
        """Read the operands of a call recorded with ``pending`` arguments."""
        if call.pending is None:
            return
        args, kwargs, swapped = call.pending
        call.pending = None
        op = call.op
        operands, attrs = self._operands(op, args, kwargs)
        if swapped and len(operands) == 2:
            operands.reverse()
        call.operands = operands
        call.attrs = attrs
        call.label = op_label(op, attrs) if attrs else _LABELS[op]

    def resolve_all(self) -> None:
        """Resolve every waiting call: before an in-place op changes what its operands are."""
        calls = self.calls
        for i in range(self.resolved, len(calls)):
            if calls[i].pending is not None:
                self.resolve(calls[i])
        self.resolved = len(calls)

    def _record(
        self,
        op: str,
        swapped: bool,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        out: Any,
        pre: tuple[list[tuple[str, Any]], dict[str, Any]] | None,
    ) -> Any:
        """Record an op with several outputs, an in-place op (``pre``: its operands, read before
        it ran) or an op returning something other than a plain tensor."""
        if op == "setitem":
            out = args[0]
        outs = _differentiable(out)
        if not outs:
            return out
        operands, attrs = pre if pre is not None else self._operands(op, args, kwargs)
        if swapped and len(operands) == 2:
            operands.reverse()
        self._add_call(op, op_label(op, attrs), operands, outs, attrs)
        return out

    def _add_call(
        self,
        op: str,
        label: str,
        operands: list[tuple[str, Any]],
        outs: list[torch.Tensor],
        attrs: dict[str, Any],
    ) -> None:
        out_keys = []
        kept = []
        snapshots = self.snapshots
        for t in outs:
            k = (t.grad_fn, t.output_nr)
            if k in snapshots and any(k == o[1] for o in operands):
                continue  # the op returned an input unchanged (x.contiguous(), x.float())
            snapshots[k] = self.snap(t, k)
            out_keys.append(k)
            kept.append(t)
        if not out_keys:
            return
        module = self.call_stack[-1] if self.call_stack else None
        self.calls.append(Call(op, label, operands, out_keys, attrs, module, kept))

    # @trackable_function's apply calls this -----------------------------------------------
    def record_function(
        self, cls: type, apply: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]
    ) -> Any:
        if self.frame is None and self.code is not None:
            self.find_frame()
        operands: list[tuple[str, Any]] = []
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, torch.Tensor):
                operands.append(("t", self.see(a)))
            elif isinstance(a, (int, float)) and not isinstance(a, bool):
                operands.append(("n", a))
        out = apply(*args, **kwargs)
        outs = _differentiable(out)
        if outs:
            self._add_call(
                valid_text(cls.__name__),
                functions.function_label(cls),
                operands,
                outs,
                {"function": cls.__qualname__},
            )
        return out


def _describe(v: Any) -> Any:
    if isinstance(v, (int, float, bool, str)) or v is None:
        return v
    if isinstance(v, (list, tuple)) and len(v) <= 8:
        return tuple(_describe(x) for x in v)
    if isinstance(v, torch.dtype):
        return str(v).replace("torch.", "")
    return type(v).__name__


def _differentiable(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out] if out.grad_fn is not None else []
    if isinstance(out, (list, tuple)):
        return [t for t in out if isinstance(t, torch.Tensor) and t.grad_fn is not None]
    return []


_NO_KWARGS: dict[str, Any] = {}  # never written: the kwargs of ops called without any


class _CaptureMode(TorchFunctionMode):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        return self.recorder.on_torch_function(func, args, kwargs if kwargs else _NO_KWARGS)


def _module_hooks(rec: Recorder) -> list[Any]:
    from torch.nn.modules import module as M

    def pre(mod: Any, inputs: Any) -> None:
        if not rec.module_stack and all(m is not mod for m in rec.root_modules):
            rec.root_modules.append(mod)
        rec.modules.see(mod)
        rec.module_stack.append(mod)
        parent = rec.call_stack[-1] if rec.call_stack else None
        rec.call_stack.append(len(rec.module_calls))
        rec.module_calls.append((mod, parent))

    def post(mod: Any, inputs: Any, output: Any) -> None:
        if rec.module_stack and rec.module_stack[-1] is mod:
            rec.module_stack.pop()
            rec.call_stack.pop()

    return [M.register_module_forward_pre_hook(pre), M.register_module_forward_hook(post)]
