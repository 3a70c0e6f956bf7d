"""Public import paths of llmmon's framework integrations (``llmmon.integrations.langchain``).

The implementations live in ``llmmon.tracing.integrations``; these modules only re-export
them so that users import from a short, stable path. Nothing here is imported by ``import llmmon``.
"""
