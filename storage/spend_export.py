"""CSV export of trips and their spend in a period: one traveller's, or (for admins) the whole tenant's.

One row per trip with a known spend, with the same figures as storage.spend: `total_spend` adds up to the
period's spend, and the `spend_<category>` columns (plus `spend_uncategorised`, what a trip's categories
leave of its total) add up to the breakdown by category. Amounts are in the tenant currency, written as
plain decimals. Text cells that a spreadsheet would run as a formula are prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.periods import Period
from storage.sessions import current_tenant
from storage.spend import (
    PLAIN_DECIMAL,
    UNCATEGORISED,
    ZERO,
    SpendQuery,
    period_params,
    run_query,
    spend_currency,
    trips_clause,
)

BASE_COLUMNS = (
    "trip_id",
    "traveller",
    "destination",
    "start_date",
    "end_date",
    "nights",
    "currency",
    "total_spend",
)
CATEGORY_PREFIX = "spend_"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN = re.compile(PLAIN_DECIMAL)

_EXPORT = """
SELECT coalesce(c.itinerary_id, a.analytics_id) AS trip_id, coalesce(u.display_name, 'unknown') AS traveller,
       coalesce(c.destination, 'unknown') AS destination, a.travel_date AS start_date,
       greatest(coalesce(c.end_date, a.travel_date), a.travel_date) AS end_date, a.total_spend AS amount,
       a.categories_spend::text AS categories
{trips}
ORDER BY a.travel_date, 2, 1"""


@dataclass(frozen=True)
class SpendExport:
    """A CSV file (UTF-8) and what it holds."""

    content: bytes
    trips: int
    total: Decimal
    currency: str


def _safe(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _categories(value: str | None) -> dict[str, Decimal]:
    """The plain-decimal entries of categories_spend (read as JSON text so no float ever rounds them)."""
    parsed: Any = json.loads(value, parse_float=Decimal, parse_int=Decimal) if value else None
    if not isinstance(parsed, dict):
        return {}
    return {str(key): Decimal(str(amount)) for key, amount in parsed.items() if _PLAIN.fullmatch(str(amount))}


async def export_spend_csv(
    session: AsyncSession, *, period: Period, user_id: uuid.UUID | None
) -> SpendExport:
    """The trips of one traveller (or of the tenant, with user_id None) that started in `period`."""
    params = period_params(current_tenant(session), period)
    # The spend rows joined to the travellers' names and to the trips behind them.
    trips = trips_clause(params, user_id, group_by="export")
    rows = await run_query(session, SpendQuery(_EXPORT.format(trips=trips), params))
    currency = await spend_currency(session)
    splits = []
    for row in rows:
        split = _categories(row["categories"])
        rest = Decimal(row["amount"]) - sum(split.values(), ZERO)
        if rest:
            split[UNCATEGORISED] = rest
        splits.append(split)
    categories = sorted({key for split in splits for key in split if key != UNCATEGORISED})
    if any(UNCATEGORISED in split for split in splits):
        categories.append(UNCATEGORISED)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*BASE_COLUMNS, *(CATEGORY_PREFIX + name for name in categories)])
    for row, split in zip(rows, splits, strict=True):
        writer.writerow(
            [
                row["trip_id"],
                _safe(str(row["traveller"])),
                _safe(str(row["destination"])),
                row["start_date"].isoformat(),
                row["end_date"].isoformat(),
                (row["end_date"] - row["start_date"]).days,
                currency,
                f"{row['amount']:.2f}",
                *(f"{split[name]:.2f}" if name in split else "" for name in categories),
            ]
        )
    total = sum((Decimal(row["amount"]) for row in rows), ZERO)
    return SpendExport(buffer.getvalue().encode("utf-8"), len(rows), total, currency)
