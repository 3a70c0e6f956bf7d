"""llmmon: an LLM quality and hallucination monitor.

The public API is loaded lazily (PEP 562 ``__getattr__``), so ``import llmmon`` stays
light: it imports neither SQLAlchemy, FastAPI nor the OpenAI SDK. Usage::

    import llmmon

    llmmon.configure()            # SQLite file ./llmmon.db unless LLMMON_DATABASE_URL says otherwise

    @llmmon.trace
    def answer(question: str) -> str: ...
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmmon.config import Settings
    from llmmon.errors import (
        ConfigError,
        EvalRegressionError,
        EvalSuiteError,
        JudgeError,
        JudgeOutputError,
        JudgeTransportError,
        KnowledgeBaseError,
        LlmmonError,
        MigrationError,
        PromptError,
        StorageError,
    )
    from llmmon.monitor import canary
    from llmmon.prompts import Prompt, prompt
    from llmmon.tracing.context import current_span
    from llmmon.tracing.decorator import span, trace
    from llmmon.tracing.integrations.openai import wrap_openai
    from llmmon.tracing.recorder import FlushResult
    from llmmon.tracing.runtime import configure, flush, shutdown, stats
    from llmmon.tracing.span import SpanRecord
    from llmmon.user_feedback import feedback, feedback_token

__version__ = "0.1.0"

# Public name -> module that defines it. Other areas add their entries here.
_EXPORTS: dict[str, str] = {
    "ConfigError": "llmmon.errors",
    "EvalRegressionError": "llmmon.errors",
    "EvalSuiteError": "llmmon.errors",
    "FlushResult": "llmmon.tracing.recorder",
    "JudgeError": "llmmon.errors",
    "JudgeOutputError": "llmmon.errors",
    "JudgeTransportError": "llmmon.errors",
    "KnowledgeBaseError": "llmmon.errors",
    "LlmmonError": "llmmon.errors",
    "MigrationError": "llmmon.errors",
    "Prompt": "llmmon.prompts",
    "PromptError": "llmmon.errors",
    "Settings": "llmmon.config",
    "SpanRecord": "llmmon.tracing.span",
    "StorageError": "llmmon.errors",
    "configure": "llmmon.tracing.runtime",
    "current_span": "llmmon.tracing.context",
    "feedback": "llmmon.user_feedback",
    "feedback_token": "llmmon.user_feedback",
    "flush": "llmmon.tracing.runtime",
    "prompt": "llmmon.prompts",
    "shutdown": "llmmon.tracing.runtime",
    "span": "llmmon.tracing.decorator",
    "stats": "llmmon.tracing.runtime",
    "trace": "llmmon.tracing.decorator",
    "wrap_openai": "llmmon.tracing.integrations.openai",
}

__all__ = [
    "ConfigError",
    "EvalRegressionError",
    "EvalSuiteError",
    "FlushResult",
    "JudgeError",
    "JudgeOutputError",
    "JudgeTransportError",
    "KnowledgeBaseError",
    "LlmmonError",
    "MigrationError",
    "Prompt",
    "PromptError",
    "Settings",
    "SpanRecord",
    "StorageError",
    "canary",
    "configure",
    "current_span",
    "feedback",
    "feedback_token",
    "flush",
    "prompt",
    "shutdown",
    "span",
    "stats",
    "trace",
    "wrap_openai",
]


# Public name -> submodule exported as a whole (``llmmon.canary.choose(...)``), also loaded lazily.
_SUBMODULES: dict[str, str] = {"canary": "llmmon.monitor.canary"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(_SUBMODULES[name])
        globals()[name] = module
        return module
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'llmmon' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
