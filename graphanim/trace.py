"""Capture: run ``func`` once; record its ops, values, names and one backward pass."""

from __future__ import annotations

import contextlib
import functools
import gc
import inspect
import sys
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from . import functions as _functions
from .graph import Edge, Graph, Node, Packer, format_number, plain_text, valid_text
from .ops import op_label

__all__ = ["GraphanimWarning", "TraceError", "op_label", "trace"]


#: Computed values with more elements than this are kept as aliases, not copies (see ``snap``).
ALIAS_NUMEL = 4096


class GraphanimWarning(UserWarning):
    """Something about a capture that a user should know (it still succeeded)."""


class TraceError(RuntimeError):
    """Capturing failed for a reason of graphanim's own (not an error raised by ``func``)."""


# --------------------------------------------------------------------------------------------
# op names and labels

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


def _key(t: torch.Tensor) -> Key:
    fn = t.grad_fn
    if fn is not None:
        return (fn, t.output_nr)
    if t.requires_grad:
        return ("leaf", id(t))
    return ("const", id(t))


def _snapshot(t: torch.Tensor) -> torch.Tensor:
    # Detached copy: later in-place changes of the user's tensor must not alter what we show.
    return t.detach().clone()


class _Call:
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
        # _Recorder.resolve)
        self.pending: tuple[Sequence[Any], dict[str, Any], bool] | None = None


class _Recorder:
    """Collects calls, value snapshots and module context while ``func`` runs."""

    def __init__(self, modules: ModuleState) -> None:
        self.calls: list[_Call] = []
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
        self.code: types.CodeType | None = None
        self.frame: types.FrameType | None = None
        self.stop: types.FrameType | None = None

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
            call = _Call(op, op, [], (k,), _NO_KWARGS, module, (out,))
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

    def resolve(self, call: _Call) -> None:
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
        self.calls.append(_Call(op, label, operands, out_keys, attrs, module, kept))

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
                _functions.function_label(cls),
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
    def __init__(self, recorder: _Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        return self.recorder.on_torch_function(func, args, kwargs if kwargs else _NO_KWARGS)


# --------------------------------------------------------------------------------------------
# inputs, names, outputs


def _input_names(func: Callable[..., Any], n: int, names: Sequence[str] | None) -> list[str]:
    if names is not None:
        names = list(names)
        if len(names) != n:
            raise ValueError(
                f"names has {len(names)} entries but args has {n}; give one name per argument"
            )
        for nm in names:
            if not isinstance(nm, str) or not nm:
                raise TypeError(f"names must be non-empty strings, got {nm!r}")
        if len(set(names)) != len(names):
            dup = sorted({nm for nm in names if names.count(nm) > 1})
            raise ValueError(f"names must be unique; repeated: {', '.join(map(repr, dup))}")
        return [valid_text(nm) for nm in names]
    out: list[str] = []
    if isinstance(func, torch.jit.ScriptFunction):  # no Python signature: read its schema
        schema: Any = func.schema  # a property (typed as a method in torch's stubs)
        out = [a.name for a in schema.arguments][:n]
    elif (
        type(func) is types.FunctionType
        and "__wrapped__" not in func.__dict__
        and "__signature__" not in func.__dict__
    ):
        # a plain function: its positional parameters lead its code's variable names (what
        # inspect.signature reports, a dozen times faster)
        code = func.__code__
        out = list(code.co_varnames[: min(n, code.co_argcount)])
    else:
        target = func
        if isinstance(func, torch.nn.Module) and "__signature__" not in vars(func):
            # a module's own signature is its __call__'s (*args, **kwargs): name the inputs
            # after forward's parameters instead (``x``, not ``x0``)
            target = func.forward
        try:
            params = list(inspect.signature(target).parameters.values())
        except (TypeError, ValueError):
            params = []
        for p in params:
            if len(out) == n:
                break
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                out.append(p.name)
            elif p.kind == p.VAR_POSITIONAL:
                break
    used = set(out)
    i = len(out)
    while len(out) < n:
        cand = f"x{i}"
        i += 1
        if cand not in used:
            out.append(cand)
    return out


def as_input(value: Any, name: str) -> Any:
    """Wrap a number/list/array as a float leaf tensor; tensors are used as given."""
    if isinstance(value, torch.Tensor):
        if value.grad_fn is not None:
            # the arguments are the boundary: never reach into the caller's computation
            return value.detach().requires_grad_(value.requires_grad)
        return value
    if isinstance(value, bool):
        value = float(value)
    if isinstance(value, (int, float)):
        return torch.tensor(float(value), dtype=torch.float64, requires_grad=True)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        dtype = arr.dtype if arr.dtype.kind == "f" else np.float64
        try:
            t = torch.from_numpy(np.array(arr, dtype=dtype, copy=True))
        except TypeError as err:
            raise TypeError(
                f"argument {name!r}: cannot convert numpy dtype {arr.dtype} to a tensor"
            ) from err
        return t.requires_grad_(True)
    if isinstance(value, (list, tuple)):
        try:
            return torch.tensor(value, dtype=torch.float64, requires_grad=True)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"argument {name!r}: cannot make a tensor from {type(value).__name__} "
                f"{_short(value)} ({err}); pass numbers, nested lists of numbers, arrays or tensors"
            ) from err
    if isinstance(value, complex):
        raise TypeError(f"argument {name!r}: complex numbers are not supported; pass real numbers")
    return value  # modules and other objects are passed through unchanged


def _is_compiled(func: Any) -> bool:
    """True for a ``torch.compile``d function or module."""
    if hasattr(func, "_torchdynamo_orig_callable") or hasattr(func, "_orig_mod"):
        return True
    return type(func).__name__ == "OptimizedModule"


