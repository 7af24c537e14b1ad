"""Reminder rows: the source of truth for what to remind whom and when (Redis only delivers)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Booking, BookingReminder, ReminderSchedule
from storage.sessions import current_tenant

REMINDER_HOUR = dt.time(9, 0)
KIND_LABELS = {"flight": "Flight", "hotel": "Hotel", "train": "Train", "car": "Car"}


@dataclass(frozen=True)
class ScheduledReminder:
    """A reminder just written: its row's ids and date, and the exact time (naive UTC) it falls due."""

    tenant_id: uuid.UUID
    reminder_id: uuid.UUID
    booking_id: uuid.UUID | None
    reminder_date: dt.date
    due_at: dt.datetime


def _day(day: dt.date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def booking_summary(booking_type: str, facts: dict[str, Any]) -> str:
    """One line with what was booked: kind, description, route or stay, times, locator and price.

    It is the `message` of the reminders the product writes, so that any reader of booking_reminders sees
    what the reminder is about.
    """
    label = KIND_LABELS.get(booking_type, booking_type.replace("_", " ").title())
    parts = [f"{label}: {facts.get('description', '')}".strip().rstrip(":")]
    if facts.get("number"):
        parts.append(str(facts["number"]))
    if facts.get("origin") and facts.get("destination"):
        parts.append(f"{facts['origin']} → {facts['destination']}")
    elif facts.get("city"):
        parts.append(str(facts["city"]))
    try:
        if facts.get("depart_at"):
            parts.append(f"departs {dt.datetime.fromisoformat(str(facts['depart_at'])):%H:%M}")
        if facts.get("service_date"):
            day = dt.date.fromisoformat(str(facts["service_date"]))
            if facts.get("end_date") and booking_type in ("hotel", "car"):
                parts.append(f"{_day(day)} to {_day(dt.date.fromisoformat(str(facts['end_date'])))}")
            else:
                parts.append(_day(day))
    except ValueError:  # dates written by another system in a form of their own
        pass
    if facts.get("reference"):
        parts.append(f"locator {facts['reference']}")
    if facts.get("amount") and facts.get("currency"):
        parts.append(f"{facts['amount']} {facts['currency']}")
    return ", ".join(part for part in parts if part) + "."


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
) -> list[ScheduledReminder]:
    """Write the reminder rows of one booking (none for a cancelled one), each with its exact due time."""
    if not booking.confirmed:
        return []
    return await add_reminders(
        session,
        booking=booking,
        times=reminder_times(travel_date=travel_date, days_before=days_before, timezone=timezone, now=now),
        timezone=timezone,
    )


async def add_reminders(
    session: AsyncSession, *, booking: Booking, times: Sequence[dt.datetime], timezone: str
) -> list[ScheduledReminder]:
    """Reminders of a booking at these times (naive UTC): dated in the traveller's zone, scheduled exactly."""
    tenant_id = current_tenant(session)
    zone = ZoneInfo(timezone)
    message = booking_summary(booking.booking_type, booking.booking_details)
    rows = [
        BookingReminder(
            tenant_id=tenant_id,
            reminder_id=uuid.uuid4(),
            booking_id=booking.booking_id,
            user_id=booking.user_id,
            reminder_date=when.replace(tzinfo=dt.UTC).astimezone(zone).date(),
            message=message,
            sent=False,
        )
        for when in times
    ]
    session.add_all(rows)
    await session.flush()
    session.add_all(
        ReminderSchedule(tenant_id=tenant_id, reminder_id=row.reminder_id, due_at=when)
        for row, when in zip(rows, times, strict=True)
    )
    await session.flush()
    return [
        ScheduledReminder(tenant_id, row.reminder_id, row.booking_id, row.reminder_date, when)
        for row, when in zip(rows, times, strict=True)
    ]


async def cancel_pending_reminders(session: AsyncSession, *, booking_ids: Sequence[uuid.UUID]) -> int:
    """Delete the unsent reminders of these bookings; returns how many were removed."""
    if not booking_ids:
        return 0
    result = await session.execute(
        delete(BookingReminder).where(
            BookingReminder.booking_id.in_(booking_ids), BookingReminder.sent.is_not(True)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def pending_reminders(
    session: AsyncSession, *, user_id: uuid.UUID
) -> list[tuple[BookingReminder, Booking | None]]:
    """A traveller's unsent reminders (their own, or of their bookings), by date."""
    statement = (
        select(BookingReminder, Booking)
        .outerjoin(
            Booking,
            (Booking.tenant_id == BookingReminder.tenant_id)
            & (Booking.booking_id == BookingReminder.booking_id),
        )
        .where(
            func.coalesce(BookingReminder.user_id, Booking.user_id) == user_id,
            BookingReminder.sent.is_not(True),
        )
        .order_by(BookingReminder.reminder_date)
    )
    return [(reminder, booking) for reminder, booking in (await session.execute(statement)).all()]
