"""The worker's maintenance crons: retention, old delivery ids, and the flight-status watch."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from agent.privacy import apply_retention
from agent.travel_info.service import TravelInfo
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


async def expire_old_data(db: Database, saver: BaseCheckpointSaver[Any], *, now: dt.datetime) -> int:
    """Apply every tenant's data_retention_days; returns how many conversations and trips went."""
    removed = 0
    async for tenant_id in every_tenant(db):
        expired = await apply_retention(db, saver, tenant_id=tenant_id, now=now)
        removed += len(expired.threads) + expired.trips
    removed += await prune_deliveries(db, older_than=now - DELIVERY_IDS_KEPT)
    return removed


async def watch_booked_flights(
    db: Database, info: TravelInfo, watch: FlightWatch, channels: ReminderChannels, *, now: dt.datetime
) -> int:
    """Poll every confirmed flight leaving today or tomorrow; send each change once. Returns alerts sent."""
    sent = 0
    due = await flight_bookings_between(db, first=now.date(), last=now.date() + dt.timedelta(days=1))
    for tenant_id, booking_ids in due.items():
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
                    recipient = await recipient_for(
                        session, user_id=flight.user_id, channels=channels.reachable
                    )
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