def _add_dtype_hint(err: RuntimeError, args: Sequence[Any], wrapped: list[Any]) -> None:
    """Add a note (the error keeps its type and message) when float64 inputs we made meet
    float32 weights: the usual cause of dtype errors with modules."""
    text = str(err)
    if not hasattr(err, "add_note") or ("dtype" not in text and "scalar type" not in text):
        return
    converted = [
        not isinstance(a, torch.Tensor) and isinstance(w, torch.Tensor) and w.dtype == torch.float64
        for a, w in zip(args, wrapped)
    ]
    if any(converted):
        err.add_note(
            "graphanim: numbers, lists and float64 arrays become float64 tensors, and nn.Module "
            "weights are float32 by default; pass float32 tensors (torch.tensor(..., "
            "dtype=torch.float32)) or call model.double()"
        )


def _count(v: Any) -> int:
    return len(v) if isinstance(v, (list, tuple)) else 1


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _code_of(func: Any) -> types.CodeType | None:
    if isinstance(func, torch.nn.Module):
        try:
            func = type(func).forward
        except AttributeError:  # a TorchScript module: its forward is no Python function
            return None
    while isinstance(func, __import__("functools").partial):
        func = func.func
    func = getattr(func, "__func__", func)
    return getattr(func, "__code__", None)


def _outputs(result: Any, func: Any) -> tuple[list[torch.Tensor], list[str | None]]:
    """The output tensors of ``func`` and their names (dict keys, namedtuple fields) if any."""
    where = getattr(func, "__qualname__", type(func).__name__)
    if isinstance(result, torch.Tensor):
        return [result], [None]
    if isinstance(result, dict) and result:
        items = list(result.items())
        for k, v in items:
            if not isinstance(v, torch.Tensor):
                raise TypeError(
                    f"output {k!r} of {where} is a {type(v).__name__}, not a torch.Tensor; "
                    "return tensors only"
                )
        return [v for _, v in items], [valid_text(str(k)) for k, _ in items]
    if isinstance(result, (list, tuple)) and result:
        for i, r in enumerate(result):
            if not isinstance(r, torch.Tensor):
                raise TypeError(
                    f"output {i} of {where} is a {type(r).__name__}, not a torch.Tensor; "
                    "return tensors only"
                )
        fields = getattr(type(result), "_fields", None)
        if fields is None and hasattr(type(result), "n_fields"):  # torch.return_types
            fields = [f for f in dir(result) if not f.startswith(("_", "n_", "count", "index"))]
            fields = fields if len(fields) == len(result) else None
            if fields is not None:  # keep the field order of the structseq
                fields = sorted(
                    fields,
                    key=lambda f: next(i for i, v in enumerate(result) if v is getattr(result, f)),
                )
        names: list[str | None] = list(fields) if fields else [None] * len(result)
        return list(result), names
    if isinstance(result, (list, tuple, dict)):
        raise TypeError(
            f"{where} returned an empty {type(result).__name__}; return at least one tensor"
        )
    raise TypeError(
        f"output 0 of {where} is a {type(result).__name__}, not a torch.Tensor; "
        "return a tensor or a tuple/list of tensors"
    )


def _seeds(
    grad_outputs: Any, outs: list[torch.Tensor]
) -> tuple[list[torch.Tensor | None], list[bool]]:
    """One seed per output (``None``: the output gets no gradient), and whether each is the
    implicit 1 of a scalar output (autograd makes that one itself)."""
    n = len(outs)
    if grad_outputs is None:
        per: list[Any] = [None] * n
    elif (
        isinstance(grad_outputs, (list, tuple))
        and len(grad_outputs) == n
        and (
            n > 1
            or outs[0].numel() == 1
            or isinstance(grad_outputs[0], (list, tuple, torch.Tensor))
            or getattr(grad_outputs[0], "shape", None) is not None
        )
    ):
        per = list(grad_outputs)
    elif n == 1:
        per = [grad_outputs]
    else:
        raise ValueError(
            f"grad_outputs has {_count(grad_outputs)} "
            f"entries but the function has {n} outputs; give one seed per output"
        )
    seeds: list[torch.Tensor | None] = []
    implicit = [False] * n
    for i, (out, s) in enumerate(zip(outs, per)):
        if not out.requires_grad:
            seeds.append(None)
            continue
        if s is None:
            if out.numel() != 1:
                raise ValueError(
                    f"output {i} has shape {tuple(out.shape)}, not a scalar: pass grad_outputs "
                    f"(e.g. grad_outputs=[torch.ones({', '.join(map(str, out.shape))})]) to seed it"
                )
            seeds.append(torch.ones_like(out))
            implicit[i] = True
            continue
        try:
            st = torch.as_tensor(s.detach() if isinstance(s, torch.Tensor) else s, dtype=out.dtype)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"grad_outputs[{i}] {_short(s)} is not a number, array or tensor"
            ) from err
        if st.shape != out.shape:
            if st.numel() == 1:
                st = st.reshape(()).expand(out.shape)
            else:
                raise ValueError(
                    f"grad_outputs[{i}] has shape {tuple(st.shape)} but output {i} has shape "
                    f"{tuple(out.shape)}; seeds must match their output's shape"
                )
        seeds.append(st.to(out.device))
    return seeds, implicit


# --------------------------------------------------------------------------------------------
# the autograd side


class _AccumulateTypes(dict):  # type: ignore[type-arg]
    """``type(node) in _ACCUMULATE``: is this autograd node an AccumulateGrad (a leaf)?

    A per-type cache: ``hasattr(node, "variable")`` raises and catches an AttributeError inside
    for every other node, which costs more than the rest of the walk.
    """

    def __contains__(self, cls: object) -> bool:
        try:
            return bool(dict.__getitem__(self, cls))
        except KeyError:
            is_acc = getattr(cls, "__name__", "") == "AccumulateGrad"
            self[cls] = is_acc
            return is_acc


_ACCUMULATE = _AccumulateTypes()


