"""Periods a person types ("this year", "last quarter", "2026-Q3", "last 30 days") as exact date ranges."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from storage.errors import InvalidInput

EXAMPLES = (
    "this year",
    "last quarter",
    "2026",
    "2026-Q3",
    "2026-11",
    "November 2026",
    "last 30 days",
    "ytd",
    "2026-01-01..2026-03-31",
    "next month",
)
MAX_SPAN_DAYS = 366 * 10  # a longer range is a typo, and a monthly breakdown of it would be unreadable
EARLIEST_YEAR, LATEST_YEAR = 1970, 2100

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}


@dataclass(frozen=True)
class Period:
    """An inclusive range of days with the words that name it; a trip belongs to it by its start date."""

    start: dt.date
    end: dt.date
    label: str

    @property
    def stop(self) -> dt.date:
        """The first day after the period: the exclusive upper bound used in queries."""
        return self.end + dt.timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def describe(self) -> str:
        """`Q3 2026 (1 Jul – 30 Sep 2026)`: the label and the exact dates."""
        dates = format_range(self.start, self.end)
        return dates if self.label == dates else f"{self.label} ({dates})"

    def year_before(self) -> Period:
        """The same days one year earlier (29 February becomes the 28th), for year-over-year change."""
        return Period(
            _shift_year(self.start, -1),
            _shift_year(self.end, -1),
            f"the same period of {self.start.year - 1}",
        )


def format_range(start: dt.date, end: dt.date) -> str:
    if start.year != end.year:
        return f"{start.day} {start:%b %Y} – {end.day} {end:%b %Y}"
    return f"{start.day} {start:%b} – {end.day} {end:%b %Y}"


def _shift_year(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


def _year(year: int) -> Period:
    _check_year(year)
    return Period(dt.date(year, 1, 1), dt.date(year, 12, 31), str(year))


def _quarter(year: int, quarter: int) -> Period:
    _check_year(year)
    first = dt.date(year, 3 * quarter - 2, 1)
    last = _month(year, 3 * quarter).end
    return Period(first, last, f"Q{quarter} {year}")


def _month(year: int, month: int) -> Period:
    _check_year(year)
    first = dt.date(year, month, 1)
    return Period(first, first.replace(day=calendar.monthrange(year, month)[1]), f"{first:%B} {year}")


def _check_year(year: int) -> None:
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise InvalidInput(
            f"{year} is outside the years I keep travel spend for ({EARLIEST_YEAR}–{LATEST_YEAR})."
        )


def _months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` months earlier, clamped to the end of a shorter month."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _relative(words: str, today: dt.date) -> Period | None:
    quarter = (today.month - 1) // 3 + 1
    if words in ("this year", "current year"):
        return _year(today.year)
    if words in ("last year", "previous year"):
        return _year(today.year - 1)
    if words in ("next year", "coming year"):
        return _year(today.year + 1)
    if words in ("ytd", "year to date", "this year to date"):
        return Period(dt.date(today.year, 1, 1), today, f"{today.year} to date")
    if words in ("this quarter", "current quarter"):
        return _quarter(today.year, quarter)
    if words in ("last quarter", "previous quarter"):
        year, previous = (today.year, quarter - 1) if quarter > 1 else (today.year - 1, 4)
        return _quarter(year, previous)
    if words in ("next quarter", "coming quarter"):
        year, following = (today.year, quarter + 1) if quarter < 4 else (today.year + 1, 1)
        return _quarter(year, following)
    if words in ("qtd", "quarter to date"):
        return Period(_quarter(today.year, quarter).start, today, f"Q{quarter} {today.year} to date")
    if words in ("this month", "current month"):
        return _month(today.year, today.month)
    if words in ("last month", "previous month"):
        year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
        return _month(year, month)
    if words in ("next month", "coming month"):
        year, month = (today.year, today.month + 1) if today.month < 12 else (today.year + 1, 1)
        return _month(year, month)
    if words in ("mtd", "month to date"):
        return Period(today.replace(day=1), today, f"{today:%B %Y} to date")
    return None


def _last_n(amount: int, unit: str, today: dt.date) -> Period:
    if amount < 1:
        raise InvalidInput("The number of days, weeks or months must be at least 1.")
    unit = unit.rstrip("s")
    if unit == "day":
        start = today - dt.timedelta(days=amount - 1)
    elif unit == "week":
        start = today - dt.timedelta(days=7 * amount - 1)
    else:
        if amount > 12 * 10:
            raise InvalidInput("Ask for at most 120 months at a time.")
        start = _months_before(today, amount) + dt.timedelta(days=1)
    noun = unit if amount == 1 else unit + "s"
    return Period(start, today, f"the last {amount} {noun}")


def _explicit(first: str, last: str) -> Period:
    try:
        start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    except ValueError:
        raise InvalidInput(f"'{first}..{last}' does not hold two real dates written as YYYY-MM-DD.") from None
    if end < start:
        raise InvalidInput(f"The period ends ({end.isoformat()}) before it starts ({start.isoformat()}).")
    _check_year(start.year)
    _check_year(end.year)
    return Period(start, end, format_range(start, end))


def parse_period(text: str, *, today: dt.date) -> Period:
    """The period named by `text`, relative to `today` (the asker's local date); InvalidInput otherwise."""
    words = " ".join(str(text).strip().lower().split())
    words = words.removeprefix("in ").removeprefix("for ").removeprefix("during ")
    period = _relative(words, today) or _absolute(words, today)
    if period is None:
        raise InvalidInput(
            f"I can't read the period '{str(text).strip()[:60]}'. Try one of: {', '.join(EXAMPLES)}."
        )
    if period.days > MAX_SPAN_DAYS:
        raise InvalidInput("Ask for at most ten years at a time.")
    return period


def _absolute(words: str, today: dt.date) -> Period | None:
    if match := re.fullmatch(r"(\d{4})", words):
        return _year(int(match[1]))
    if match := re.fullmatch(r"(\d{4})[- ]?q([1-4])|q([1-4])[- ]?(\d{4})", words):
        year, quarter = (match[1], match[2]) if match[1] else (match[4], match[3])
        return _quarter(int(year), int(quarter))
    if match := re.fullmatch(r"(\d{4})-(\d{1,2})", words):
        month = int(match[2])
        if not 1 <= month <= 12:
            raise InvalidInput(f"{words} names no month; write the month as 01 to 12, e.g. 2026-11.")
        return _month(int(match[1]), month)
    if match := re.fullmatch(r"([a-z]+)\.? (\d{4})", words):
        if match[1] in _MONTHS:
            return _month(int(match[2]), _MONTHS[match[1]])
        return None
    if match := re.fullmatch(r"(?:the )?(?:last|past) (\d{1,4}) (days?|weeks?|months?)", words):
        return _last_n(int(match[1]), match[2], today)
    if match := re.fullmatch(r"(\d{4}-\d{2}-\d{2}) ?(?:\.\.|to|–|-) ?(\d{4}-\d{2}-\d{2})", words):
        return _explicit(match[1], match[2])
    return None
