"""Numbers with units and scales, found in English and Korean text and normalised for comparison.

``extract_quantities("약 2.1조 달러")`` gives one money quantity of 2.1e12 USD, and
``extract_quantities("오후 3시")`` one time of 15:00 (900 minutes), so that the fact checker
can compare a claim's numbers with an evidence passage's numbers by value instead of by text.

Kinds and their normalised ``value``/``unit``:

    money     amount in the currency, unit = ISO-ish code (USD, KRW, EUR, GBP, JPY, CNY)
    percent   the percentage, unit "%"
    time      minutes since midnight, unit "clock" (a bare Korean "9시" also matches 21:00)
    date      month * 100 + day, unit "md"
    year      the year, unit "year"
    duration  days (hours are 1/24 day), unit "days"
    measure   the number, unit = lower-cased unit (gb, mah, inch, w, ...)
    count     the number, unit = the counted noun (stores, items, 곳, 개, ...) or the label ("exit 4")

A clock time also gets a ``role`` when its wording says which end of a span it is: ``"start"``
("from 10 AM", "opens at 10 AM", the first end of "10 AM – 8 PM", "오전 10시부터", "10시에 문을
열고") or ``"end"`` ("until 9 PM", "closes at 6 PM", "오후 8시까지", "6시에 닫습니다"). An
opening time is never compared with a closing time (:func:`roles_compatible`): "open until 9 PM
on Wednesday" says nothing about when the store opens on Wednesday. A duration that is added to
another ("one or two extra days", "another 3 to 7 days", "1~2일이 더 걸립니다") has the role
``"extra"`` and is only compared with other extra durations.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace
from typing import Literal

__all__ = [
    "Quantity",
    "QuantityKind",
    "Role",
    "extract_quantities",
    "is_same_value",
    "parse_number",
    "roles_compatible",
]

QuantityKind = Literal["money", "percent", "time", "date", "year", "duration", "measure", "count"]
Role = Literal["start", "end", "extra"]


@dataclass(frozen=True, slots=True)
class Quantity:
    """One normalised number found in a text; ``start``/``end`` are offsets into that text."""

    kind: QuantityKind
    value: float
    unit: str
    start: int
    end: int
    text: str
    approximate: bool = False
    alt_value: float | None = None  # a second reading, e.g. 21:00 for an ambiguous "9시"
    role: Role | None = None  # which end of a span a clock time is; "extra" for "two extra days"

    @property
    def key(self) -> tuple[str, str]:
        """Quantities are only compared with quantities of the same key."""
        return (self.kind, self.unit)


# --- number words -----------------------------------------------------------------------

_UNITS_EN = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS_EN = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_NATIVE_KO = {
    "한": 1,
    "두": 2,
    "세": 3,
    "네": 4,
    "다섯": 5,
    "여섯": 6,
    "일곱": 7,
    "여덟": 8,
    "아홉": 9,
    "열": 10,
    "열한": 11,
    "열두": 12,
    "스무": 20,
}
_EN_SCALES = {
    "hundred": 1e2,
    "thousand": 1e3,
    "million": 1e6,
    "billion": 1e9,
    "trillion": 1e12,
    "k": 1e3,
    "m": 1e6,
    "mn": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "t": 1e12,
    "tn": 1e12,
}
_KO_SMALL = {"십": 10.0, "백": 100.0, "천": 1000.0}
_KO_BIG = {"만": 1e4, "억": 1e8, "조": 1e12}

_WORD_NUM = (
    r"(?:(?:" + "|".join(_TENS_EN) + r")(?:[- ](?:" + "|".join(k for k in _UNITS_EN if _UNITS_EN[k] < 10) + r"))?"
    r"|" + "|".join(sorted(_UNITS_EN, key=len, reverse=True)) + r")"
)
_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_KO_NUM = rf"(?:(?:{_DIGITS})\s?[십백천]?[만억조]\s?)*(?:{_DIGITS})(?:\s?[십백천]*[만억조]?)"
_NUM = rf"(?:{_KO_NUM}|{_WORD_NUM})"


def parse_number(text: str) -> float | None:
    """Value of a numeral: "1,234.5", "1.7조", "94만 9천", "twenty-four", "six"; None if it is not one."""
    raw = text.strip().lower()
    if not raw:
        return None
    words = re.fullmatch(r"([a-z]+)(?:[- ]([a-z]+))?", raw)
    if words:
        first, second = words.group(1), words.group(2)
        if first in _TENS_EN:
            return float(_TENS_EN[first] + (_UNITS_EN.get(second, 0) if second else 0))
        if first in _UNITS_EN and second is None:
            return float(_UNITS_EN[first])
        return None
    total = 0.0
    section = 0.0
    pos = 0
    matched = False
    for part in re.finditer(rf"({_DIGITS})\s?([십백천]*)([만억조]?)\s?", raw):
        if part.start() != pos:
            return None
        pos = part.end()
        matched = True
        small = float(part.group(1).replace(",", ""))
        for char in part.group(2):
            small *= _KO_SMALL[char]
        if part.group(3):
            total += (section + small) * _KO_BIG[part.group(3)]
            section = 0.0
        else:
            section += small
    if not matched or pos != len(raw):
        return None
    return total + section


# --- patterns ----------------------------------------------------------------------------

_APPROX_BEFORE = re.compile(
    r"(?:about|around|approximately|approx\.?|roughly|nearly|almost|some|over|under|more than|less than|"
    r"up to|at least|약|대략|거의|최대|최소)\s*$",
    re.IGNORECASE,
)
_APPROX_AFTER = re.compile(r"^\s*(?:정도|가량|쯤|여|이상|이하|남짓|or so)", re.IGNORECASE)

_CURRENCY_PREFIX = {
    "$": "USD",
    "us$": "USD",
    "usd": "USD",
    "₩": "KRW",
    "krw": "KRW",
    "€": "EUR",
    "eur": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "¥": "JPY",
    "jpy": "JPY",
}
_CURRENCY_SUFFIX = {
    "원": "KRW",
    "won": "KRW",
    "krw": "KRW",
    "달러": "USD",
    "불": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "usd": "USD",
    "us dollars": "USD",
    "euro": "EUR",
    "euros": "EUR",
    "eur": "EUR",
    "유로": "EUR",
    "pound": "GBP",
    "pounds": "GBP",
    "gbp": "GBP",
    "엔": "JPY",
    "yen": "JPY",
    "jpy": "JPY",
    "위안": "CNY",
    "yuan": "CNY",
}
_SCALE_WORD = r"(?:\s?(?P<scale>hundred|thousand|million|billion|trillion|bn|mn|tn|[kmbt])\b)?"

_MONEY_PREFIX = re.compile(
    rf"(?P<cur>US\$|\$|₩|€|£|¥|\b(?:USD|KRW|EUR|GBP|JPY)\b)\s?(?P<num>{_KO_NUM}){_SCALE_WORD}", re.IGNORECASE
)
_MONEY_SUFFIX = re.compile(
    rf"(?P<num>{_NUM}){_SCALE_WORD}\s?(?P<cur>원|달러|불|유로|엔|위안|"
    r"\b(?:won|us dollars|dollars?|usd|krw|euros?|eur|pounds?|gbp|yen|jpy|yuan)\b)",
    re.IGNORECASE,
)
_PERCENT = re.compile(rf"(?P<num>{_NUM})\s?(?:%|percent\b|per cent\b|퍼센트|프로\b)", re.IGNORECASE)
_TIME_EN = re.compile(r"\b(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s?(?P<ap>a\.?m\.?|p\.?m\.?)(?![a-z])", re.IGNORECASE)
_TIME_WORD = re.compile(r"\b(?P<w>noon|midday|midnight)\b|(?P<k>정오|자정)", re.IGNORECASE)
_TIME_24 = re.compile(r"(?<![\d:.,])(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?![\d:])")
_TIME_KO = re.compile(
    r"(?:(?P<ap>오전|오후|아침|낮|저녁|밤|새벽)\s?)?(?P<h>\d{1,2})\s?시(?!간|대|즌|작|청|장)"
    r"(?:\s?(?P<m>\d{1,2})\s?분|\s?(?P<half>반))?"
)
# "10~21시", "9-18시": the first hour of a Korean range written once with 시.
_TIME_KO_COMPACT = re.compile(
    r"(?:(?P<ap>오전|오후|아침|낮|저녁|밤|새벽)\s?)?(?P<h>\d{1,2})(?=\s?[~\-–—]\s?(?:(?:오전|오후|아침|낮|저녁|밤|새벽)\s?)?\d{1,2}\s?시(?!간))"
)
# What makes a clock time the start or the end of a span, before it (English) or after it (Korean).
_START_BEFORE = re.compile(
    r"\b(?:from|opens?|opening|opened|starts?|starting|begins?|beginning|open(?:s|ing)? (?:up|its doors))"
    r"(?:\s+(?:at|from))?\s*$",
    re.IGNORECASE,
)
_END_BEFORE = re.compile(
    r"\b(?:until|till|til|to|through|thru|closes?|closing|closed|ends?|ending|finish(?:es)?)(?:\s+at)?\s*$",
    re.IGNORECASE,
)
_START_AFTER = re.compile(r"^\s*(?:부터|에\s?(?:문을\s?)?(?:열|엽|오픈|개점|시작))")
_END_AFTER = re.compile(r"^\s*(?:까지|에\s?(?:문을\s?)?(?:닫|마감|종료|폐점|끝))")
_EXTRA_INSIDE = re.compile(r"\b(?:extra|more|additional|further)\b", re.IGNORECASE)
_EXTRA_BEFORE = re.compile(r"\b(?:another|an additional|an extra|additional|extra)\s*$", re.IGNORECASE)
_EXTRA_AFTER = re.compile(r"^(?:이|가)?\s?더\b|^\s*(?:more|extra|additional|longer)\b", re.IGNORECASE)
_RANGE_JOIN = re.compile(r"^\s*(?:[-–—~]|to|until|till|through|thru|부터)\s*$", re.IGNORECASE)
_MONTHS = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH_RE = r"(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_MD = re.compile(
    rf"\b(?P<mon>{_MONTH_RE})\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<y>\d{{4}}))?", re.IGNORECASE
)
_DATE_DM = re.compile(
    rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon>{_MONTH_RE})\b(?:,?\s+(?P<y>\d{{4}}))?",
    re.IGNORECASE,
)
_DATE_ISO = re.compile(r"\b(?P<y>(?:19|20)\d{2})[-/.](?P<mon>\d{1,2})[-/.](?P<d>\d{1,2})\b")
_DATE_KO = re.compile(r"(?:(?P<y>\d{4})\s?년\s?)?(?P<mon>\d{1,2})\s?월\s?(?P<d>\d{1,2})\s?일")
_YEAR = re.compile(
    r"(?<![\d$₩€£.,])(?P<y>(?:1[89]|20)\d{2})(?:\s?년(?!\s?(?:간|동안|이상|이하|이내)))?(?![\d%]|[.,]\d|\s?(?:개월|달))"
)
_DURATION_UNITS = {
    "second": 1 / 86400,
    "seconds": 1 / 86400,
    "sec": 1 / 86400,
    "secs": 1 / 86400,
    "minute": 1 / 1440,
    "minutes": 1 / 1440,
    "min": 1 / 1440,
    "mins": 1 / 1440,
    "hour": 1 / 24,
    "hours": 1 / 24,
    "hr": 1 / 24,
    "hrs": 1 / 24,
    "day": 1,
    "days": 1,
    "business day": 1,
    "business days": 1,
    "working day": 1,
    "working days": 1,
    "week": 7,
    "weeks": 7,
    "month": 365 / 12,
    "months": 365 / 12,
    "year": 365,
    "years": 365,
    "yr": 365,
    "yrs": 365,
    "초": 1 / 86400,
    "분": 1 / 1440,
    "시간": 1 / 24,
    "일": 1,
    "주": 7,
    "주일": 7,
    "개월": 365 / 12,
    "달": 365 / 12,
    "년": 365,
}
_DURATION_EN = re.compile(
    rf"\b(?:(?P<lo>{_NUM})\s?(?:to|-|–|~|or)\s?)?(?P<num>{_NUM})(?:[- ](?:more |full |calendar |extra )?)"
    r"(?P<unit>(?:business|working)[- ]days?|seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|"
    r"months?|years?|yrs?)\b",
    re.IGNORECASE,
)
_NATIVE_KO_RE = "|".join(sorted(_NATIVE_KO, key=len, reverse=True))
_DURATION_KO = re.compile(
    rf"(?:(?P<lo>{_KO_NUM})\s?[~\-–]\s?)?(?P<num>{_KO_NUM}|{_NATIVE_KO_RE})\s?(?P<unit>개월|시간|주일|초|분|일|주|달|년)"
)
_MEASURE = re.compile(
    rf"(?P<num>{_KO_NUM})[- ]?(?P<unit>gb|tb|mb|kb|mah|wh|kwh|w|v|hz|ghz|mhz|mm|cm|km|m|kg|g|mg|ml|l|"
    r"inch|inches|in|인치|ft|feet|lbs?|oz|mp|fps|k)\b",
    re.IGNORECASE,
)
_COUNT_EN = re.compile(rf"\b(?P<num>{_NUM})\s+(?P<unit>[a-z][a-z-]{{2,}})\b", re.IGNORECASE)
_COUNT_KO = re.compile(
    rf"(?P<num>{_KO_NUM}|{_NATIVE_KO_RE})\s?(?P<unit>개|명|곳|대|번|가지|층|회|권|장|병|잔|벌|켤레|종)"
)
_COUNT_STOP = {
    "of",
    "and",
    "or",
    "to",
    "in",
    "on",
    "at",
    "by",
    "for",
    "the",
    "a",
    "an",
    "is",
    "are",
    "was",
    "were",
    "from",
    "with",
    "am",
    "pm",
    "percent",
    "per",
    "times",
    "x",
}
_AMBIGUOUS_WORDS = {"one"}  # "one of", "the one": too often not a number


def _approximate(text: str, start: int, end: int) -> bool:
    return bool(_APPROX_BEFORE.search(text[max(0, start - 16) : start]) or _APPROX_AFTER.match(text[end : end + 6]))


class _Collector:
    """Keeps found quantities and the character ranges they use, so later patterns skip them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.taken = bytearray(len(text))
        self.found: list[Quantity] = []

    def free(self, start: int, end: int) -> bool:
        return not any(self.taken[start:end])

    def add(
        self, kind: QuantityKind, value: float, unit: str, start: int, end: int, *, alt: float | None = None
    ) -> None:
        if not self.free(start, end):
            return
        self.taken[start:end] = b"\x01" * (end - start)
        approx = _approximate(self.text, start, end)
        self.found.append(Quantity(kind, value, unit, start, end, self.text[start:end], approx, alt))


