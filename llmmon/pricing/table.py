"""The price table: per-model, dated prices loaded from the shipped YAML plus a user file, and cost.

Usage::

    table = PriceTable.load(Path("my-prices.yaml"))      # or PriceTable.load() for the shipped one
    table.cost_usd("gpt-4o-mini-2024-07-18", input_tokens=1200, output_tokens=300, cached_tokens=1000)

Cost is always derived from raw token usage, so a corrected table can re-price history
(``llmmon.pricing.reprice``). An unknown model costs ``None`` -- never a guessed number --
and is warned about once per model name per table.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from llmmon.errors import ConfigError

__all__ = ["ModelPrice", "PriceEntry", "PriceTable"]

logger = logging.getLogger("llmmon")

_PER_TOKENS = 1_000_000


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """Prices (USD per 1M tokens) in force from ``effective`` on."""

    effective: date
    input: float
    output: float
    cached_input: float | None = None


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One canonical model: how names map onto it and its dated prices (oldest first)."""

    model: str
    entries: tuple[PriceEntry, ...]
    provider: str | None = None
    aliases: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None

    def entry_at(self, at: datetime | date | None) -> PriceEntry:
        """The entry in force at ``at`` (now when None); the oldest entry for earlier times."""
        day = _as_utc_date(at)
        chosen = self.entries[0]
        for entry in self.entries:
            if entry.effective <= day:
                chosen = entry
        return chosen


class PriceTable:
    """Model prices with exact/alias/regex lookup; user entries take precedence over shipped ones."""

    def __init__(self, models: list[ModelPrice]) -> None:
        self._models = list(models)
        self._exact: dict[str, ModelPrice] = {}
        # Earlier models win: the user file's models come first in ``models``.
        for price in self._models:
            for name in (price.model, *price.aliases):
                self._exact.setdefault(name.lower(), price)
        self._lookup_cache: dict[str, ModelPrice | None] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    # -- loading -----------------------------------------------------------------------

    @classmethod
    def load(cls, override: Path | None = None) -> PriceTable:
        """The shipped table, with ``override`` (a YAML file of the same format) on top.

        A model the user file names replaces the shipped model of that name entirely; other
        user models are added and matched before the shipped ones.
        """
        shipped_text = resources.files("llmmon.pricing").joinpath("prices.yaml").read_text("utf-8")
        shipped = _parse_models(shipped_text, source="llmmon/pricing/prices.yaml")
        if override is None:
            return cls(shipped)
        try:
            user_text = Path(override).read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read price file {override}: {exc}") from exc
        user = _parse_models(user_text, source=str(override))
        user_names = {price.model for price in user}
        return cls(user + [price for price in shipped if price.model not in user_names])

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, source: str = "<mapping>") -> PriceTable:
        """A table from an already-parsed mapping of the YAML format (no shipped entries)."""
        return cls(_models_from_mapping(data, source=source))

    # -- lookup and cost ---------------------------------------------------------------

    @property
    def models(self) -> list[ModelPrice]:
        """All models, in lookup order."""
        return list(self._models)

    def lookup(self, model: str | None) -> ModelPrice | None:
        """The price record for ``model`` (exact name, alias, then regex), or None."""
        if not model:
            return None
        key = model.strip().lower()
        try:
            return self._lookup_cache[key]
        except KeyError:
            pass
        found = self._find(key)
        if found is None and "/" in key:
            found = self._find(key.rsplit("/", 1)[1])
        self._lookup_cache[key] = found
        return found

    def _find(self, key: str) -> ModelPrice | None:
        exact = self._exact.get(key)
        if exact is not None:
            return exact
        for price in self._models:
            if price.pattern is not None and price.pattern.fullmatch(key):
                return price
        return None

    def cost_usd(
        self,
        model: str | None,
        *,
        input_tokens: int | None,
        output_tokens: int | None,
        cached_tokens: int | None = None,
        at: datetime | None = None,
    ) -> float | None:
        """USD cost of one call, or None when the model is unknown or there is no usage.

        ``input_tokens`` includes ``cached_tokens``; cached tokens are billed at the cached
        rate (the input rate when the model has none) and not again at the input rate.
        """
        if input_tokens is None and output_tokens is None:
            return None
        price = self.lookup(model)
        if price is None:
            self._warn_unknown(model)
            return None
        entry = price.entry_at(at)
        total_input = max(input_tokens or 0, 0)
        cached = min(max(cached_tokens or 0, 0), total_input)
        cached_rate = entry.cached_input if entry.cached_input is not None else entry.input
        cost = (
            (total_input - cached) * entry.input
            + cached * cached_rate
            + max(output_tokens or 0, 0) * entry.output
        ) / _PER_TOKENS
        return round(cost, 10)

    def _warn_unknown(self, model: str | None) -> None:
        name = model or "<none>"
        with self._lock:
            if name in self._warned:
                return
            self._warned.add(name)
        logger.warning(
            "llmmon: no price known for model %r; its cost is left empty. "
            "Add it to your prices file (LLMMON_PRICES_FILE) and run `llmmon reprice`.",
            name,
        )


