"""The whole llmmon exception tree.

    LlmmonError
    ├── ConfigError
    ├── StorageError
    │   └── MigrationError
    ├── PromptError              (keeps the file path and line)
    ├── JudgeError
    │   ├── JudgeTransportError  (keeps the request that failed)
    │   └── JudgeOutputError     (keeps the raw judge text)
    ├── KnowledgeBaseError
    ├── EvalSuiteError           (keeps the file path)
    └── EvalRegressionError      (keeps the report)

Each error keeps its context as attributes so that its message makes sense
without a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "ConfigError",
    "EvalRegressionError",
    "EvalSuiteError",
    "JudgeError",
    "JudgeOutputError",
    "JudgeTransportError",
    "KnowledgeBaseError",
    "LlmmonError",
    "MigrationError",
    "PromptError",
    "StorageError",
]


class LlmmonError(Exception):
    """Base class of every error llmmon raises on purpose."""


class ConfigError(LlmmonError):
    """A setting or argument is invalid."""


class StorageError(LlmmonError):
    """The database could not be reached or refused an operation."""


class MigrationError(StorageError):
    """The schema could not be brought to the expected revision."""


class PromptError(LlmmonError):
    """A prompt file is missing, malformed or asks for a missing variable."""

    def __init__(self, message: str, *, path: Path | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class JudgeError(LlmmonError):
    """The LLM judge could not produce a verdict."""


class JudgeTransportError(JudgeError):
    """The judge endpoint failed (HTTP error, timeout, refused connection)."""

    def __init__(self, message: str, *, request: Any = None) -> None:
        super().__init__(message)
        self.request = request


class JudgeOutputError(JudgeError):
    """The judge answered, but not with output matching its schema."""

    def __init__(self, message: str, *, raw_text: str = "") -> None:
        super().__init__(message)
        self.raw_text = raw_text


class KnowledgeBaseError(LlmmonError):
    """A knowledge base is missing, empty or could not be ingested."""


class EvalSuiteError(LlmmonError):
    """An eval suite file is invalid; the message names file, line and field."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class EvalRegressionError(LlmmonError):
    """The pre-deploy gate found a regression."""

    def __init__(self, message: str, *, report: Any = None) -> None:
        super().__init__(message)
        self.report = report
