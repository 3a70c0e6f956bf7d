"""Raw call arguments as the decorator captures them, mapped to names later.

Binding arguments to parameter names with ``inspect.signature(...).bind`` costs
several microseconds per call, so the decorator keeps the raw ``args`` tuple and
``kwargs`` dict together with the function's parameter names (computed once, at
decoration time) and the writer thread maps them to a dict when it serialises.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import msgspec

__all__ = ["CallArgs", "ParamNames", "map_arguments", "param_names"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class ParamNames(msgspec.Struct, array_like=True, eq=False):
    """The positional parameter names of one function, and its ``*args`` name if any.

    A ``msgspec.Struct`` so that a span packed on the caller's path (``packing.py``)
    carries it without a conversion step.
    """

    positional: tuple[str, ...]
    varargs: str | None
    skip_first: bool


def param_names(fn: Callable[..., Any]) -> ParamNames:
    """Read ``fn``'s parameters once; ``self``/``cls`` of a method is left out of recorded inputs."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature
        return ParamNames((), "args", False)
    positional = tuple(p.name for p in params if p.kind in _POSITIONAL)
    varargs = next((p.name for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL), None)
    skip_first = bool(positional) and positional[0] in ("self", "cls")
    return ParamNames(positional, varargs, skip_first)


class CallArgs(msgspec.Struct, array_like=True, eq=False):
    """Positional and keyword arguments of one call, not yet mapped to names.

    ``kwargs`` is None rather than an empty dict: one object less kept per queued span.
    """

    params: ParamNames
    args: tuple[Any, ...]
    kwargs: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        """Argument name -> value, in call order; extra positionals go under the ``*args`` name."""
        params = self.params
        return map_arguments(params.positional, params.varargs, params.skip_first, self.args, self.kwargs)

    def __repr__(self) -> str:
        return f"CallArgs({self.as_dict()!r})"


def map_arguments(
    names: tuple[str, ...],
    varargs: str | None,
    skip_first: bool,
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None,
) -> dict[str, Any]:
    """Name the arguments of one call (shared by ``CallArgs`` and spans packed as bytes)."""
    result: dict[str, Any] = {}
    extra: list[Any] = []
    for index, value in enumerate(args):
        if index < len(names):
            if index == 0 and skip_first:
                continue
            result[names[index]] = value
        else:
            extra.append(value)
    if extra:
        result[varargs or "args"] = extra
    if kwargs:
        result.update(kwargs)
    return result
