"""Quantities: currencies, percentages, times, dates, durations, counts, Korean scales."""

from __future__ import annotations

import pytest

from llmmon.checks.quantities import extract_quantities, is_same_value, parse_number


def _one(text: str) -> tuple[str, float, str]:
    found = extract_quantities(text)
    assert len(found) == 1, found
    return found[0].kind, found[0].value, found[0].unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$699", ("money", 699.0, "USD")),
        ("USD 1,234.50", ("money", 1234.5, "USD")),
        ("949,000원", ("money", 949000.0, "KRW")),
        ("349,000 won", ("money", 349000.0, "KRW")),
        ("약 1.7조 달러", ("money", 1.7e12, "USD")),
        ("$2.1 trillion", ("money", 2.1e12, "USD")),
        ("32만 9천원", ("money", 329000.0, "KRW")),
        ("1억 2천만 원", ("money", 1.2e8, "KRW")),
        ("10%", ("percent", 10.0, "%")),
        ("15 percent", ("percent", 15.0, "%")),
        ("5 PM", ("time", 17 * 60, "clock")),
        ("17:00", ("time", 17 * 60, "clock")),
        ("오후 3시", ("time", 15 * 60, "clock")),
        ("오전 10시 30분", ("time", 10 * 60 + 30, "clock")),
        ("noon", ("time", 12 * 60, "clock")),
        ("30 days", ("duration", 30.0, "days")),
        ("six months", ("duration", 365 / 2, "days")),
        ("a one-year warranty", ("duration", 365.0, "days")),
        ("1년", ("duration", 365.0, "days")),
        ("6개월", ("duration", 365 / 2, "days")),
        ("two hours", ("duration", 1 / 12, "days")),
        ("within one business day", ("duration", 1.0, "days")),
        ("three stores", ("count", 3.0, "store")),
        ("exit 4", ("count", 4.0, "exit")),
        ("1월 1일", ("date", 101.0, "md")),
        ("in 1995.", ("year", 1995.0, "year")),
        ("128 GB", ("measure", 128.0, "gb")),
    ],
)
def test_extract_quantities_normalises_value_and_unit(text: str, expected: tuple[str, float, str]) -> None:
    kind, value, unit = _one(text)
    assert (kind, unit) == (expected[0], expected[2])
    assert value == pytest.approx(expected[1])


def test_extract_quantities_time_ranges_give_both_ends() -> None:
    assert [q.value for q in extract_quantities("9 AM–6 PM")] == [540, 1080]
    assert [q.value for q in extract_quantities("오전 10시 – 오후 8시")] == [600, 1200]


def test_extract_quantities_duration_range_gives_both_ends() -> None:
    assert [q.value for q in extract_quantities("3 to 5 business days")] == [3.0, 5.0]
    assert [q.value for q in extract_quantities("3~7일")] == [3.0, 7.0]


def test_extract_quantities_spans_point_into_the_text() -> None:
    text = "It costs $699 (949,000원) and ships in 2 days."
    for quantity in extract_quantities(text):
        assert text[quantity.start : quantity.end] == quantity.text


def test_same_value_korean_scale_trillions_differ() -> None:
    (claim,) = [q for q in extract_quantities("약 2.1조 달러") if q.kind == "money"]
    (kb,) = [q for q in extract_quantities("약 1.7조 달러") if q.kind == "money"]
    assert not is_same_value(claim, kb)
    assert is_same_value(kb, kb)


def test_same_value_five_pm_equals_1700_and_bare_korean_hour_is_ambiguous() -> None:
    (pm,) = extract_quantities("5 PM")
    (clock,) = extract_quantities("17:00")
    assert is_same_value(pm, clock)
    (bare,) = extract_quantities("9시")
    (evening,) = extract_quantities("21:00")
    assert is_same_value(bare, evening)


def test_same_value_never_compares_different_currencies() -> None:
    (dollars,) = extract_quantities("$5")
    (won,) = extract_quantities("5원")
    assert not is_same_value(dollars, won)


def test_same_value_twelve_months_is_one_year() -> None:
    (months,) = extract_quantities("12 months")
    (year,) = extract_quantities("one year")
    assert is_same_value(months, year)


def test_parse_number_rejects_non_numbers() -> None:
    assert parse_number("hello") is None
    assert parse_number("twenty-four") == 24
    assert parse_number("1,089,000") == 1089000


def test_years_dates_and_times_are_compared_exactly() -> None:
    (y1999,) = extract_quantities("released in 1999")
    (y2007,) = extract_quantities("released in 2007")
    assert not is_same_value(y1999, y2007)  # a 0.5 % tolerance would be ten years
    (about,) = extract_quantities("released around 2006")
    assert is_same_value(about, y2007) and not is_same_value(about, y1999)
    (june16,) = [q for q in extract_quantities("on June 16") if q.kind == "date"]
    (june19,) = [q for q in extract_quantities("on June 19") if q.kind == "date"]
    assert not is_same_value(june16, june19)
    (t5,) = extract_quantities("at 5:05 PM")
    (t5b,) = extract_quantities("at 5 PM")
    assert not is_same_value(t5, t5b)


def test_clock_time_roles_ranges_and_korean_compact_range() -> None:
    from llmmon.checks.quantities import roles_compatible

    def roles(text: str) -> list[tuple[float, str | None]]:
        return [(q.value, q.role) for q in extract_quantities(text) if q.kind in ("time", "duration")]

    assert roles("open from 10 AM to 8 PM, and until 9 PM on Friday") == [(600, "start"), (1200, "end"), (1260, "end")]
    assert roles("Wednesday: 10:00 AM – 9:00 PM.") == [(600, "start"), (1260, "end")]
    assert roles("opens at 11 AM and closes at 6 PM") == [(660, "start"), (1080, "end")]
    assert roles("토요일에는 오전 11시에 문을 열고 오후 6시에 닫습니다.") == [(660, "start"), (1080, "end")]
    assert roles("오전 9시부터 오후 6시까지") == [(540, "start"), (1080, "end")]
    assert [v for v, _ in roles("평일 10~21시 운영")] == [600, 1260]
    assert roles("orders placed before 2 PM") == [(840, None)]
    assert roles("takes one or two extra days") == [(1, "extra"), (2, "extra")]
    assert roles("제주도는 1~2일이 더 걸립니다") == [(1, "extra"), (2, "extra")]
    opens, closes = extract_quantities("opens at 10 AM and closes at 10 AM")
    bare = extract_quantities("at 10 AM")[0]
    assert not roles_compatible(opens, closes)
    assert roles_compatible(bare, opens) and roles_compatible(closes, bare)
    plain, extra = extract_quantities("3 days")[0], extract_quantities("3 extra days")[0]
    assert not roles_compatible(plain, extra) and not roles_compatible(extra, plain)
