"""Reminder rows: the source of truth for what to remind whom and when (Redis only delivers)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Booking, BookingReminder
from storage.sessions import current_tenant

REMINDER_HOUR = dt.time(9, 0)


def reminder_times(
    *, travel_date: dt.date, days_before: Iterable[int], timezone: str, now: dt.datetime
) -> list[dt.datetime]:
    """When to remind, as naive UTC: 09:00 local on each offset, skipping what is already past.

    A trip booked so late that every slot has passed, but which has not begun, still gets one
    reminder at once, so a traveller leaving tomorrow is reminded too.
    """
    zone = ZoneInfo(timezone)
    now_utc = now.astimezone(dt.UTC) if now.tzinfo else now.replace(tzinfo=dt.UTC)
    departure = dt.datetime.combine(travel_date, dt.time(0, 0), zone).astimezone(dt.UTC)
    times = []
    for days in sorted(set(days_before), reverse=True):
        local = dt.datetime.combine(travel_date - dt.timedelta(days=days), REMINDER_HOUR, zone)
        when = local.astimezone(dt.UTC)
        if when > now_utc:
            times.append(when)
    if not times and list(days_before) and now_utc < departure + dt.timedelta(hours=REMINDER_HOUR.hour):
        times.append(now_utc)
    return [when.replace(tzinfo=None) for when in times]


async def schedule_reminders(
    session: AsyncSession,
    *,
    booking: Booking,
    travel_date: dt.date,
    days_before: Sequence[int],
    timezone: str,
    now: dt.datetime,
) -> list[BookingReminder]:
    """Write the reminder rows of one booking (none for a cancelled one)."""
    if booking.status != "confirmed":
        return []
    rows = [
        BookingReminder(
            tenant_id=current_tenant(session),
            reminder_id=uuid.uuid4(),
            booking_id=booking.booking_id,
            reminder_date=when,
            sent=False,
        )
        for when in reminder_times(
            travel_date=travel_date, days_before=days_before, timezone=timezone, now=now
        )
    ]
    session.add_all(rows)
    await session.flush()
    return rows


async def cancel_pending_reminders(session: AsyncSession, *, booking_ids: Sequence[uuid.UUID]) -> int:
    """Delete the unsent reminders of these bookings; returns how many were removed."""
    if not booking_ids:
        return 0
    result = await session.execute(
        delete(BookingReminder).where(
            BookingReminder.booking_id.in_(booking_ids), BookingReminder.sent.is_(False)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def pending_reminders(
    session: AsyncSession, *, user_id: uuid.UUID
) -> list[tuple[BookingReminder, Booking]]:
    """A traveller's unsent reminders, soonest first."""
    statement = (
        select(BookingReminder, Booking)
        .join(
            Booking,
            (Booking.tenant_id == BookingReminder.tenant_id)
            & (Booking.booking_id == BookingReminder.booking_id),
        )
        .where(Booking.user_id == user_id, BookingReminder.sent.is_(False))
        .order_by(BookingReminder.reminder_date)
    )
    return [(reminder, booking) for reminder, booking in (await session.execute(statement)).all()]
