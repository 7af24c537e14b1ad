"""Spend analytics of past trips, for one traveller or a whole tenant, in any period.

Where the figures come from, and in which currency:
- Spend is `travel_analytics`: one row per trip (or whatever another system records there) with its travel
  date, traveller, total and a split by category. A row belongs to a period by its travel date.
- The trip behind a row, when the product recorded it, is found through `completed_trips`: its destination
  (the history row's, kept equal to it by triggers) and its last day (for nights). A row with no trip behind it counts with
  destination `unknown` and no nights.
- The split by category is `categories_spend`; entries that are not plain decimals are ignored, and what the
  categories leave of the period's spend is shown as `uncategorised`, so every breakdown adds up to the same
  total.
- travel_analytics has no currency column: storage.trips records spend in the tenant currency, so these
  figures are in the tenant's `currency` preference as it stands now. Changing that preference does not
  convert past rows. Booking amounts, which carry their own currency, are in storage.spend_policy.

Every statement names tenant_id explicitly (a constant the planner and a Citus router can use) while
row-level security still confines the session to its tenant. Who may ask for the whole tenant is checked
by the caller (agent.spend_report).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import InvalidInput
from storage.periods import Period
from storage.preferences import tenant_preferences
from storage.sessions import current_tenant

GroupBy = Literal["category", "month", "quarter", "destination", "traveller"]
GROUPINGS: tuple[GroupBy, ...] = ("category", "month", "quarter", "destination", "traveller")
UNCATEGORISED = "uncategorised"
CENT = Decimal("0.01")
ZERO = Decimal(0)

# A category's value counts only when it reads as a plain decimal (a bad value must not fail the query).
PLAIN_DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"

_TRIPS = """
FROM travel_analytics a{joins}
WHERE a.tenant_id = :tenant AND a.travel_date >= :start AND a.travel_date < :stop {traveller}{condition}"""

# The trip behind an analytics row, when there is one: its destination and its last day (both in the index).
_TRIP = """
LEFT JOIN completed_trips c ON c.tenant_id = :tenant AND c.tenant_id = a.tenant_id
                           AND c.analytics_id = a.analytics_id"""
_TRAVELLERS = """
LEFT JOIN users.tenant_users u ON u.tenant_id = :tenant AND u.tenant_id = a.tenant_id AND u.user_id = a.user_id"""
_CATEGORY_ENTRIES = """
CROSS JOIN LATERAL jsonb_each_text(
    CASE WHEN jsonb_typeof(a.categories_spend) = 'object' THEN a.categories_spend ELSE '{}' END) e"""
_PLAIN_ENTRY = f"\n  AND e.value ~ '{PLAIN_DECIMAL}'"

_SELECTS: dict[GroupBy, str] = {
    "category": """
SELECT e.key AS key, e.key AS label, sum(e.value::numeric) AS amount, count(*) AS trips
{trips}
GROUP BY e.key""",
    "month": """
SELECT to_char(a.travel_date, 'YYYY-MM') AS key, to_char(a.travel_date, 'Mon YYYY') AS label,
       sum(a.total_spend) AS amount, count(*) AS trips
{trips}
GROUP BY 1, 2""",
    "quarter": """
SELECT to_char(a.travel_date, 'YYYY-"Q"Q') AS key, to_char(a.travel_date, '"Q"Q YYYY') AS label,
       sum(a.total_spend) AS amount, count(*) AS trips
{trips}
GROUP BY 1, 2""",
    "destination": """
SELECT coalesce(c.destination, 'unknown') AS key, coalesce(c.destination, 'unknown') AS label,
       sum(a.total_spend) AS amount, count(*) AS trips
{trips}
GROUP BY 1, 2""",
    "traveller": """
