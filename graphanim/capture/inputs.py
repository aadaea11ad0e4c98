"""What goes in and comes out of ``func``: arguments as tensors, their names, outputs, seeds."""

from __future__ import annotations

import functools
import inspect
import sys
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..graph import valid_text
from .errors import GraphanimWarning

__all__ = [
    "add_dtype_hint",
    "as_input",
    "check_call",
    "code_of",
    "input_names",
    "is_compiled",
    "outputs_of",
    "seeds_for",
    "warn_no_graph",
    "warn_opaque",
]


def check_call(func: Any, args: Any) -> None:
    """Refuse a ``func`` that is not callable and ``args`` that are not a list or tuple."""
    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}")
    if isinstance(args, (str, bytes)) or not isinstance(args, (list, tuple)):
        raise TypeError(
            "args must be a list or tuple of arguments (e.g. [2.0, 3.0]), "
            f"got {type(args).__name__}"
        )


def warn_opaque(func: Any, compiled: bool) -> None:
    """Warn when ``func``'s ops cannot be seen one by one (``torch.compile``, TorchScript)."""
    if compiled:
        warnings.warn(
            f"{getattr(func, '__qualname__', type(func).__name__)} is torch.compile'd: its ops "
            "run as one compiled graph and show as one node (capture the original function to "
            "see them)",
            GraphanimWarning,
            stacklevel=5,
        )
    elif isinstance(func, (torch.jit.ScriptModule, torch.jit.ScriptFunction)):
        what = getattr(func, "original_name", None) or getattr(func, "name", None)
        warnings.warn(
            f"{what or type(func).__name__} is TorchScript: its ops run "
            "in the TorchScript interpreter, out of graphanim's sight; they are read from the "
            "autograd graph, without the values between them (capture the original module or "
            "function to see those)",
            GraphanimWarning,
            stacklevel=5,
        )


def warn_no_graph(outs: list[torch.Tensor]) -> None:
    """Warn about float outputs that do not depend on anything requiring grad."""
    no_graph = [t.grad_fn is None and not t.requires_grad for t in outs]
    for i, t in enumerate(outs):
        # integer outputs beside differentiable ones (the indices of x.max(0)) are expected
        if no_graph[i] and (t.is_floating_point() or t.is_complex() or all(no_graph)):
            warnings.warn(
                f"output {i} does not depend on any input that requires grad (computed under "
                "no_grad, detached, or not differentiable): it gets no gradient",
                GraphanimWarning,
                stacklevel=5,
            )


def input_names(func: Callable[..., Any], n: int, names: Sequence[str] | None) -> list[str]:
    """One name per argument: ``names`` as given (checked), else ``func``'s parameter names,
    else ``x0``, ``x1``, ..."""
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


def is_compiled(func: Any) -> bool:
    """True for a ``torch.compile``d function or module."""
    if hasattr(func, "_torchdynamo_orig_callable") or hasattr(func, "_orig_mod"):
        return True
    return type(func).__name__ == "OptimizedModule"


def add_dtype_hint(err: RuntimeError, args: Sequence[Any], wrapped: list[Any]) -> None:
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


def code_of(func: Any) -> types.CodeType | None:
    """The code object ``func`` runs (a module's ``forward``'s), whose frame names values."""
    if isinstance(func, torch.nn.Module):
        try:
            func = type(func).forward
        except AttributeError:  # a TorchScript module: its forward is no Python function
            return None
    while isinstance(func, functools.partial):
        func = func.func
    func = getattr(func, "__func__", func)
    return getattr(func, "__code__", None)


def outputs_of(result: Any, func: Any) -> tuple[list[torch.Tensor], list[str | None]]:
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


def seeds_for(
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
