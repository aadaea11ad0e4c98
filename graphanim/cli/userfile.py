"""``FILE.py:FUNC``: the user's file imported as Python does, its function called with the
``--at`` values by position."""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .messages import (
    RunError,
    UsageError,
    one_line,
)
from .values import seed_tensors

__all__ = [
    "capture_file",
    "load_function",
]



def _defined_functions(path: Path) -> list[str]:
    """Names of the top-level functions in ``path``, read with ``ast`` (nothing runs)."""
    import ast

    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
        return []
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and not node.name.startswith("_")
    ]


def load_function(
    path: str | os.PathLike[str], func: str, *, shown: str | None = None
) -> Callable[..., Any]:
    """Import the Python file ``path`` as Python does and return its attribute ``func``.

    The file's folder is put first on ``sys.path`` while it runs (so its own imports work, as
    when Python runs a script), and the module is registered in ``sys.modules`` under a private
    name (``__name__`` is not ``"__main__"``, so a ``if __name__ == "__main__":`` block does not
    run). The file's top-level code runs: it is the user's own code.

    Parameters
    ----------
    path : str or path-like
        The file; a relative path is taken from the current folder now, before its code runs.
    func : str
        The name of the function (any callable) to return.
    shown : str, optional
        The path as the user gave it, for messages (default: ``path``).

    Raises
    ------
    UsageError
        If the file does not exist, is not valid Python, or has no callable ``func`` (the
        functions it defines are listed).
    RunError
        If running the file's top-level code raised.
    """
    p = Path(os.getcwd(), path)
    name = os.fspath(path) if shown is None else shown
    if not p.is_file():
        raise UsageError(f"no such file: {name!r}")
    defined = _defined_functions(p)
    listing = f" (functions defined there: {', '.join(defined)})" if defined else ""
    if not func:
        raise UsageError(f"name the function to render: {name}:FUNC{listing}")
    if not func.isidentifier():
        raise UsageError(f"{func!r} is not a function name{listing}")
    stem = re.sub(r"\W", "_", p.stem)
    module_name = f"_graphanim_user_{stem}"
    spec = importlib.util.spec_from_file_location(module_name, p)
    if spec is None or spec.loader is None:  # pragma: no cover - .py files always have a loader
        raise UsageError(f"cannot import {name!r}")
    module = importlib.util.module_from_spec(spec)
    folder = str(p.resolve().parent)
    sys.modules[module_name] = module
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        sys.modules.pop(module_name, None)
        raise UsageError(f"cannot import {name!r}: {one_line(err)}") from err
    except (Exception, SystemExit) as err:  # the file's own code failed (or called exit)
        sys.modules.pop(module_name, None)
        raise RunError(f"importing {name!r} raised {one_line(err)}") from err
    finally:
        _remove_path(folder)
    obj = getattr(module, func, None)
    if obj is None or not callable(obj):
        what = "no function" if obj is None else "not a function:"
        raise UsageError(f"{what} {func!r} in {name!r}{listing}")
    return obj  # type: ignore[no-any-return]


def _remove_path(folder: str) -> None:
    try:
        sys.path.remove(folder)
    except ValueError:  # the user's code removed it itself
        pass


def _signature_target(func: Callable[..., Any]) -> Any:
    forward = getattr(func, "forward", None)
    if (
        forward is not None
        and callable(forward)
        and not inspect.isfunction(func)
        and not isinstance(func, type)
    ):
        return forward  # an nn.Module instance: its forward's parameters
    return func


def _arguments(
    func: Callable[..., Any], label: str, values: dict[str, Any]
) -> tuple[list[str], list[Any]]:
    """The ``--at`` values in ``func``'s parameter order, with clear errors for mismatches."""
    try:
        params = list(inspect.signature(_signature_target(func)).parameters.values())
    except (TypeError, ValueError):
        return list(values), list(values.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    var_positional = any(p.kind == p.VAR_POSITIONAL for p in params)
    keyword_only = {p.name for p in params if p.kind == p.KEYWORD_ONLY}
    pos_names = [p.name for p in positional]
    shown = ", ".join(p.name for p in params) or "none"

    for name in values:
        if name in keyword_only:
            raise UsageError(
                f"{label}: parameter {name!r} is keyword-only; --at values are passed by position"
            )
        if name not in pos_names and not var_positional:
            raise UsageError(f"{label} has no parameter {name!r} (its parameters: {shown})")
    missing = [p.name for p in positional if p.name not in values and p.default is p.empty]
    missing += [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    if missing:
        fix = " ".join(f"{m}=VALUE" for m in missing)
        raise UsageError(f"{label}: missing --at value for {', '.join(missing)}: --at {fix}")
    given = [n for n in pos_names if n in values]
    if given:
        last = pos_names.index(given[-1])
        skipped = [n for n in pos_names[:last] if n not in values]
        if skipped:
            raise UsageError(
                f"{label}: give --at {skipped[0]}=VALUE too: values are passed by position and "
                f"{given[-1]!r} comes after {skipped[0]!r}"
            )
    extras = [n for n in values if n not in pos_names]  # for *args, in the order given
    names = given + extras
    return names, [values[n] for n in names]


def capture_file(
    path: str,
    func_name: str | None,
    values: dict[str, Any],
    seeds: list[Any] | None,
    backward: bool,
) -> Any:
    """The graph of ``func_name`` in the file ``path`` at ``values``: a ``TorchGraph``.

    The path is made absolute before the file's code runs (it may change directory); the
    values are passed by position in the order of the function's parameters.

    Raises
    ------
    UsageError
        For a missing file or function, values that do not fit its parameters, or an output the
        capture refuses.
    RunError
        When the file's code or the function raised.
    """
    label = f"{path}:{func_name or ''}"
    absolute = Path(os.getcwd(), path)  # fixed before the file's own code runs (it may chdir)
    func = load_function(absolute, func_name or "", shown=path)
    names, args = _arguments(func, label, values)
    seed_arg = None if seeds is None else seed_tensors(seeds)

    from .. import TorchGraph

    folder = str(absolute.resolve().parent)
    sys.path.insert(0, folder)  # the function may import its neighbours when it runs
    try:
        return TorchGraph(func, args, seed_arg, names=names, backward=backward)
    except (Exception, SystemExit) as err:
        if _raised_by_graphanim(err) and isinstance(err, (ValueError, TypeError)):
            # the capture refused what the function returned (a non-scalar output, ...)
            message = " ".join(str(err).split())
            if "grad_outputs" in message:
                message += " (on the command line: --grad-output V, one per output)"
            raise UsageError(f"{label}: {message}") from err
        raise RunError(f"{label} raised {one_line(err)}") from err
    finally:
        _remove_path(folder)


def _raised_by_graphanim(err: BaseException) -> bool:
    tb = err.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    package = str(Path(__file__).resolve().parent.parent)  # graphanim/
    return str(Path(tb.tb_frame.f_code.co_filename).resolve()).startswith(package + os.sep)
