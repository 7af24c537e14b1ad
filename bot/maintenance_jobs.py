"""The worker's maintenance crons: retention, old delivery ids, and the flight-status watch."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from agent.privacy import apply_retention
from agent.travel_info.trips import booked_flights
from agent.travel_info.watch import FlightWatch
from bot.reminder_delivery import DeliveryFailure, ReminderChannels
from storage.bookings import get_booking
from storage.database import Database
from storage.maintenance import every_tenant, flight_bookings_between
from storage.processed_events import prune_deliveries
from storage.traveller_messages import post_to_console, recipient_for

log = logging.getLogger(__name__)

# Platforms stop redelivering within minutes; a week of ids is ample.
DELIVERY_IDS_KEPT = dt.timedelta(days=7)


async def expire_tenant_data(
    db: Database, saver: BaseCheckpointSaver[Any], *, tenant_id: uuid.UUID, now: dt.datetime
) -> int:
    """One tenant's data_retention_days: how many conversations and trips went."""
    expired = await apply_retention(db, saver, tenant_id=tenant_id, now=now)
    return len(expired.threads) + expired.trips


async def expire_old_data(db: Database, saver: BaseCheckpointSaver[Any], *, now: dt.datetime) -> int:
    """Every tenant's retention and old delivery ids in one pass (the worker spreads it over jobs instead)."""
    removed = 0
    async for tenant_id in every_tenant(db):
        removed += await expire_tenant_data(db, saver, tenant_id=tenant_id, now=now)
    return removed + await prune_deliveries(db, older_than=now - DELIVERY_IDS_KEPT)


async def watch_tenant_flights(
    db: Database,
    watch: FlightWatch,
    channels: ReminderChannels,
    *,
    tenant_id: uuid.UUID,
    booking_ids: list[uuid.UUID],
) -> int:
    """Poll one tenant's booked flights; send each change once to its traveller. Returns alerts sent."""
    sent = 0
    async with db.tenant(tenant_id) as session:
        bookings = [await get_booking(session, booking_id=booking_id) for booking_id in booking_ids]
    for flight in booked_flights(bookings):
        outcome = await watch.poll(
            watch_id=f"{tenant_id}:{flight.booking_id}",
            flight_number=flight.flight_number,
            day=flight.day,
            departs_at=flight.departs_at,
        )
        for alert in outcome.alerts:
            async with db.tenant(tenant_id) as session:
                recipient = await recipient_for(session, user_id=flight.user_id, channels=channels.reachable)
                if recipient.channel == "console":
                    await post_to_console(session, user_id=flight.user_id, body=alert.text)
                    sent += 1
                    continue
            try:
                await channels.send(recipient, alert.text)
                sent += 1
            except DeliveryFailure as failure:
                log.warning("flight alert for booking %s not delivered (%s)", flight.booking_id, failure)
    return sent


async def flights_to_watch(db: Database, *, now: dt.datetime) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Confirmed flight bookings leaving today or tomorrow, by tenant."""
    return await flight_bookings_between(db, first=now.date(), last=now.date() + dt.timedelta(days=1))


async def watch_booked_flights(
    db: Database, watch: FlightWatch, channels: ReminderChannels, *, now: dt.datetime
) -> int:
    """Every tenant's flights in one pass (the worker spreads it over one job per tenant instead)."""
    sent = 0
    for tenant_id, booking_ids in (await flights_to_watch(db, now=now)).items():
        sent += await watch_tenant_flights(db, watch, channels, tenant_id=tenant_id, booking_ids=booking_ids)
    return sent