# -- parsing ---------------------------------------------------------------------------


def _parse_models(text: str, *, source: str) -> list[ModelPrice]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from exc
    except ValueError as exc:  # PyYAML raises this for impossible dates such as 2025-13-01
        raise ConfigError(f"{source}: invalid value (check the 'effective' dates): {exc}") from exc
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a price file must be a mapping with a 'models' key")
    return _models_from_mapping(data, source=source)


def _models_from_mapping(data: dict[str, Any], *, source: str) -> list[ModelPrice]:
    models = data.get("models") or {}
    if not isinstance(models, dict):
        raise ConfigError(f"{source}: 'models' must map model names to their prices")
    return [_model_from_mapping(str(name), spec, source=source) for name, spec in models.items()]


def _model_from_mapping(name: str, spec: Any, *, source: str) -> ModelPrice:
    where = f"{source}: model {name!r}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping with 'prices'")
    raw_entries = spec.get("prices")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise ConfigError(f"{where}: 'prices' must be a non-empty list of dated entries")
    entries = sorted(
        (_entry_from_mapping(raw, where=where) for raw in raw_entries), key=lambda e: e.effective
    )
    pattern = None
    if spec.get("match"):
        try:
            pattern = re.compile(str(spec["match"]), re.IGNORECASE)
        except re.error as exc:
            raise ConfigError(f"{where}: invalid 'match' regex: {exc}") from exc
    aliases = spec.get("aliases") or []
    if not isinstance(aliases, list):
        raise ConfigError(f"{where}: 'aliases' must be a list of names")
    provider = spec.get("provider")
    return ModelPrice(
        model=name,
        entries=tuple(entries),
        provider=str(provider) if provider is not None else None,
        aliases=tuple(str(alias) for alias in aliases),
        pattern=pattern,
    )


def _entry_from_mapping(raw: Any, *, where: str) -> PriceEntry:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: each price entry must be a mapping")
    effective = raw.get("effective")
    if isinstance(effective, str):
        try:
            effective = date.fromisoformat(effective)
        except ValueError as exc:
            raise ConfigError(
                f"{where}: 'effective' must be a YYYY-MM-DD date, got {raw['effective']!r}"
            ) from exc
    if isinstance(effective, datetime):
        effective = effective.date()
    if not isinstance(effective, date):
        raise ConfigError(f"{where}: every price entry needs an 'effective' date (YYYY-MM-DD)")
    return PriceEntry(
        effective=effective,
        input=_price(raw, "input", where=where, required=True) or 0.0,
        output=_price(raw, "output", where=where, required=True) or 0.0,
        cached_input=_price(raw, "cached_input", where=where, required=False),
    )


def _price(raw: dict[str, Any], key: str, *, where: str, required: bool) -> float | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{where}: price entry {raw.get('effective')} is missing {key!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(
            f"{where}: {key!r} must be a non-negative number (USD per 1M tokens), got {value!r}"
        )
    return float(value)


def _as_utc_date(at: datetime | date | None) -> date:
    if at is None:
        return datetime.now(UTC).date()
    if isinstance(at, datetime):
        # Naive datetimes are UTC by llmmon's storage convention.
        return at.astimezone(UTC).date() if at.tzinfo is not None else at.date()
    return at
