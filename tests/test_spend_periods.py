"""Periods typed by a person become exact ranges of days; anything else is refused with examples."""

from __future__ import annotations

import datetime as dt

import pytest

from storage.errors import InvalidInput
from storage.periods import parse_period

TODAY = dt.date(2026, 11, 25)


@pytest.mark.parametrize(
    ("words", "start", "end", "label"),
    [
        ("this year", "2026-01-01", "2026-12-31", "2026"),
        ("  This   YEAR ", "2026-01-01", "2026-12-31", "2026"),
        ("last year", "2025-01-01", "2025-12-31", "2025"),
        ("ytd", "2026-01-01", "2026-11-25", "2026 to date"),
        ("this quarter", "2026-10-01", "2026-12-31", "Q4 2026"),
        ("last quarter", "2026-07-01", "2026-09-30", "Q3 2026"),
        ("quarter to date", "2026-10-01", "2026-11-25", "Q4 2026 to date"),
        ("this month", "2026-11-01", "2026-11-30", "November 2026"),
        ("last month", "2026-10-01", "2026-10-31", "October 2026"),
        ("2026", "2026-01-01", "2026-12-31", "2026"),
        ("2026-Q3", "2026-07-01", "2026-09-30", "Q3 2026"),
        ("q1 2024", "2024-01-01", "2024-03-31", "Q1 2024"),
        ("2026-11", "2026-11-01", "2026-11-30", "November 2026"),
        ("2024-02", "2024-02-01", "2024-02-29", "February 2024"),
        ("Feb 2025", "2025-02-01", "2025-02-28", "February 2025"),
        ("in september 2026", "2026-09-01", "2026-09-30", "September 2026"),
        ("last 30 days", "2026-10-27", "2026-11-25", "the last 30 days"),
        ("past 2 weeks", "2026-11-12", "2026-11-25", "the last 2 weeks"),
        ("last 3 months", "2026-08-26", "2026-11-25", "the last 3 months"),
        ("2026-01-01..2026-03-31", "2026-01-01", "2026-03-31", "1 Jan – 31 Mar 2026"),
        ("2025-12-15 to 2026-01-15", "2025-12-15", "2026-01-15", "15 Dec 2025 – 15 Jan 2026"),
    ],
)
def test_a_period_in_words_is_an_exact_range(words: str, start: str, end: str, label: str) -> None:
    period = parse_period(words, today=TODAY)
    assert (period.start.isoformat(), period.end.isoformat(), period.label) == (start, end, label)
    assert period.contains(period.start) and period.contains(period.end)
    assert not period.contains(period.stop) and not period.contains(period.start - dt.timedelta(days=1))


def test_relative_periods_turn_over_at_year_and_quarter_boundaries() -> None:
    january = dt.date(2026, 1, 5)
    assert parse_period("last quarter", today=january).label == "Q4 2025"
    assert parse_period("last month", today=january).label == "December 2025"
    assert parse_period("last 1 month", today=dt.date(2026, 3, 31)).start == dt.date(2026, 3, 1)


def test_the_year_before_keeps_the_days_and_moves_29_february() -> None:
    leap = parse_period("2024-02-01..2024-02-29", today=TODAY).year_before()
    assert (leap.start, leap.end) == (dt.date(2023, 2, 1), dt.date(2023, 2, 28))
    assert parse_period("last 30 days", today=TODAY).year_before().describe() == (
        "the same period of 2025 (27 Oct – 25 Nov 2025)"
    )


@pytest.mark.parametrize(
    ("words", "says"),
    [
        ("since forever", "Try one of: this year, last quarter, 2026, 2026-Q3, 2026-11"),
        ("", "Try one of:"),
        ("2026-13", "names no month"),
        ("2026-Q5", "Try one of:"),
        ("2026-02-30..2026-03-01", "two real dates"),
        ("2026-03-01..2026-01-01", "ends (2026-01-01) before it starts"),
        ("1850", "outside the years"),
        ("last 0 days", "at least 1"),
        ("2000-01-01..2026-01-01", "at most ten years"),
        ("smarch 2026", "Try one of:"),
    ],
)
def test_anything_else_is_refused_naming_examples(words: str, says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_period(words, today=TODAY)
    assert says in str(refused.value)