def _walk(
    roots: list[Any],
) -> tuple[list[Any], list[Any], dict[Any, int], dict[Any, tuple[Any, ...]]]:
    """Every autograd node reachable from ``roots`` (each once, iteratively), the AccumulateGrad
    nodes of the leaves, how many edges lead to each ``(node, output_nr)`` slot, and each
    node's ``next_functions`` (read once: every read builds new tuples).

    The caller keeps the returned nodes alive while it uses the slots as keys: a node's Python
    object is only reused while someone holds it.
    """
    seen: set[Any] = set()
    order: list[Any] = []
    accs: list[Any] = []
    uses: dict[Any, int] = {}
    nexts: dict[Any, tuple[Any, ...]] = {}
    stack = [r for r in reversed(roots) if r is not None]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if type(node) in _ACCUMULATE:  # AccumulateGrad: a leaf that requires grad
            accs.append(node)
            continue
        order.append(node)
        edges = nexts[node] = node.next_functions
        for e in edges:
            if e[0] is not None:
                uses[e] = uses.get(e, 0) + 1
        for nxt, _ in reversed(edges):
            if nxt is not None and nxt not in seen:
                stack.append(nxt)
    return order, accs, uses, nexts


def _node_op_name(node: Any) -> tuple[str, str, dict[str, Any]]:
    """(op, label, attrs) for an autograd node no recorded call owns."""
    cls = getattr(node, "_forward_cls", None)
    if cls is not None:
        label = _functions.function_label(cls)
        return valid_text(cls.__name__), label, {"function": valid_text(cls.__qualname__)}
    name = node.name()
    base = name
    for suffix in ("Backward0", "Backward1", "Backward2", "Backward"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    # MulBackward0 -> mul, CopySlices -> copy_slices, CompiledFunctionBackward -> compiled_function
    op = "".join("_" + c.lower() if c.isupper() else c for c in (base or name)).lstrip("_")
    return op, plain_text(op), {"autograd": name}


# --------------------------------------------------------------------------------------------
# the capture


def trace(
    func: Callable[..., Any],
    args: Sequence[Any],
    grad_outputs: Any = None,
    *,
    names: Sequence[str] | None = None,
    backward: bool = True,
) -> Graph:
    """Run ``func(*args)`` once and return its computation graph (see ``TorchGraph``)."""
    return Graph(**capture(func, args, grad_outputs, names=names, backward=backward))


def capture(
    func: Callable[..., Any],
    args: Sequence[Any],
    grad_outputs: Any = None,
    *,
    names: Sequence[str] | None = None,
    backward: bool = True,
) -> dict[str, Any]:
    """Run ``func(*args)`` once; the keyword arguments of its :class:`Graph` (what a
    ``TorchGraph`` is built from)."""
    # Capturing allocates many small objects that live as long as the graph; the cyclic garbage
    # collector would rescan them again and again (a third of the time on a 20,000-op chain).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    modules = ModuleState()
    try:
        return _trace(func, args, grad_outputs, names=names, backward=backward, modules=modules)
    finally:
        modules.restore()
        if gc_was_enabled:
            gc.enable()


def _trace(
    func: Callable[..., Any],
    args: Sequence[Any],
    grad_outputs: Any,
    *,
    names: Sequence[str] | None,
    backward: bool,
    modules: ModuleState,
) -> dict[str, Any]:
    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}")
    if isinstance(args, (str, bytes)) or not isinstance(args, (list, tuple)):
        raise TypeError(
            "args must be a list or tuple of arguments (e.g. [2.0, 3.0]), "
            f"got {type(args).__name__}"
        )
    in_names = _input_names(func, len(args), names)
    wrapped = [as_input(a, nm) for a, nm in zip(args, in_names)]

    rec = _Recorder(modules)
    rec.code = _code_of(func)
    rec.stop = sys._getframe()
    compiled = _is_compiled(func)
    if compiled:
        warnings.warn(
            f"{getattr(func, '__qualname__', type(func).__name__)} is torch.compile'd: its ops "
            "run as one compiled graph and show as one node (capture the original function to "
            "see them)",
            GraphanimWarning,
            stacklevel=3,
        )
    elif isinstance(func, (torch.jit.ScriptModule, torch.jit.ScriptFunction)):
        what = getattr(func, "original_name", None) or getattr(func, "name", None)
        warnings.warn(
            f"{what or type(func).__name__} is TorchScript: its ops run "
            "in the TorchScript interpreter, out of graphanim's sight; they are read from the "
            "autograd graph, without the values between them (capture the original module or "
            "function to see those)",
            GraphanimWarning,
            stacklevel=3,
        )
    hooks = _module_hooks(rec)
    _functions._RECORDERS.append(rec)
    # func draws from forked random generators: dropout masks and the like are the ones func
    # would draw now, and the caller's generators are left where they were
    rec.rng = rng_state()
    try:
        with forked_rng(rec.rng), torch.enable_grad():
            if compiled:
                result = func(*wrapped)
            else:
                with _CaptureMode(rec):
                    result = func(*wrapped)
    except RuntimeError as err:
        _add_dtype_hint(err, args, wrapped)
        raise
    finally:
        _functions._RECORDERS.remove(rec)
        for h in hooks:
            h.remove()
        final_locals = dict(rec.frame.f_locals) if rec.frame is not None else {}
        rec.frame = rec.stop = None
    outs, out_names = _outputs(result, func)
    out_keys = [rec.see(t) for t in outs]
    # ---- structure from autograd: which nodes each call created --------------------------
    reach, accs, uses, nexts = _walk([t.grad_fn for t in outs])
    # the calls the outputs depend on (read the operands of those still waiting)
    calls: list[_Call] = []
    for call in rec.calls:
        made = call.outputs
        if made[0][0] in nexts or any(k[0] in nexts for k in made[1:]):
            if call.pending is not None:
                rec.resolve(call)
            calls.append(call)
    stale = rec.changed_behind_our_back()
    if stale:
        warnings.warn(
            f"{len(stale)} recorded value(s) were changed in place by code graphanim could not "
            "see (e.g. under torch._C.DisableTorchFunction or in a C extension); their pictures "
            "show the later contents",
            GraphanimWarning,
            stacklevel=3,
        )
    rec.settle()
    local_names = {k: v for k, v in final_locals.items() if isinstance(v, torch.Tensor)}
    # modules func made or held in its own variables (``layer = nn.Linear(2, 1)``) are named so
    local_modules = {
        k: v
        for k, v in final_locals.items()
        if issubclass(type(v), torch.nn.Module) and not k.startswith("__")
    }
    no_graph = [t.grad_fn is None and not t.requires_grad for t in outs]
    for i, t in enumerate(outs):
        # integer outputs beside differentiable ones (the indices of x.max(0)) are expected
        if no_graph[i] and (t.is_floating_point() or t.is_complex() or all(no_graph)):
            warnings.warn(
                f"output {i} does not depend on any input that requires grad (computed under "
                "no_grad, detached, or not differentiable): it gets no gradient",
                GraphanimWarning,
                stacklevel=3,
            )

    owner: dict[Any, _Call] = {}
    for call in calls:
        for k in call.outputs:
            owner.setdefault(k[0], call)
    for call in calls:
        made = call.outputs
        internal: list[Any] = []
        call.internal = internal
        boundary: set[Any] | None = None
        stack = [k[0] for k in made]
        while stack:
            node = stack.pop()
            if owner.get(node, call) is not call or node in internal or node not in nexts:
                continue
            owner[node] = call
            internal.append(node)
            for nxt, _ in nexts[node]:
                if nxt is None:
                    continue
                by = owner.get(nxt)
                if by is not None:
                    if by is call and nxt not in internal:
                        stack.append(nxt)  # another node making one of this call's outputs
                    continue
                if type(nxt) in _ACCUMULATE:
                    continue
                if boundary is None:
                    boundary = {k[0] for kind, k in call.operands if kind == "t"}
                if nxt not in boundary:
                    stack.append(nxt)
    # autograd nodes no recorded call explains (an undecorated custom Function, CopySlices, ...)
    orphans = False
    reentrant: list[Any] = []  # reentrant checkpoints among them (see _backward_reentrant)
    for node in reach:
        if node in owner:
            continue
        orphans = True
        op, label, attrs = _node_op_name(node)
        if _is_reentrant(node):
            attrs["note"] = REENTRANT_NOTE
            reentrant.append(node)
        operands: list[tuple[str, Any]] = []
        for nxt, nr in nexts[node]:
            if nxt is None:
                continue
            if type(nxt) in _ACCUMULATE:
                operands.append(("t", rec.see(nxt.variable)))
            else:
                operands.append(("t", (nxt, nr)))
        call = _Call(op, label, operands, [], attrs)
        call.internal = [node]
        owner[node] = call
        calls.append(call)
    if reentrant:
        warnings.warn(
            f"{len(reentrant)} block(s) run under torch.utils.checkpoint with "
            f"use_reentrant=True: {REENTRANT_NOTE}",
            GraphanimWarning,
            stacklevel=3,
        )
    if orphans:
        # outputs of orphan nodes: whichever of their output positions something reads
        used: dict[Any, set[int]] = {}
        for call in calls:
            for kind, k in call.operands:
                if kind == "t" and not isinstance(k[0], str):
                    used.setdefault(k[0], set()).add(k[1])
        for k in out_keys:
            if not isinstance(k[0], str):
                used.setdefault(k[0], set()).add(k[1])
        for call in calls:
            if not call.outputs:
                node = call.internal[0]
                call.outputs = [(node, nr) for nr in sorted(used.get(node, {0}))]
    for call in calls:
        made = call.outputs
        call.seq = (
            made[0][0]._sequence_nr()
            if len(made) == 1
            else max(k[0]._sequence_nr() for k in made)
        )
    calls.sort(key=lambda c: c.seq)

    # ---- backward ------------------------------------------------------------------------
    seeds: list[torch.Tensor | None] = [None] * len(outs)
    grads = _Grads()
    if backward:
        seeds, implicit = _seeds(grad_outputs, outs)
        _read_saved(calls)  # before backward frees them
        # an implicit seed goes to autograd as None: it makes the same ones itself, and a given
        # tensor makes torch import its symbolic-shape checks (sympy: 0.3 s in a new process)
        pairs = [
            (t, None if imp else s)
            for t, s, imp in zip(outs, seeds, implicit)
            if s is not None and t.requires_grad
        ]
        if pairs:
            grads = _backward(pairs, reach, accs, uses, nexts, calls, reentrant)

    fields = _build(
        func,
        wrapped,
        in_names,
        rec,
        calls,
        out_names,
        out_keys,
        local_names,
        local_modules,
        final_locals,
        grads,
        backward,
        owner,
    )
    fields["seeds"] = seeds
    fields["rng_state"] = rec.rng
    return fields