def _scaled(num: str, scale: str | None) -> float | None:
    value = parse_number(num)
    if value is None:
        return None
    if scale:
        value *= _EN_SCALES[scale.lower()]
    return value


def _money(col: _Collector) -> None:
    text = col.text
    for m in _MONEY_PREFIX.finditer(text):
        value = _scaled(m.group("num"), m.group("scale"))
        if value is not None:
            col.add("money", value, _CURRENCY_PREFIX[m.group("cur").lower()], m.start(), m.end())
    for m in _MONEY_SUFFIX.finditer(text):
        value = _scaled(m.group("num"), m.group("scale"))
        if value is not None and m.group("num").lower() not in _AMBIGUOUS_WORDS:
            col.add("money", value, _CURRENCY_SUFFIX[m.group("cur").lower()], m.start(), m.end())


def _percent(col: _Collector) -> None:
    for m in _PERCENT.finditer(col.text):
        value = parse_number(m.group("num"))
        if value is not None:
            col.add("percent", value, "%", m.start(), m.end())


def _korean_clock(hour: int, minute: int, period: str | None) -> tuple[float, float | None] | None:
    """Minutes since midnight of a Korean clock time, and the afternoon reading of a bare "9시"."""
    if hour > 24 or minute > 59:
        return None
    alt: float | None = None
    if (period in ("오후", "저녁", "밤") and hour < 12) or (period == "낮" and hour < 6):
        hour += 12
    elif period in ("오전", "아침", "새벽") and hour == 12:
        hour = 0
    elif period is None and 1 <= hour < 12:
        alt = (hour + 12) * 60 + minute  # "9시" is 9:00 or 21:00
    return (hour % 24) * 60 + minute, alt