SELECT coalesce(a.user_id::text, 'unknown') AS key, coalesce(u.display_name, 'unknown') AS label,
       sum(a.total_spend) AS amount, count(*) AS trips
{trips}
GROUP BY 1, 2""",
}

_TOTAL = """
SELECT count(*) AS trips, coalesce(sum(a.total_spend), 0) AS amount,
       coalesce(sum(greatest(c.end_date - a.travel_date, 0)), 0) AS nights
{trips}"""


@dataclass(frozen=True)
class SpendQuery:
    """One analytics statement with its parameters: what the service runs, and what bench/ times."""

    sql: str
    params: dict[str, Any]


def traveller_condition(user_id: uuid.UUID | None, params: dict[str, Any], column: str) -> str:
    """`AND column = :user` for one traveller (binding :user), nothing for the whole tenant."""
    if user_id is None:
        return ""
    params["user"] = user_id
    return f"AND {column} = :user"


def period_params(tenant_id: uuid.UUID, period: Period) -> dict[str, Any]:
    return {"tenant": tenant_id, "start": period.start, "stop": period.stop}


def trips_clause(params: dict[str, Any], user_id: uuid.UUID | None, *, group_by: str = "") -> str:
    """FROM ... WHERE over the analytics rows of the period, joined to what the grouping needs."""
    joins, condition = "", ""
    if group_by == "category":
        joins, condition = _CATEGORY_ENTRIES, _PLAIN_ENTRY
    elif group_by == "traveller":
        joins = _TRAVELLERS
    elif group_by in ("", "destination"):
        joins = _TRIP
    elif group_by == "export":
        joins = _TRAVELLERS + _TRIP
    traveller = traveller_condition(user_id, params, "a.user_id")
    return _TRIPS.format(joins=joins, traveller=traveller, condition=condition)


def total_query(*, tenant_id: uuid.UUID, period: Period, user_id: uuid.UUID | None) -> SpendQuery:
    params = period_params(tenant_id, period)
    return SpendQuery(_TOTAL.format(trips=trips_clause(params, user_id)), params)


def breakdown_query(
    *, tenant_id: uuid.UUID, period: Period, user_id: uuid.UUID | None, group_by: GroupBy
) -> SpendQuery:
    """The statement behind one breakdown; its rows are (key, label, amount, trips)."""
    if group_by not in _SELECTS:
        raise InvalidInput(
            f"Spend can be grouped by {', '.join(GROUPINGS)}; '{group_by}' is not one of them."
        )
    params = period_params(tenant_id, period)
    return SpendQuery(
        _SELECTS[group_by].format(trips=trips_clause(params, user_id, group_by=group_by)), params
    )


@dataclass(frozen=True)
class SpendTotal:
    """The trips that started in a period, their nights and their spend in the tenant currency."""

    period: Period
    currency: str
    trips: int
    nights: int
    amount: Decimal

    @property
    def average_trip(self) -> Decimal | None:
        return _per(self.amount, self.trips)

    @property
    def per_night(self) -> Decimal | None:
        return _per(self.amount, self.nights)


@dataclass(frozen=True)
class SpendLine:
    """One row of a breakdown; `trips` is None for `uncategorised`, which is no set of trips."""

    key: str
    label: str
    amount: Decimal
    trips: int | None
    currency: str


@dataclass(frozen=True)
class YearOverYear:
    current: SpendTotal
    previous: SpendTotal

    @property
    def change(self) -> Decimal:
        return self.current.amount - self.previous.amount

    @property
    def percent(self) -> Decimal | None:
        """The change in percent of the earlier spend (one decimal), or None when there was none."""
        if self.previous.amount == 0:
            return None
        return (self.change * 100 / self.previous.amount).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _per(amount: Decimal, count: int) -> Decimal | None:
    return (amount / count).quantize(CENT, ROUND_HALF_UP) if count else None


async def run_query(session: AsyncSession, query: SpendQuery) -> list[Any]:
    return list((await session.execute(text(query.sql), query.params)).mappings().all())


async def spend_currency(session: AsyncSession) -> str:
    """The currency of analytics figures: the tenant's `currency` preference."""
    return str((await tenant_preferences(session))["currency"])


async def spend_total(session: AsyncSession, *, period: Period, user_id: uuid.UUID | None) -> SpendTotal:
    """Trips, nights and spend of one traveller (or the tenant, with user_id None) in `period`."""
    query = total_query(tenant_id=current_tenant(session), period=period, user_id=user_id)
    row = (await run_query(session, query))[0]
    currency = await spend_currency(session)
    return SpendTotal(period, currency, int(row["trips"]), int(row["nights"]), Decimal(row["amount"]))


async def spend_breakdown(
    session: AsyncSession, *, period: Period, group_by: GroupBy, user_id: uuid.UUID | None
) -> list[SpendLine]:
    """Spend by category, month, quarter, destination or traveller; the lines add up to the period's spend.

    Months and quarters come in time order, with the empty ones between the first and the last as zero.
    The others come largest first.
    """
    query = breakdown_query(
        tenant_id=current_tenant(session), period=period, user_id=user_id, group_by=group_by
    )
    currency = await spend_currency(session)
    lines = [
        SpendLine(str(row["key"]), str(row["label"]), Decimal(row["amount"]), int(row["trips"]), currency)
        for row in await run_query(session, query)
    ]
    if group_by == "category":
        total = await spend_total(session, period=period, user_id=user_id)
        rest = total.amount - sum((line.amount for line in lines), ZERO)
        if rest != 0:
            lines.append(SpendLine(UNCATEGORISED, UNCATEGORISED, rest, None, currency))
    if group_by in ("month", "quarter"):
        return _fill_gaps(lines, group_by=group_by, currency=currency)
    return sorted(lines, key=lambda line: (-line.amount, line.label, line.key))


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _fill_gaps(lines: list[SpendLine], *, group_by: GroupBy, currency: str) -> list[SpendLine]:
    if not lines:
        return []
    found = {line.key: line for line in lines}

    def month_index(key: str) -> int:
        year, part = key.split("-")
        month = int(part) if group_by == "month" else (int(part.removeprefix("Q")) - 1) * 3 + 1
        return int(year) * 12 + month - 1

    filled = []
    indexes = [month_index(key) for key in found]
    for index in range(min(indexes), max(indexes) + 1, 1 if group_by == "month" else 3):
        year, month = divmod(index, 12)
        if group_by == "month":
            key, label = f"{year}-{month + 1:02d}", f"{_MONTHS[month]} {year}"
        else:
            key, label = f"{year}-Q{month // 3 + 1}", f"Q{month // 3 + 1} {year}"
        filled.append(found.get(key) or SpendLine(key, label, ZERO, 0, currency))
    return filled


async def year_over_year(session: AsyncSession, *, period: Period, user_id: uuid.UUID | None) -> YearOverYear:
    """The period's spend against the same days one year earlier."""
    current = await spend_total(session, period=period, user_id=user_id)
    previous = await spend_total(session, period=period.year_before(), user_id=user_id)
    return YearOverYear(current, previous)
