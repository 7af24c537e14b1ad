"""Spend against policy: trips against the trip budget, bookings against their verdicts and the hotel caps.

A booking belongs to a period by its itinerary's start date, like the trip it is part of, and only
confirmed bookings count. Booking amounts carry their own currency (booking_details.currency): every
figure here is per currency and nothing is added across currencies. A hotel's distance to its cap is the
one its stored verdict computed, in the cap's currency after conversion at the ECB rate of that verdict. The trip budget is
compared with trip spend (storage.spend, in the tenant currency) only when the budget is in that currency.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.money import Money
from storage.periods import Period
from storage.preferences import tenant_preferences
from storage.sessions import current_tenant
from storage.spend import (
    PLAIN_DECIMAL,
    ZERO,
    SpendQuery,
    period_params,
    run_query,
    traveller_condition,
    trips_clause,
)

_BUDGET = """
SELECT count(*) FILTER (WHERE a.total_spend > :budget) AS over_trips,
       coalesce(sum(a.total_spend - :budget) FILTER (WHERE a.total_spend > :budget), 0) AS over_amount,
       coalesce(sum(:budget - a.total_spend) FILTER (WHERE a.total_spend <= :budget), 0) AS under_amount
{trips}"""

# A booking's verdict is the one stored at confirmation (policy_verdicts), else the one in its details (rows
# written by other systems). A hotel's distance to its cap is the stored verdict's, in the cap's currency
# after conversion; without a stored verdict, the city's cap or policy.hotel.max_nightly_rate, compared
# only in the cap's own currency.
_BOOKINGS = f"""
WITH booked AS (
    SELECT upper(b.booking_details ->> 'currency') AS currency,
           CASE WHEN b.booking_details ->> 'amount' ~ '{PLAIN_DECIMAL}'
                THEN (b.booking_details ->> 'amount')::numeric ELSE 0 END AS amount,
           coalesce(v.status, b.booking_details -> 'policy' ->> 'status') = 'violation' AS violation,
           b.booking_type = 'hotel' AS hotel,
           greatest(CASE WHEN b.booking_details ->> 'nights' ~ '^[0-9]{{{{1,3}}}}$'
                         THEN (b.booking_details ->> 'nights')::int END, 1) AS nights,
           lower(coalesce(b.booking_details ->> 'city', b.booking_details ->> 'destination', '')) AS city,
           v.booking_id IS NOT NULL AS decided, v.cap_currency AS decided_cap_currency,
           v.cap_difference AS decided_difference
    FROM bookings b
    JOIN itineraries i ON i.tenant_id = :tenant AND i.tenant_id = b.tenant_id AND i.itinerary_id = b.itinerary_id
    LEFT JOIN policy_verdicts v ON v.tenant_id = b.tenant_id AND v.booking_id = b.booking_id
    WHERE b.tenant_id = :tenant AND coalesce(b.status, 'confirmed') = 'confirmed'
      AND i.start_date >= :start AND i.start_date < :stop {{traveller}}
),
capped AS (
    SELECT booked.*,
           CASE WHEN hotel AND NOT decided
                THEN coalesce(city_cap.currency, CAST(:cap_currency AS text)) END AS cap_currency,
           CASE WHEN decided THEN decided_cap_currency
                WHEN hotel AND coalesce(city_cap.currency, CAST(:cap_currency AS text)) = booked.currency
                THEN booked.currency END AS difference_currency,
           CASE WHEN decided THEN decided_difference
                WHEN hotel AND coalesce(city_cap.currency, CAST(:cap_currency AS text)) = booked.currency
                THEN booked.amount - coalesce(city_cap.amount, CAST(:cap_amount AS numeric)) * nights END AS difference
    FROM booked
    LEFT JOIN (
        SELECT key AS city, (value ->> 'amount')::numeric AS amount, upper(value ->> 'currency') AS currency
        FROM jsonb_each(CAST(:city_caps AS jsonb))
    ) city_cap ON booked.hotel AND city_cap.city = booked.city
),
spent AS (
    SELECT currency, count(*) AS bookings, sum(amount) AS amount,
           count(*) FILTER (WHERE violation) AS out_of_policy_bookings,
           coalesce(sum(amount) FILTER (WHERE violation), 0) AS out_of_policy,
           count(*) FILTER (WHERE hotel) AS hotels,
           count(*) FILTER (WHERE cap_currency <> currency) AS hotels_unchecked
    FROM capped GROUP BY currency
),
against_caps AS (
    SELECT difference_currency AS currency,
           count(*) FILTER (WHERE difference > 0) AS hotels_above_cap,
           coalesce(sum(difference) FILTER (WHERE difference > 0), 0) AS above_cap,
           coalesce(sum(-difference) FILTER (WHERE difference < 0), 0) AS below_cap
    FROM capped WHERE difference IS NOT NULL GROUP BY difference_currency
)
SELECT coalesce(s.currency, c.currency) AS currency, coalesce(s.bookings, 0) AS bookings,
       coalesce(s.amount, 0) AS amount, coalesce(s.out_of_policy_bookings, 0) AS out_of_policy_bookings,
       coalesce(s.out_of_policy, 0) AS out_of_policy, coalesce(s.hotels, 0) AS hotels,
       coalesce(c.hotels_above_cap, 0) AS hotels_above_cap, coalesce(s.hotels_unchecked, 0) AS hotels_unchecked,
       coalesce(c.above_cap, 0) AS above_cap, coalesce(c.below_cap, 0) AS below_cap
