"""Resolve ``pkg.mod:fn`` import paths (targets and python assertions) with errors a user can act on."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

from llmmon.errors import EvalSuiteError

__all__ = ["IMPORT_PATH_PATTERN", "resolve_import_path"]

#: ``package.module:function`` (the attribute may be dotted: ``pkg.mod:Class.method``).
IMPORT_PATH_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"
_IMPORT_PATH = re.compile(IMPORT_PATH_PATTERN)


def resolve_import_path(spec: str) -> Callable[..., Any]:
    """Import ``pkg.mod:fn`` and return the callable; every failure is an ``EvalSuiteError``.

    Only a missing *module named in the path* is reported as "no module"; an ImportError raised
    inside the user's module (a broken dependency) is reported with its own message so it is not
    mistaken for a typo in the suite.
    """
    if not _IMPORT_PATH.match(spec):
        raise EvalSuiteError(f"{spec!r} is not an import path of the form 'package.module:function'")
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise EvalSuiteError(
                f"cannot import {spec!r}: no module named {exc.name!r} "
                "(is the package installed, or the working directory on sys.path?)"
            ) from exc
        raise EvalSuiteError(f"cannot import {spec!r}: {exc}") from exc
    except Exception as exc:  # the user's module failed while importing: show why
        raise EvalSuiteError(f"cannot import {spec!r}: {type(exc).__name__}: {exc}") from exc
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise EvalSuiteError(
                f"cannot import {spec!r}: module {module_name!r} has no attribute {part!r}"
            ) from None
    if not callable(target):
        raise EvalSuiteError(f"{spec!r} is not callable (it is a {type(target).__name__})")
    return target  # type: ignore[no-any-return]