def _edge_inputs_supported() -> bool:
    """Does ``torch.autograd.grad`` take ``GradientEdge`` inputs (torch >= 2.2)?"""
    edge_type = getattr(torch.autograd.graph, "GradientEdge", None)
    if edge_type is None:
        return False
    try:
        x = torch.ones((), requires_grad=True)
        y = x * 2
        (g,) = torch.autograd.grad(y * 3, [edge_type(y.grad_fn, 0)])
    except (TypeError, RuntimeError):
        return False
    return float(g) == 3.0


#: Read per-edge gradients and the backward order from hooks on every autograd node (the slow
#: path, and the only one before torch 2.2), instead of one capture of every value's gradient.
HOOK_EVERY_NODE = not _edge_inputs_supported()


@dataclass
class _Grads:
    """What the backward pass gave."""

    value: dict[Key, Any] = field(default_factory=dict)  # (node, nr) slot -> its summed gradient
    leaf: dict[int, Any] = field(default_factory=dict)  # id(leaf tensor) -> its gradient
    slot: dict[Any, Any] = field(default_factory=dict)  # (node, nr) edge target -> gradient
    fired: dict[Any, tuple[Any, Any]] = field(default_factory=dict)  # hooked node -> (in, out)
    order: list[Any] = field(default_factory=list)  # autograd nodes in the order they ran
    nexts: dict[Any, tuple[Any, ...]] = field(default_factory=dict)  # node -> next_functions
    leaf_key: dict[Any, Key] = field(default_factory=dict)  # AccumulateGrad node -> leaf's key


