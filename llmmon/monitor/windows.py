"""Time windows for the monitor: parsing ``30m``/``1h``/``7d``, the database clock, seasonal references.

Windows are half-open ``[start, end)`` in UTC. "Now" comes from the database server
(``current_timestamp``), never from the local clock, so that several monitors and workers
on different machines agree on which traffic a window holds even when their clocks drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from llmmon.errors import ConfigError

__all__ = ["Window", "database_now", "parse_duration", "seasonal_windows", "to_utc", "window_ending"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class Window:
    """A half-open UTC time range ``[start, end)``."""

    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"7d"``, ``"2w"`` as a positive timedelta; ConfigError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(f"cannot read duration {text!r}; use a number and a unit s, m, h, d or w (e.g. 1h, 7d)")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ConfigError(f"duration {text!r} must be positive")
    return timedelta(seconds=seconds)


def to_utc(value: datetime) -> datetime:
    """An aware UTC datetime (naive values are taken to be UTC already)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def database_now(engine: Engine) -> datetime:
    """The database server's current UTC time: the one clock every monitor and worker shares."""
    with engine.connect() as connection:
        value = connection.execute(select(func.current_timestamp())).scalar_one()
    if isinstance(value, str):  # SQLite: 'YYYY-MM-DD HH:MM:SS' in UTC
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise ConfigError(f"database returned {value!r} for current_timestamp")
    return to_utc(value)


def window_ending(duration: timedelta | str, *, end: datetime) -> Window:
    """The window of length ``duration`` that ends at ``end``."""
    length = parse_duration(duration) if isinstance(duration, str) else duration
    if length <= timedelta(0):
        raise ConfigError("window length must be positive")
    end = to_utc(end)
    return Window(start=end - length, end=end)


def seasonal_windows(current: Window, *, weeks: int) -> list[Window]:
    """The same weekday and time of day as ``current`` in each of the previous ``weeks`` weeks.

    A reference built this way compares Monday 9-10 with earlier Mondays 9-10, so the daily and
    weekly rhythm of traffic (shorter questions at night, another language at the weekend) is
    not reported as drift.
    """
    if weeks < 1:
        raise ConfigError("a seasonal reference needs at least one previous week")
    if current.duration > timedelta(days=7):
        raise ConfigError("a seasonal reference needs a current window of at most 7 days")
    return [
        Window(start=current.start - timedelta(weeks=k), end=current.end - timedelta(weeks=k))
        for k in range(1, weeks + 1)
    ]
