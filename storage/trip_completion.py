"""Finished trips move, once each, into the traveller's history and the spend analytics.

A confirmed itinerary whose last day is over in the traveller's time zone is recorded with its activities
and the spend of its confirmed bookings, by booking type, in the tenant currency at the ECB's rate. Its history row takes the trip's id as its own,
so a second run (or a second worker) records nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import SYSTEM
from storage.database import Database
from storage.exchange_rates import reference_rates
from storage.itineraries import plan_days
from storage.models import Booking, Itinerary, ItineraryDetail, TenantUser
from storage.money import CENT
from storage.plans import DayPlan
from storage.preferences import tenant_preferences
from storage.trips import TripRecord, record_trip

log = logging.getLogger(__name__)

MAX_ACTIVITIES = 200
_NIL = uuid.UUID(int=0)


async def ended_trip_ids(
    db: Database, *, now: dt.datetime, after: tuple[uuid.UUID, uuid.UUID] | None = None, limit: int = 1000
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant, itinerary) ids of ended confirmed trips not yet in the history, in every tenant, one page.

    Goes through the SECURITY DEFINER function, which returns ids and nothing else.
    """
    after_tenant, after_trip = after or (_NIL, _NIL)
    async with db.unscoped() as session:
        rows = await session.execute(
            text("SELECT tenant_id, itinerary_id FROM ended_trip_ids(:now, :t, :i, :n)"),
            {"now": now, "t": after_tenant, "i": after_trip, "n": limit},
        )
        return [(row.tenant_id, row.itinerary_id) for row in rows]


def _activities(days: list[DayPlan]) -> list[dict[str, Any]]:
    """What the traveller did, day by day: every planned item's kind and description."""
    activities = [
        {"date": day.date.isoformat(), "kind": item.kind.value, "description": item.description}
        for day in days
        for item in day.items
    ]
    return activities[:MAX_ACTIVITIES]


def trip_spend(bookings: list[Booking], *, currency: str) -> dict[str, Decimal]:
    """Spend by booking type (the category) of the confirmed bookings, in `currency` at the ECB rate.

    An amount in a currency the ECB does not publish is added as booked (and logged).
    """
    rates = reference_rates()
    spend: dict[str, Decimal] = defaultdict(Decimal)
    for booking in bookings:
        if booking.confirmed:
            amount = Decimal(str(booking.booking_details.get("amount", "0")))
            paid_in = str(booking.booking_details.get("currency") or currency)
            converted = rates.convert(amount, paid_in, currency)
            if converted is None:
                log.warning(
                    "no reference rate from %s to %s; %s is added as booked", paid_in, currency, amount
                )
            spend[booking.booking_type] += converted.amount if converted else amount
    return {kind: amount.quantize(CENT, ROUND_HALF_EVEN) for kind, amount in spend.items()}


async def complete_trip(session: AsyncSession, *, itinerary_id: uuid.UUID, now: dt.datetime) -> bool:
    """Record one ended trip in the history and analytics; False when it is not over, not booked or done."""
    trip = (
        await session.scalars(
            select(Itinerary).where(Itinerary.itinerary_id == itinerary_id).with_for_update()
        )
    ).first()
    if trip is None or trip.status != "confirmed" or trip.user_id is None:
        return False
    traveller = await session.get(TenantUser, (trip.tenant_id, trip.user_id))
    local_today = now.astimezone(ZoneInfo(traveller.timezone if traveller else "UTC")).date()
    if trip.end_date >= local_today:
        return False
    bookings = list(
        (await session.scalars(select(Booking).where(Booking.itinerary_id == itinerary_id))).all()
    )
    spend = trip_spend(bookings, currency=(await tenant_preferences(session))["currency"])
    activities = await session.scalars(
        select(ItineraryDetail).where(ItineraryDetail.itinerary_id == itinerary_id)
    )
    days = plan_days(trip.start_date, list(activities))
    record = TripRecord(
        trip_id=trip.itinerary_id,
        destination=", ".join(trip.places)[:100] or "unknown",
        start_date=trip.start_date,
        end_date=trip.end_date,
        activities=_activities(days),
        total_spend=sum(spend.values(), Decimal(0)),
        spend_by_category=spend,
    )
    return await record_trip(session, actor=SYSTEM, user_id=trip.user_id, trip=record)