def _backward(
    pairs: list[tuple[torch.Tensor, torch.Tensor | None]],
    reach: list[Any],
    accs: list[Any],
    uses: dict[Any, int],
    nexts: dict[Any, tuple[Any, ...]],
    calls: list[_Call],
    reentrant: Sequence[Any] = (),
) -> _Grads:
    """One backward pass from the seeded outputs: every value's gradient, and every edge's.

    One ``torch.autograd.grad`` call captures the gradient of every recorded value (a tensor, or
    a ``GradientEdge`` where the tensor no longer stands for it) and of every leaf. A value read
    by exactly one autograd edge gets all its gradient from that edge, so edge gradients need no
    more. Only ops whose autograd nodes send gradient into a value that is read more than once
    (``x * x``, a value used by two ops) get hooks on their nodes, to split the sum per edge. The
    order the engine ran the nodes in follows from the graph (see :func:`_engine_order`).
    A graph holding ``reentrant`` checkpoints is run by :func:`_backward_reentrant` instead.
    """
    out = _Grads()
    out.nexts = nexts
    leaves: list[torch.Tensor] = []
    ids: set[int] = set()
    for acc in accs:
        t = acc.variable
        out.leaf_key[acc] = ("leaf", id(t))
        if id(t) not in ids:
            ids.add(id(t))
            leaves.append(t)
    if not leaves:
        leaves = [t for t, _ in pairs if t.grad_fn is None]
    if HOOK_EVERY_NODE:
        hooked: list[Any] = list(reach)
        slots: list[Key] = []
        inputs: list[Any] = []
    else:
        hooked = []
        seeded: dict[Any, int] = {}  # an output's seed is one more gradient into its slot
        for t, _ in pairs:
            if t.grad_fn is not None:
                e = (t.grad_fn, t.output_nr)
                seeded[e] = seeded.get(e, 0) + 1
        for call in calls:
            internal = call.internal
            single = len(internal) == 1
            if single:
                for e in nexts[internal[0]]:
                    if e[0] is not None and (uses[e] > 1 or e in seeded):
                        hooked.append(internal[0])
                        break
            elif any(
                uses[e] + seeded.get(e, 0) > 1
                for node in internal
                for e in nexts[node]
                if e[0] is not None and e[0] not in internal
            ):
                hooked.extend(internal)
        slots = []
        inputs = []
        edge_type = torch.autograd.graph.GradientEdge
        for call in calls:
            tensors = call.tensors
            made = call.outputs
            slots.extend(made)
            for i, k in enumerate(made):
                t = tensors[i] if i < len(tensors) else None
                # an in-place op gave the tensor a new grad_fn: ask for the slot it had
                inputs.append(t if t is not None and t.grad_fn is k[0] else edge_type(*k))
    fired = out.fired
    order = out.order

    def hook_for(node: Any) -> Callable[..., None]:
        def hook(grad_inputs: Any, grad_outputs: Any) -> None:
            if node not in fired:
                order.append(node)
            fired[node] = (grad_inputs, grad_outputs)

        return hook

    handles = []
    try:
        for node in hooked:
            handles.append(node.register_hook(hook_for(node)))
        got: Sequence[Any]
        if reentrant:
            got = _backward_reentrant(pairs, leaves + inputs, reentrant)
        elif leaves or inputs:
            got = torch.autograd.grad(
                [t for t, _ in pairs],
                leaves + inputs,
                grad_outputs=[s for _, s in pairs],
                allow_unused=True,
            )
        else:
            got = ()
    finally:
        for h in handles:
            h.remove()
    n = len(leaves)
    for t, g in zip(leaves, got[:n]):
        out.leaf[id(t)] = _plain(g)
    if HOOK_EVERY_NODE:
        for node, (_, grad_outputs) in fired.items():
            for nr, g in enumerate(grad_outputs):
                out.value[(node, nr)] = _plain(g)
        return out
    # (a gradient that still requires grad, from a custom backward that enabled grad, is
    # detached when it is packed into the graph)
    out.value = dict(zip(slots, got[n:]))
    # the gradient arriving at an edge's target: a value's slot, or a leaf's AccumulateGrad
    slot = out.slot = out.value.copy()
    for acc in accs:
        slot[(acc, 0)] = out.leaf.get(id(acc.variable))
    order.clear()
    order.extend(_engine_order([t.grad_fn for t, _ in pairs], reach, uses, nexts))
    return out


#: What a reentrant checkpoint shows as, and why.
REENTRANT_NOTE = (
    "a reentrant checkpoint recomputes its ops inside the backward pass, out of graphanim's "
    "sight, so the block shows as one node (use_reentrant=False shows its ops)"
)


def _is_reentrant(node: Any) -> bool:
    """Is ``node`` the backward of a reentrant ``torch.utils.checkpoint`` block?

    Such a node runs a nested ``torch.autograd.backward`` of its recomputed block, which PyTorch
    allows only inside a ``backward()`` call (not ``torch.autograd.grad``).
    """
    cls = getattr(node, "_forward_cls", None)
    if cls is None:
        return False
    checkpoint = sys.modules.get("torch.utils.checkpoint")
    return checkpoint is not None and cls is getattr(checkpoint, "CheckpointFunction", None)


