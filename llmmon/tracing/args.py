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

__all__ = ["CallArgs", "ParamNames", "param_names"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class ParamNames:
    """The positional parameter names of one function, and its ``*args`` name if any."""

    __slots__ = ("positional", "skip_first", "varargs")

    def __init__(self, positional: tuple[str, ...], varargs: str | None, *, skip_first: bool) -> None:
        self.positional = positional
        self.varargs = varargs
        self.skip_first = skip_first


def param_names(fn: Callable[..., Any]) -> ParamNames:
    """Read ``fn``'s parameters once; ``self``/``cls`` of a method is left out of recorded inputs."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature
        return ParamNames((), "args", skip_first=False)
    positional = tuple(p.name for p in params if p.kind in _POSITIONAL)
    varargs = next((p.name for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL), None)
    skip_first = bool(positional) and positional[0] in ("self", "cls")
    return ParamNames(positional, varargs, skip_first=skip_first)


class CallArgs:
    """Positional and keyword arguments of one call, not yet mapped to names."""

    __slots__ = ("args", "kwargs", "params")

    def __init__(self, params: ParamNames, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.params = params
        self.args = args
        self.kwargs = kwargs

    def as_dict(self) -> dict[str, Any]:
        """Argument name -> value, in call order; extra positionals go under the ``*args`` name."""
        params = self.params
        names = params.positional
        result: dict[str, Any] = {}
        extra: list[Any] = []
        for index, value in enumerate(self.args):
            if index < len(names):
                if index == 0 and params.skip_first:
                    continue
                result[names[index]] = value
            else:
                extra.append(value)
        if extra:
            result[params.varargs or "args"] = extra
        result.update(self.kwargs)
        return result

    def __repr__(self) -> str:
        return f"CallArgs({self.as_dict()!r})"