def _with_roles(text: str, found: list[Quantity]) -> list[Quantity]:
    """``found`` with the role its wording gives each clock time and duration (see the module doc)."""
    roles: dict[int, Role] = {}
    for q in found:
        if q.kind == "duration" and (
            _EXTRA_INSIDE.search(q.text)
            or _EXTRA_BEFORE.search(text[max(0, q.start - 12) : q.start])
            or _EXTRA_AFTER.match(text[q.end : q.end + 6])
        ):
            roles[id(q)] = "extra"
    extra_starts = {q.start for q in found if roles.get(id(q)) == "extra"}
    for q in found:  # the low end of "another 3 to 7 days" starts where the range does
        if q.kind == "duration" and q.start in extra_starts:
            roles[id(q)] = "extra"
    times = [q for q in found if q.kind == "time"]
    for first, second in itertools.pairwise(times):
        if first.end <= second.start and _RANGE_JOIN.match(text[first.end : second.start]):
            roles[id(first)], roles[id(second)] = "start", "end"
    for q in times:
        if id(q) in roles:
            continue
        before, after = text[max(0, q.start - 30) : q.start], text[q.end : q.end + 12]
        if _START_BEFORE.search(before) or _START_AFTER.match(after):
            roles[id(q)] = "start"
        elif _END_BEFORE.search(before) or _END_AFTER.match(after):
            roles[id(q)] = "end"
    if not roles:
        return found
    return [replace(q, role=roles[id(q)]) if id(q) in roles else q for q in found]