def _backward_reentrant(
    pairs: list[tuple[torch.Tensor, torch.Tensor | None]], wanted: list[Any], blocks: Sequence[Any]
) -> list[Any]:
    """The gradients of ``wanted`` (leaf tensors, value tensors, ``GradientEdge``s) from one
    ``torch.autograd.backward`` call, read by hooks, for graphs with reentrant checkpoints.

    ``backward`` accumulates into ``.grad``: every leaf it may reach (those of ``wanted``, and
    those each checkpointed block reads while it is recomputed, see :class:`_LeafWatch`) has
    its ``.grad`` put back afterwards, and every hook is removed.
    """
    got: list[Any] = [None] * len(wanted)
    kept = _GradKeeper()
    slots: dict[Any, list[tuple[int, int]]] = {}  # node -> (position in wanted, output_nr)
    handles: list[Any] = []
    watches = [_LeafWatch(kept) for _ in blocks]
    try:
        for i, w in enumerate(wanted):
            if isinstance(w, torch.Tensor) and w.grad_fn is None:
                kept.keep(w)
                handles.append(w.register_hook(functools.partial(_put, got, i)))
                continue
            if isinstance(w, torch.Tensor):
                if w.retains_grad:
                    kept.keep(w)
                node, nr = w.grad_fn, w.output_nr
            else:
                node, nr = w.node, w.output_nr
            slots.setdefault(node, []).append((i, nr))
        for node, places in slots.items():
            handles.append(node.register_prehook(functools.partial(_put_slots, got, places)))
        for block, watch in zip(blocks, watches):
            handles.append(block.register_prehook(watch.start))
            handles.append(block.register_hook(watch.stop))
        torch.autograd.backward([t for t, _ in pairs], [s for _, s in pairs])
    finally:
        for h in handles:
            h.remove()
        for watch in watches:
            watch.close()
        kept.restore()
    return got


def _put(got: list[Any], i: int, grad: Any) -> None:
    got[i] = grad


def _put_slots(got: list[Any], places: list[tuple[int, int]], grad_outputs: Any) -> None:
    for i, nr in places:
        got[i] = grad_outputs[nr]


class _GradKeeper:
    """The ``.grad`` of tensors, kept (contents too: accumulation may add in place) to be put
    back by :meth:`restore`."""

    def __init__(self) -> None:
        self.kept: dict[int, tuple[torch.Tensor, Any, Any]] = {}

    def keep(self, t: torch.Tensor) -> None:
        if id(t) not in self.kept:
            old = t.grad
            self.kept[id(t)] = (t, old, None if old is None else old.detach().clone())

    def restore(self) -> None:
        with torch.no_grad():
            for t, old, contents in self.kept.values():
                if old is not None:
                    old.copy_(contents)
                t.grad = old


class _LeafWatch(TorchFunctionMode):
    """While a reentrant checkpoint's backward runs (between :meth:`start` and :meth:`stop`,
    its node's hooks), keeps the ``.grad`` of every leaf its recomputed ops read."""

    def __init__(self, kept: _GradKeeper) -> None:
        super().__init__()
        self.kept = kept
        self.active = False

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        for a in (*args, *kwargs.values()):
            for t in a if isinstance(a, (list, tuple)) else (a,):
                if isinstance(t, torch.Tensor) and t.requires_grad and t.grad_fn is None:
                    self.kept.keep(t)
        return func(*args, **kwargs)

    def start(self, grad_outputs: Any) -> None:
        self.__enter__()
        self.active = True

    def stop(self, grad_inputs: Any, grad_outputs: Any) -> None:
        self.close()

    def close(self) -> None:
        if self.active:
            self.active = False
            self.__exit__(None, None, None)


def _engine_order(
    roots: list[Any],
    reach: list[Any],
    uses: dict[Any, int],
    nexts: dict[Any, tuple[Any, ...]],
) -> list[Any]:
    """The order PyTorch's engine runs ``reach``'s nodes in a backward pass from ``roots``.

    The engine runs a node once every edge into it has delivered its gradient, and of the ready
    nodes always the one created last (highest sequence number; see ``CompareNodeTaskTime`` in
    torch/csrc/autograd/engine.cpp). On one device this order is exact; tests compare it with
    hooks. A node with no edge out is not run (it sends no gradient anywhere).
    """
    import heapq

    pending: dict[Any, int] = {}
    for (node, _), n in uses.items():
        pending[node] = pending.get(node, 0) + n
    ready: list[tuple[int, int, Any]] = []
    rank = {node: i for i, node in enumerate(reach)}
    for r in dict.fromkeys(roots):
        if r is not None and r in rank and not pending.get(r):
            ready.append((-r._sequence_nr(), rank[r], r))
    heapq.heapify(ready)
    order: list[Any] = []
    while ready:
        _, _, node = heapq.heappop(ready)
        runs = False
        for nxt, _ in nexts[node]:
            if nxt is None:
                continue
            runs = True
            left = pending[nxt] - 1
            pending[nxt] = left
            if left == 0 and nxt in rank:
                heapq.heappush(ready, (-nxt._sequence_nr(), rank[nxt], nxt))
        if runs:
            order.append(node)
    return order


_SAVED_ATTRS: dict[type, tuple[str, ...]] = {}


def _saved_attrs(node: Any) -> tuple[str, ...]:
    names = _SAVED_ATTRS.get(type(node))
    if names is None:
        names = tuple(
            a
            for a in dir(node)
            if a.startswith("_saved_") and not a.endswith(("_sizes", "_strides", "_size"))
        )
        _SAVED_ATTRS[type(node)] = names
    return names


_HAS_SAVED_TENSORS: dict[type, bool] = {}


def _read_saved(calls: list[_Call]) -> None:
    """Record, per op, which of its operands and outputs autograd saved for its backward."""
    tensor_type = torch.Tensor
    for call in calls:
        values: list[Any] = []
        for node in call.internal:
            cls = type(node)
            names = _SAVED_ATTRS.get(cls)
            if names is None:
                names = _saved_attrs(node)
            for attr in names:
                try:
                    v = getattr(node, attr)
                except RuntimeError:  # freed, or not materialised
                    continue
                if v is not None:
                    values.append(v)
            has = _HAS_SAVED_TENSORS.get(cls)
            if has is None:  # a custom Function's ctx.save_for_backward
                has = _HAS_SAVED_TENSORS[cls] = hasattr(node, "saved_tensors")
            if has:
                try:
                    values.extend(node.saved_tensors)
                except RuntimeError:
                    pass
        if not values:
            continue
        order = [k for kind, k in call.operands if kind == "t"]
        order.extend(call.outputs)
        found: list[Key] = []
        for v in values:
            many = v if isinstance(v, (list, tuple)) else ()
            for t in (v,) if isinstance(v, tensor_type) else many:
                if isinstance(t, tensor_type):
                    k = _key(t)
                    if k in order and k not in found:
                        found.append(k)
        if len(found) > 1:
            found.sort(key=order.index)
        if found:
            call.saved = found


