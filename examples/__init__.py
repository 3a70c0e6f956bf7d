"""Runnable examples that show llmmon in use (importable so tests and `llmmon demo` can run them)."""