def _times(col: _Collector) -> None:
    text = col.text
    for m in _TIME_EN.finditer(text):
        hour, minute = int(m.group("h")), int(m.group("m") or 0)
        if not 1 <= hour <= 12 or minute > 59:
            continue
        pm = m.group("ap").lower().startswith("p")
        hour = hour % 12 + (12 if pm else 0)
        col.add("time", hour * 60 + minute, "clock", m.start(), m.end())
    for m in _TIME_WORD.finditer(text):
        word = (m.group("w") or m.group("k") or "").lower()
        col.add("time", 0 if word in ("midnight", "자정") else 720, "clock", m.start(), m.end())
    for m in _TIME_KO.finditer(text):
        reading = _korean_clock(int(m.group("h")), int(m.group("m") or (30 if m.group("half") else 0)), m.group("ap"))
        if reading is not None:
            col.add("time", reading[0], "clock", m.start(), m.end(), alt=reading[1])
    for m in _TIME_KO_COMPACT.finditer(text):
        reading = _korean_clock(int(m.group("h")), 0, m.group("ap"))
        if reading is not None:
            col.add("time", reading[0], "clock", m.start(), m.end(), alt=reading[1])
    for m in _TIME_24.finditer(text):
        col.add("time", int(m.group("h")) * 60 + int(m.group("m")), "clock", m.start(), m.end())


