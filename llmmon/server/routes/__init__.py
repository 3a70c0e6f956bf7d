"""HTTP routes of the llmmon server, one module per area (``api``: read API, ``dashboard``: pages)."""
