"""Changing a booked trip: moving it to new dates reschedules its reminders; cancelling it cancels them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import Actor, record_audit
from storage.errors import Conflict, InvalidInput, NotFound
from storage.itineraries import CANCELLED, change_state
from storage.models import Booking, Itinerary, ItineraryDetail, TenantUser
from storage.preferences import tenant_preferences
from storage.reminder_runs import TripReminderControl
from storage.reminders import ScheduledReminder, cancel_pending_reminders, schedule_reminders


async def _booked_trip(
    session: AsyncSession, *, user_id: uuid.UUID | None, itinerary_id: uuid.UUID
) -> Itinerary:
    statement = select(Itinerary).where(Itinerary.itinerary_id == itinerary_id).with_for_update()
    if user_id is not None:
        statement = statement.where(Itinerary.user_id == user_id)
    trip = (await session.scalars(statement)).first()
    if trip is None:
        raise NotFound("I could not find that trip among yours.")
    if trip.status != "confirmed":
        raise Conflict(f"That trip is {trip.status}; only a booked trip can be moved or cancelled here.")
    return trip


def shift_dates(details: dict[str, Any], days: dt.timedelta) -> dict[str, Any]:
    """Booking, activity or day details with every date moved by `days` (service, end, departure, arrival)."""
    moved = dict(details)
    for key in ("service_date", "end_date", "date"):
        if moved.get(key):
            moved[key] = (dt.date.fromisoformat(moved[key]) + days).isoformat()
    for key in ("depart_at", "arrive_at"):
        if moved.get(key):
            moved[key] = (dt.datetime.fromisoformat(moved[key]) + days).isoformat()
    if isinstance(moved.get("items"), list):  # a whole day of a plan
        moved["items"] = [
            shift_dates(item, days) if isinstance(item, dict) else item for item in moved["items"]
        ]
    return moved


async def move_trip(
    session: AsyncSession,
    *,
    actor: Actor,
    user_id: uuid.UUID | None,
    itinerary_id: uuid.UUID,
    start_date: dt.date,
    now: dt.datetime,
) -> list[ScheduledReminder]:
    """Move a booked trip to start on `start_date`, keeping its length and the order of its bookings.

    Its days and bookings move with it, the unsent reminders are replaced by ones for the new dates (from
    today's `reminders.days_before`, at 09:00 in the traveller's time zone) and a snooze is cleared.
    Returns the new reminders for the caller to enqueue.
    """
    trip = await _booked_trip(session, user_id=user_id, itinerary_id=itinerary_id)
    traveller = await session.get(TenantUser, (trip.tenant_id, trip.user_id))
    timezone = traveller.timezone if traveller else "UTC"
    shift = start_date - trip.start_date
    if not shift:
        raise InvalidInput(f"The trip already starts on {start_date:%d %b %Y}.")
    if start_date < now.astimezone(ZoneInfo(timezone)).date():
        raise InvalidInput(f"A trip cannot be moved into the past ({start_date:%d %b %Y}).")
    old_start = trip.start_date
    trip.start_date, trip.end_date = start_date, trip.end_date + shift
    trip.updated_at = func.now()
    for activity in (
        await session.scalars(select(ItineraryDetail).where(ItineraryDetail.itinerary_id == itinerary_id))
    ).all():
        activity.date += shift
        if isinstance(activity.activity_details, dict):
            activity.activity_details = shift_dates(activity.activity_details, shift)
    bookings = list(
        (
            await session.scalars(
                select(Booking).where(Booking.itinerary_id == itinerary_id, Booking.status == "confirmed")
            )
        ).all()
    )
    for booking in bookings:
        booking.booking_details = shift_dates(booking.booking_details, shift)
    await cancel_pending_reminders(session, booking_ids=[booking.booking_id for booking in bookings])
    await session.execute(
        update(TripReminderControl)
        .where(TripReminderControl.itinerary_id == itinerary_id)
        .values(snoozed_until=None)
    )
    days_before = (await tenant_preferences(session))["reminders.days_before"]
    reminders: list[ScheduledReminder] = []
    for booking in bookings:
        reminders += await schedule_reminders(
            session,
            booking=booking,
            travel_date=dt.date.fromisoformat(booking.booking_details["service_date"]),
            days_before=days_before,
            timezone=timezone,
            now=now,
        )
    await record_audit(
        session,
        actor=actor,
        action="itinerary.move",
        entity="itinerary",
        entity_id=str(itinerary_id),
        details={"from": old_start.isoformat(), "to": start_date.isoformat(), "reminders": len(reminders)},
    )
    return reminders


async def cancel_trip(
    session: AsyncSession, *, actor: Actor, user_id: uuid.UUID | None, itinerary_id: uuid.UUID
) -> int:
    """Cancel a booked trip with all its bookings and their unsent reminders; returns the bookings cancelled."""
    await _booked_trip(session, user_id=user_id, itinerary_id=itinerary_id)
    await change_state(session, itinerary_id=itinerary_id, status=CANCELLED)
    cancelled = list(
        (
            await session.scalars(
                update(Booking)
                .where(Booking.itinerary_id == itinerary_id, Booking.status == "confirmed")
                .values(status="cancelled")
                .returning(Booking.booking_id)
            )
        ).all()
    )
    removed = await cancel_pending_reminders(session, booking_ids=cancelled)
    await record_audit(
        session,
        actor=actor,
        action="itinerary.cancel",
        entity="itinerary",
        entity_id=str(itinerary_id),
        details={"bookings_cancelled": len(cancelled), "reminders_cancelled": removed},
    )
    return len(cancelled)
