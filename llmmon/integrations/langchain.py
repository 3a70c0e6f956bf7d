"""``from llmmon.integrations.langchain import LlmmonCallbackHandler`` (needs langchain-core).

Usage::

    handler = LlmmonCallbackHandler()
    chain.invoke(inputs, config={"callbacks": [handler]})
"""

from __future__ import annotations

from llmmon.tracing.integrations.langchain import LlmmonCallbackHandler

__all__ = ["LlmmonCallbackHandler"]