def _dates(col: _Collector) -> None:
    text = col.text
    for pattern in (_DATE_ISO, _DATE_KO, _DATE_MD, _DATE_DM):
        for m in pattern.finditer(text):
            month_text = m.group("mon")
            month = int(month_text) if month_text.isdigit() else _MONTHS[month_text.lower().rstrip(".")]
            day = int(m.group("d"))
            if not (1 <= month <= 12 and 1 <= day <= 31) or not col.free(m.start(), m.end()):
                continue
            year_start = m.start("y") if m.group("y") else -1
            if year_start >= 0:
                # the year is its own quantity so that "March 1, 2024" vs "March 1, 2023" is a year mismatch
                col.found.append(Quantity("year", float(m.group("y")), "year", year_start, m.end("y"), m.group("y")))
            col.add("date", month * 100 + day, "md", m.start(), m.end())


def _years(col: _Collector) -> None:
    for m in _YEAR.finditer(col.text):
        col.add("year", float(m.group("y")), "year", m.start(), m.end())


def _add_duration(col: _Collector, m: re.Match[str], days: float, unit_days: float) -> None:
    """A duration, or both ends of a range ("3 to 5 business days", "3~7일") with the same unit."""
    low = parse_number(m.group("lo")) if m.group("lo") else None
    if low is None or not col.free(m.start(), m.end()):
        col.add("duration", days, "days", m.start(), m.end())
        return
    col.found.append(Quantity("duration", low * unit_days, "days", m.start(), m.start("num"), m.group("lo")))
    col.add("duration", days, "days", m.start(), m.end())