def _module_hooks(rec: _Recorder) -> list[Any]:
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


def _build(
    func: Any,
    wrapped: list[Any],
    in_names: list[str],
    rec: _Recorder,
    calls: list[_Call],
    out_names: list[str | None],
    out_keys: list[Key],
    local_names: dict[str, torch.Tensor],
    local_modules: dict[str, torch.nn.Module],
    final_locals: dict[str, Any],
    grads: _Grads,
    backward: bool,
    owner: dict[Any, _Call],
) -> dict[str, Any]:
    nodes: list[Node] = []
    edges: list[Edge] = []
    by_key: dict[Key, Node] = {}
    taken: set[str] = set()
    packer = Packer()
    pack = packer.add
    codes = packer.codes
    store = packer.store

    next_suffix: dict[str, int] = {}
    numbers: dict[Any, tuple[str, Any]] = {}  # (type, number) -> (its text, its packed code)

    def scalar_value(v: float) -> torch.Tensor:
        return torch.tensor(v, dtype=torch.float64)

    def unique(name: str) -> str:
        if name not in taken:
            taken.add(name)
            return name
        i = next_suffix.get(name, 1)
        cand = f"{name}_{i}"
        while cand in taken:
            i += 1
            cand = f"{name}_{i}"
        next_suffix[name] = i + 1
        taken.add(cand)
        return cand

    # names for leaves, parameters and locals
    key_names: dict[Key, str] = {}
    for nm, a in zip(in_names, wrapped):
        if isinstance(a, torch.Tensor):
            key_names.setdefault(_key(a), nm)
    module_of: dict[int, str] = {}
    module_class: dict[str, str] = {}  # module path -> class name, in named_modules() order
    params: dict[int, str] = {}
    roots = list(rec.root_modules)
    if isinstance(func, torch.nn.Module) and all(m is not func for m in roots):
        roots.insert(0, func)
    prefixes = _module_prefixes(
        [m for m in roots if m is not func], func, wrapped, in_names, local_modules
    )
    for mod in roots:
        prefix = "" if mod is func else prefixes[id(mod)]
        owned: list[tuple[str, Any]] = []  # parameters first, then buffers, as named_* give them
        buffers: list[tuple[str, Any]] = []
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
            params.setdefault(id(p), path)
    for out_name, k in zip(out_names, out_keys):
        if out_name is not None:
            key_names.setdefault(k, out_name)
    for nm, t in local_names.items():
        if nm.startswith("__"):
            continue
        k = _key(t)
        key_names.setdefault(k, nm)

    dtype_names: dict[Any, str] = {}
    snapshots = rec.snapshots
    held_names = HeldNames(func, wrapped, in_names, final_locals)

    gvalue = grads.value
    gleaf = grads.leaf

    def value_node(k: Key, kind: str, default: str) -> Node:
        node = by_key.get(k)
        if node is not None:
            return node
        attrs: dict[str, Any] = {}
        name = key_names.get(k)
        tag = k[0]
        if type(tag) is str:  # "leaf" or "const"
            t = rec.keep.get(k[1])
            if name is None:
                if t is not None and id(t) in params:
                    name = params[id(t)]
                    if tag == "leaf":
                        attrs["parameter"] = True
                elif t is not None:
                    name = held_names.name_of(t)
            grad = gleaf.get(id(t)) if tag == "leaf" and t is not None else None
        else:
            grad = gvalue.get(k)
        name = unique(name or default)
        if grad is not None:
            grad = pack(grad)
        snap = snapshots.get(k)
        if snap is not None:
            dtype = snap.dtype
            dt = dtype_names.get(dtype)
            if dt is None:
                dt = dtype_names[dtype] = str(dtype).replace("torch.", "")
            shape = snap.shape
            value = pack(snap)
            node = Node(
                f"n{len(nodes)}",
                name,
                plain_text(name),
                kind,
                value,
                grad,
                tuple(shape) if shape else (),
                None,
                dt,
                attrs,
            )
            if type(value) is int or type(grad) is int:
                node._store = store
        else:
            node = Node(
                f"n{len(nodes)}", name, plain_text(name), kind, None, grad, (), None, None, attrs
            )
            if type(grad) is int:
                node._store = store
        nodes.append(node)
        by_key[k] = node
        return node

    input_ids: list[str] = []
    for nm, a in zip(in_names, wrapped):
        if isinstance(a, torch.Tensor):
            k = rec.see(a)
            if k in by_key:  # the same tensor passed twice
                continue
            node = value_node(k, "input" if a.requires_grad else "constant", nm)
            input_ids.append(node.id)

    def nearest_known(n: int | None) -> int | None:
        """The module call ``n``, or the nearest call around it whose module has a path (a
        module made inside a ``forward`` and never registered has none)."""
        while n is not None and id(rec.module_calls[n][0]) not in module_of:
            n = rec.module_calls[n][1]
        return n

    known_call: dict[int, int | None] = {}  # module call -> nearest_known(it)

    kinds = {"leaf": "input", "const": "constant"}
    op_of_call: dict[int, Node] = {}
    with_saved: list[Node] = []  # op nodes whose "saved" still holds keys
    calls_used: set[int] = set()  # numbers of the module calls that ops ran in
    for call in calls:
        operand_nodes: list[Node] = []
        for kind, k in call.operands:
            if kind == "n":
                # Python numbers: a small constant node per use, named by its value (names of
                # constants need not be unique: nobody looks them up by name)
                # (0.0 == -0.0: zeros are told apart by their text)
                nkey = (type(k), k) if k else (type(k), repr(k))
                held_number = numbers.get(nkey)
                if held_number is None:
                    held_number = numbers[nkey] = (
                        format_number(float(k)),
                        pack(scalar_value(k)),
                    )
                text = held_number[0]
                c = Node(
                    f"n{len(nodes)}",
                    text,
                    text,
                    "constant",
                    held_number[1],
                    None,
                    (),
                    None,
                    "float64",
                    {"scalar": True},
                )
                c._store = store
                nodes.append(c)
                operand_nodes.append(c)
            else:
                held = by_key.get(k)
                operand_nodes.append(
                    held if held is not None else value_node(k, kinds.get(k[0], "value"), "value")
                )
        attrs = dict(call.attrs)  # a fresh dict: the one made while func ran sits among temporaries
        if call.saved:
            attrs["saved"] = call.saved  # keys for now; node ids once every value has a node
        if call.module is not None:
            m = known_call.get(call.module, -1)
            if m == -1:
                m = known_call[call.module] = nearest_known(call.module)
            if m is not None:
                attrs["module"] = module_of[id(rec.module_calls[m][0])]
                attrs["module_call"] = m
                calls_used.add(m)
        op_node = Node(
            f"n{len(nodes)}", call.op, call.label, "op", None, None, (), call.op, None, attrs
        )
        nodes.append(op_node)
        op_of_call[id(call)] = op_node
        op_id = op_node.id
        in_grads = _operand_grads(call, grads) if backward else None
        if in_grads is None:
            for i, src in enumerate(operand_nodes):
                edges.append(Edge(src.id, op_id, None, i))
        else:
            for i, src in enumerate(operand_nodes):
                g = in_grads[i]
                if g is None:
                    edges.append(Edge(src.id, op_id, None, i))
                    continue
                code = codes.get(id(g))
                g = pack(g) if code is None else code
                edges.append(Edge(src.id, op_id, g, i, store if type(g) is int else None))
        for j, k in enumerate(call.outputs):
            out_node = by_key.get(k)
            if out_node is None:
                out_node = value_node(k, "value", call.op)
            edges.append(Edge(op_id, out_node.id, out_node._grad, j, out_node._store))
        if call.saved:
            with_saved.append(op_node)

    for op_node in with_saved:
        op_node.attrs["saved"] = [by_key[k].id for k in op_node.attrs["saved"] if k in by_key]

    output_ids: list[str] = []
    for k in out_keys:
        node = value_node(k, "constant" if k[0] == "const" else "value", "output")
        if node.kind == "value":
            node.kind = "output"
        output_ids.append(node.id)

    backward_ids: list[str] = []
    if backward:
        seen_calls: set[int] = set()
        for node in grads.order:
            ran = owner.get(node)
            if ran is not None and id(ran) not in seen_calls:
                seen_calls.add(id(ran))
                backward_ids.append(op_of_call[id(ran)].id)

    packer.finish()
    params_ids = [n.id for n in nodes if n.attrs.get("parameter")]
    fields: dict[str, Any] = dict(
        nodes=nodes,
        edges=edges,
        inputs=input_ids,
        outputs=output_ids,
        backward_order=backward_ids,
        parameters=params_ids,
        has_backward=backward,
        _sequential_ids=True,
    )
    used = {n.attrs["module"] for n in nodes if "module" in n.attrs}
    fields["modules"] = {
        path: cls
        for path, cls in module_class.items()
        if any(u == path or u.startswith(path + ".") for u in used) or path == ""
    }
    # the module calls the ops ran in, and every call around them
    module_calls: dict[int, tuple[str, int | None]] = {}
    todo = sorted(calls_used)
    while todo:
        n = todo.pop()
        if n in module_calls:
            continue
        mod, parent = rec.module_calls[n]
        path = module_of.get(id(mod))
        if path is None:
            continue
        parent = nearest_known(parent)
        module_calls[n] = (path, parent)
        if parent is not None:
            todo.append(parent)
    fields["module_calls"] = dict(sorted(module_calls.items()))
    return fields


