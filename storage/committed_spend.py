"""Committed spend: what booked trips that have not been travelled yet will cost, per currency.

Completed spend is `travel_analytics` (storage.spend), written when a trip is over. Until then a booked trip's
confirmed bookings are money committed but not yet spent; reports show the two apart. Bookings carry their own
currency, so committed spend is never summed across currencies. A trip belongs to a period by its first day.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from storage.periods import Period
from storage.sessions import current_tenant
from storage.spend import PLAIN_DECIMAL, SpendQuery, period_params, run_query, traveller_condition

_COMMITTED = f"""
SELECT upper(b.booking_details ->> 'currency') AS currency,
       sum(CASE WHEN b.booking_details ->> 'amount' ~ '{PLAIN_DECIMAL}'
                THEN (b.booking_details ->> 'amount')::numeric ELSE 0 END) AS amount,
       count(DISTINCT i.itinerary_id) AS trips
FROM itineraries i
JOIN bookings b ON b.tenant_id = :tenant AND b.tenant_id = i.tenant_id AND b.itinerary_id = i.itinerary_id
WHERE i.tenant_id = :tenant AND i.is_draft IS FALSE
  AND i.start_date >= :start AND i.start_date < :stop {{traveller}}
  AND coalesce(b.status, 'confirmed') = 'confirmed'
  AND NOT EXISTS (SELECT 1 FROM itinerary_cancellations c
                  WHERE c.tenant_id = i.tenant_id AND c.itinerary_id = i.itinerary_id)
  AND NOT EXISTS (SELECT 1 FROM completed_trips t
                  WHERE t.tenant_id = i.tenant_id AND t.itinerary_id = i.itinerary_id)
GROUP BY 1
ORDER BY 1"""


@dataclass(frozen=True)
class CommittedSpend:
    """Booked trips not yet travelled in one currency: their confirmed bookings' amount."""

    currency: str
    amount: Decimal
    trips: int


async def committed_spend(
    session: AsyncSession, *, period: Period, user_id: uuid.UUID | None
) -> list[CommittedSpend]:
    """Per currency, the booked and not yet completed trips of a traveller (or the tenant) starting in `period`."""
    params = period_params(current_tenant(session), period)
    sql = _COMMITTED.format(traveller=traveller_condition(user_id, params, "i.user_id"))
    return [
        CommittedSpend(str(row["currency"]), Decimal(row["amount"]), int(row["trips"]))
        for row in await run_query(session, SpendQuery(sql, params))
        if row["currency"]
    ]
