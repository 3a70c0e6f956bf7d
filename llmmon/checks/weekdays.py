"""Days of the week named in English or Korean text, with ranges ("Monday to Friday", "월~금") expanded."""

from __future__ import annotations

import re

__all__ = ["extract_weekdays"]

_EN = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tue": 1,
    "tues": 1,
    "wednesday": 2,
    "wed": 2,
    "thursday": 3,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sat": 5,
    "sunday": 6,
    "sun": 6,
}
_KO = {"월": 0, "화": 1, "수": 2, "목": 3, "금": 4, "토": 5, "일": 6}
_WEEKEND = {5, 6}
_WEEKDAYS = {0, 1, 2, 3, 4}

_EN_DAY = r"(?:" + "|".join(sorted(_EN, key=len, reverse=True)) + r")s?\b\.?"
_KO_DAY = r"(?:[월화수목금토일]요일|(?<![가-힣])[월화수목금토일](?=\s?[~\-–,·]|\s?요|\)|\s?부터|\s?까지))"
_DAY = re.compile(rf"\b{_EN_DAY}|{_KO_DAY}", re.IGNORECASE)
_RANGE = re.compile(
    rf"(?P<a>\b{_EN_DAY}|{_KO_DAY})\s*(?:-|–|—|~|to|through|thru|until|till|부터)\s*(?P<b>\b{_EN_DAY}|[월화수목금토일](?:요일)?)",
    re.IGNORECASE,
)
_GROUPS = re.compile(r"\b(?P<en>weekends?|weekdays?)\b|(?P<ko>주말|평일)", re.IGNORECASE)


def _day(token: str) -> int | None:
    token = token.strip().rstrip(".").lower()
    if token and token[0] in _KO:
        return _KO[token[0]]
    token = token.rstrip("s") if token.rstrip("s") in _EN else token
    return _EN.get(token)


def extract_weekdays(text: str) -> frozenset[int]:
    """The days (0 = Monday ... 6 = Sunday) that ``text`` names, including ranges and weekend/weekday."""
    days: set[int] = set()
    spans: list[tuple[int, int]] = []
    for m in _RANGE.finditer(text):
        a, b = _day(m.group("a")), _day(m.group("b"))
        if a is None or b is None:
            continue
        day = a
        days.add(day)
        while day != b:
            day = (day + 1) % 7
            days.add(day)
        spans.append((m.start(), m.end()))
    for m in _DAY.finditer(text):
        if any(start <= m.start() < end for start, end in spans):
            continue
        found = _day(m.group(0))
        # "sun", "sat", "wed" in lower case are usually words, not days
        if found is not None and m.group(0) not in ("sun", "sat", "wed", "mon"):
            days.add(found)
    for m in _GROUPS.finditer(text):
        word = (m.group("en") or m.group("ko") or "").lower()
        days |= _WEEKEND if word.startswith("weekend") or word == "주말" else _WEEKDAYS
    return frozenset(days)
