"""The import string for multi-worker uvicorn (``llmmon.server.asgi:app``): settings from the environment.

The only module-level app in llmmon, used by ``llmmon serve --workers N`` and nothing else.
"""

from __future__ import annotations

from llmmon.config import Settings
from llmmon.server.app import create_app

app = create_app(Settings(), freeze_gc=True)
