"""Price table: name matching, dated prices, cached-token billing, unknown models, user overrides."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from llmmon.errors import ConfigError
from llmmon.pricing import PriceTable


@pytest.fixture(scope="module")
def shipped() -> PriceTable:
    return PriceTable.load()


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("GPT-4o-Mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
        ("openai/gpt-4.1-mini", "gpt-4.1-mini"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("claude-3-5-sonnet-20241022", "claude-sonnet-4"),
        ("chatgpt-4o-latest", "gpt-4o-2024-05-13"),
    ],
)
def test_price_table_maps_dated_and_prefixed_names(shipped: PriceTable, name: str, canonical: str) -> None:
    price = shipped.lookup(name)
    assert price is not None
    assert price.model == canonical


def test_price_table_every_shipped_model_finds_itself(shipped: PriceTable) -> None:
    # A too-greedy regex earlier in the file would steal another model's canonical name.
    for price in shipped.models:
        assert shipped.lookup(price.model) is price
        assert [e.effective for e in price.entries] == sorted(e.effective for e in price.entries)


def test_price_table_does_not_match_prefixes_of_other_models(shipped: PriceTable) -> None:
    assert shipped.lookup("gpt-4o-mini-tts") is None
    assert shipped.lookup("gpt-4o-minimal") is None


def test_cost_bills_cached_tokens_at_cached_rate_once(shipped: PriceTable) -> None:
    # gpt-4o-mini: 0.15 input, 0.075 cached input, 0.60 output per 1M tokens.
    cost = shipped.cost_usd(
        "gpt-4o-mini", input_tokens=1_000_000, output_tokens=1_000_000, cached_tokens=400_000
    )
    assert cost == pytest.approx(0.6 * 0.15 + 0.4 * 0.075 + 0.60)


def test_cost_without_cached_rate_bills_cached_as_input(shipped: PriceTable) -> None:
    # gpt-4 has no cache discount in the table.
    cost = shipped.cost_usd("gpt-4", input_tokens=1000, output_tokens=0, cached_tokens=500)
    assert cost == pytest.approx(1000 * 30.0 / 1e6)


def test_cost_clamps_cached_tokens_to_input_tokens(shipped: PriceTable) -> None:
    cost = shipped.cost_usd("gpt-4o-mini", input_tokens=100, output_tokens=0, cached_tokens=500)
    assert cost == pytest.approx(100 * 0.075 / 1e6)


def test_cost_uses_the_price_in_force_at_the_call_time(shipped: PriceTable) -> None:
    kwargs = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    assert shipped.cost_usd("gpt-4o", at=datetime(2024, 6, 1, tzinfo=UTC), **kwargs) == pytest.approx(20.0)
    assert shipped.cost_usd("gpt-4o", at=datetime(2025, 1, 1, tzinfo=UTC), **kwargs) == pytest.approx(12.5)
    # Naive datetimes are UTC; a time before the first entry uses the oldest entry.
    assert shipped.cost_usd("gpt-4o", at=datetime(2024, 10, 2, 0, 30), **kwargs) == pytest.approx(12.5)
    assert shipped.cost_usd("gpt-4o", at=datetime(2020, 1, 1, tzinfo=UTC), **kwargs) == pytest.approx(20.0)


def test_cost_of_unknown_model_is_none_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    table = PriceTable.load()
    with caplog.at_level(logging.WARNING, logger="llmmon"):
        assert table.cost_usd("my-private-model", input_tokens=10, output_tokens=5) is None
        assert table.cost_usd("my-private-model", input_tokens=99, output_tokens=1) is None
        assert table.cost_usd(None, input_tokens=1, output_tokens=1) is None
    messages = [r.getMessage() for r in caplog.records if r.name == "llmmon"]
    assert sum("my-private-model" in m for m in messages) == 1
    assert len(messages) == 2


def test_cost_without_usage_is_none_without_warning(caplog: pytest.LogCaptureFixture) -> None:
    table = PriceTable.load()
    with caplog.at_level(logging.WARNING, logger="llmmon"):
        assert table.cost_usd("gpt-4o", input_tokens=None, output_tokens=None) is None
    assert not caplog.records


def test_user_file_replaces_and_extends_the_shipped_table(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        """
models:
  gpt-4o-mini:                       # a price fix: replaces the shipped entry
    match: 'gpt-4o-mini(-\\d{4}-\\d{2}-\\d{2})?'
    prices:
      - {effective: 2024-07-18, input: 1.0, output: 2.0}
  acme-chat:                         # a model llmmon does not ship
    match: 'acme-chat-v\\d+'
    aliases: [acme]
    prices:
      - {effective: 2025-01-01, input: 3.0, cached_input: 1.0, output: 4.0}
"""
    )
    table = PriceTable.load(prices)
    assert table.cost_usd("gpt-4o-mini-2024-07-18", input_tokens=1_000_000, output_tokens=0) == pytest.approx(
        1.0
    )
    assert table.cost_usd("acme-chat-v7", input_tokens=0, output_tokens=1_000_000) == pytest.approx(4.0)
    assert table.lookup("acme") is table.lookup("acme-chat-v2")
    assert table.cost_usd("gpt-4o", input_tokens=1_000_000, output_tokens=0) == pytest.approx(2.5)
    assert table.models[0].model == "gpt-4o-mini"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("models: [", "invalid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("models:\n  m:\n    prices: []\n", "non-empty list"),
        ("models:\n  m:\n    prices:\n      - {input: 1, output: 1}\n", "'effective'"),
        ("models:\n  m:\n    prices:\n      - {effective: 2025-13-01, input: 1, output: 1}\n", "'effective'"),
        (
            "models:\n  m:\n    prices:\n      - {effective: 2025-01-01, input: -1, output: 1}\n",
            "non-negative",
        ),
        ("models:\n  m:\n    prices:\n      - {effective: 2025-01-01, output: 1}\n", "missing 'input'"),
        (
            "models:\n  m:\n    match: '('\n    prices:\n"
            "      - {effective: 2025-01-01, input: 1, output: 1}\n",
            "regex",
        ),
    ],
)
def test_user_file_errors_name_the_file_and_problem(tmp_path: Path, content: str, fragment: str) -> None:
    prices = tmp_path / "bad-prices.yaml"
    prices.write_text(content)
    with pytest.raises(ConfigError) as excinfo:
        PriceTable.load(prices)
    assert "bad-prices.yaml" in str(excinfo.value)
    assert fragment in str(excinfo.value)


def test_missing_user_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read price file"):
        PriceTable.load(tmp_path / "nope.yaml")


def test_from_mapping_accepts_iso_strings() -> None:
    table = PriceTable.from_mapping(
        {"models": {"x": {"prices": [{"effective": "2025-02-03", "input": 1, "output": 2}]}}}
    )
    price = table.lookup("X")
    assert price is not None
    assert price.entry_at(date(2025, 3, 1)).output == 2.0