def _durations(col: _Collector) -> None:
    text = col.text
    for m in _DURATION_EN.finditer(text):
        value = parse_number(m.group("num"))
        unit = re.sub(r"[- ]+", " ", m.group("unit").lower())
        if value is not None:
            _add_duration(col, m, value * _DURATION_UNITS[unit], _DURATION_UNITS[unit])
    for m in _DURATION_KO.finditer(text):
        num = m.group("num")
        value = float(_NATIVE_KO[num]) if num in _NATIVE_KO else parse_number(num)
        if value is None:
            continue
        unit = m.group("unit")
        if unit == "년" and value >= 1800:
            continue  # a year, not a duration
        _add_duration(col, m, value * _DURATION_UNITS[unit], _DURATION_UNITS[unit])


def _measures(col: _Collector) -> None:
    for m in _MEASURE.finditer(col.text):
        value = parse_number(m.group("num"))
        unit = m.group("unit").lower()
        unit = {"inches": "inch", "in": "inch", "인치": "inch", "lb": "lbs"}.get(unit, unit)
        if value is not None:
            col.add("measure", value, unit, m.start(), m.end())


def _stem(word: str) -> str:
    word = word.lower()
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


_LABELLED = re.compile(
    r"\b(?P<unit>exit|gate|floor|level|room|platform|line|aisle|counter|door|building|suite|unit)\s+(?P<num>\d+)\b",
    re.IGNORECASE,
)


def _counts(col: _Collector) -> None:
    text = col.text
    for m in _LABELLED.finditer(text):
        col.add("count", float(m.group("num")), m.group("unit").lower(), m.start(), m.end())
    for m in _COUNT_EN.finditer(text):
        num, unit = m.group("num"), m.group("unit").lower()
        if unit in _COUNT_STOP or num.lower() in _AMBIGUOUS_WORDS:
            continue
        value = parse_number(num)
        if value is None or (num[0].isdigit() and "." in num):
            continue
        col.add("count", value, _stem(unit), m.start(), m.end())
    for m in _COUNT_KO.finditer(text):
        num = m.group("num")
        value = float(_NATIVE_KO[num]) if num in _NATIVE_KO else parse_number(num)
        if value is not None:
            col.add("count", value, m.group("unit"), m.start(), m.end())


def extract_quantities(text: str) -> list[Quantity]:
    """All quantities in ``text``, ordered by position; each character belongs to at most one."""
    col = _Collector(text)
    # Order matters: the more specific readings claim their characters first.
    _money(col)
    _percent(col)
    _dates(col)
    _times(col)
    _durations(col)
    _years(col)
    _measures(col)
    _counts(col)
    return _with_roles(text, sorted(col.found, key=lambda q: q.start))


def roles_compatible(claim: Quantity, evidence: Quantity) -> bool:
    """False for a start time against an end time ("opens at 10 AM" vs "until 9 PM") and for an
    added duration against a total one ("one or two extra days" vs "3 to 5 business days")."""
    if "extra" in (claim.role, evidence.role):
        return claim.role == evidence.role
    return claim.role is None or evidence.role is None or claim.role == evidence.role


def is_same_value(claim: Quantity, evidence: Quantity) -> bool:
    """True when two quantities of the same key agree (within 5 % when the claim says "about")."""
    if claim.key != evidence.key:
        return False
    claim_values = [claim.value] if claim.alt_value is None else [claim.value, claim.alt_value]
    evidence_values = [evidence.value] if evidence.alt_value is None else [evidence.value, evidence.alt_value]
    approximate = claim.approximate or evidence.approximate
    if claim.kind in _ABSOLUTE_SLACK:
        # A calendar position is exact: a relative tolerance would let 1999 pass for 2007.
        slack = _ABSOLUTE_SLACK[claim.kind] if approximate else 0.0
        return any(abs(a - b) <= slack + 1e-9 for a in claim_values for b in evidence_values)
    tolerance = 0.05 if approximate else 0.005
    if claim.kind == "duration":
        tolerance = max(tolerance, 0.02)  # 12 months vs 1 year, 4 weeks vs 1 month
    return any(abs(a - b) <= tolerance * max(abs(a), abs(b)) + 1e-9 for a in claim_values for b in evidence_values)


# "about"/"약" slack of quantities compared by absolute difference: years, minutes of the day, dates.
_ABSOLUTE_SLACK: dict[str, float] = {"year": 1.0, "time": 15.0, "date": 0.0}