FROM spent s FULL JOIN against_caps c ON c.currency = s.currency
ORDER BY 1"""


@dataclass(frozen=True)
class BookedSpend:
    """Confirmed bookings in one currency: their amount, the out-of-policy part, and hotels against caps.

    `above_cap` is what capped hotels cost beyond cap × nights; `below_cap` is what they saved under it;
    both are in this currency as the cap's. Hotels of other systems, priced in another currency than their
    cap and without a stored verdict, are `hotels_unchecked`.
    """

    currency: str
    bookings: int
    amount: Decimal
    out_of_policy_bookings: int
    out_of_policy: Decimal
    hotels: int
    hotels_above_cap: int
    hotels_unchecked: int
    above_cap: Decimal
    below_cap: Decimal


@dataclass(frozen=True)
class PolicyComparison:
    """Trips against the trip budget (tenant currency), and bookings per currency."""

    currency: str
    budget: Money | None
    trips_over_budget: int = 0
    over_budget: Decimal = ZERO
    under_budget: Decimal = ZERO
    booked: dict[str, BookedSpend] = field(default_factory=dict)

    @property
    def budget_comparable(self) -> bool:
        return self.budget is not None and self.budget.currency == self.currency


def _money(value: Any) -> Money | None:
    return Money.model_validate(value) if value else None


def bookings_query(
    *, tenant_id: uuid.UUID, period: Period, user_id: uuid.UUID | None, preferences: dict[str, Any]
) -> SpendQuery:
    default_cap = _money(preferences.get("policy.hotel.max_nightly_rate"))
    city_caps = {
        city.casefold(): Money.model_validate(cap).model_dump(mode="json")
        for city, cap in (preferences.get("policy.hotel.city_caps") or {}).items()
    }
    params: dict[str, Any] = {
        **period_params(tenant_id, period),
        "cap_amount": default_cap.amount if default_cap else None,
        "cap_currency": default_cap.currency if default_cap else None,
        "city_caps": json.dumps(city_caps),
    }
    return SpendQuery(_BOOKINGS.format(traveller=traveller_condition(user_id, params, "b.user_id")), params)


async def policy_comparison(
    session: AsyncSession, *, period: Period, user_id: uuid.UUID | None
) -> PolicyComparison:
    """Trips against policy.trip_budget, and confirmed bookings against their verdicts and the hotel caps."""
    tenant_id = current_tenant(session)
    preferences = await tenant_preferences(session)
    currency, budget = str(preferences["currency"]), _money(preferences.get("policy.trip_budget"))
    comparison = PolicyComparison(currency=currency, budget=budget)
    if budget is not None and budget.currency == currency:
        params = {**period_params(tenant_id, period), "budget": budget.amount}
        row = (
            await run_query(session, SpendQuery(_BUDGET.format(trips=trips_clause(params, user_id)), params))
        )[0]
        comparison = PolicyComparison(
            currency=currency,
            budget=budget,
            trips_over_budget=int(row["over_trips"]),
            over_budget=Decimal(row["over_amount"]),
            under_budget=Decimal(row["under_amount"]),
        )
    query = bookings_query(tenant_id=tenant_id, period=period, user_id=user_id, preferences=preferences)
    for row in await run_query(session, query):
        comparison.booked[str(row["currency"])] = BookedSpend(
            currency=str(row["currency"]),
            bookings=int(row["bookings"]),
            amount=Decimal(row["amount"]),
            out_of_policy_bookings=int(row["out_of_policy_bookings"]),
            out_of_policy=Decimal(row["out_of_policy"]),
            hotels=int(row["hotels"]),
            hotels_above_cap=int(row["hotels_above_cap"]),
            hotels_unchecked=int(row["hotels_unchecked"]),
            above_cap=Decimal(row["above_cap"]),
            below_cap=Decimal(row["below_cap"]),
        )
    return comparison