def _operand_grads(call: _Call, grads: _Grads) -> list[Any] | None:
    """Gradient flowing into each operand position of ``call`` (``None`` where none does, and
    for Python-number operands), or ``None`` when no backward pass ran.

    The autograd nodes the op created (``call.internal``) hand gradients to nodes outside it; each
    such crossing is matched to the next unmatched operand position holding that value. A value
    used in several positions (``x * x``) gets one crossing per position, in order; crossings
    beyond the positions (the op's internals read the value more often) add to the first one.
    A node without hooks (see :func:`_backward`) sends each edge the whole gradient of the value
    it leads to.
    """
    nexts = grads.nexts
    if not nexts:  # no backward pass ran
        return None
    internal = call.internal
    operands = call.operands
    n = len(operands)
    slot = grads.slot
    leaf_key = grads.leaf_key
    fired = grads.fired
    out: list[Any] = [_NO_GRAD] * n
    single = len(internal) == 1
    from_hooks = False
    for node in internal:
        f = fired.get(node)
        grads_in = None if f is None else f[0]
        n_in = 0 if grads_in is None else len(grads_in)
        from_hooks = from_hooks or f is not None
        for i, e in enumerate(nexts[node]):
            nxt = e[0]
            if nxt is None or (not single and nxt in internal):
                continue
            key: Key = leaf_key.get(nxt, e)
            if grads_in is None:
                g = slot.get(e)
            else:
                g = grads_in[i] if i < n_in else None
            first = -1
            for pos, (kind, k) in enumerate(operands):
                if kind == "t" and k == key:
                    if out[pos] is _NO_GRAD:
                        out[pos] = g
                        first = -2
                        break
                    if first == -1:
                        first = pos
            if first >= 0 and g is not None:  # more crossings than positions: sum them
                prev = out[first]
                out[first] = g if prev is None else prev + g
    for pos, g in enumerate(out):
        if g is _NO_GRAD:
            out[pos] = None
        elif from_hooks and g is not None and g.requires_grad:
            out[pos] = g.detach()
    return out


_NO_GRAD = object()  # an operand position no crossing has reached yet


def _plain(g: torch.Tensor | None) -> torch.Tensor | None:
    if g is None or not g.requires_grad:
        return g
    return g.detach()


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
