"""A traveller's own view of their reminders: what is coming, and snoozing or muting them trip by trip.

Channels (console, Slack, Telegram) call these inside the caller's tenant session; every change is audited.
Snoozing writes the moved reminders under new ids, so a job already queued for the old time finds nothing
to do, and the caller enqueues the returned rows (the sweeper would find them anyway when they fall due).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import DateTime, Uuid, column, delete, func, select, table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import Actor, record_audit
from storage.errors import Conflict, InvalidInput, NotFound
from storage.models import Booking, BookingReminder, Itinerary, TenantUser
from storage.reminder_runs import TripReminderControl
from storage.reminders import ScheduledReminder, add_reminders
from storage.sessions import current_tenant

MAX_SNOOZE = dt.timedelta(days=30)


# When each reminder falls due and for whom (a view of migration 0010, under the same row-level security).
REMINDER_DUE_TIMES = table(
    "reminder_due_times",
    column("tenant_id", Uuid),
    column("reminder_id", Uuid),
    column("user_id", Uuid),
    column("due_at", DateTime),
)


@dataclass(frozen=True)
class UpcomingReminder:
    """One reminder still to come, as a channel lists it."""

    reminder_id: uuid.UUID
    itinerary_id: uuid.UUID | None
    booking_id: uuid.UUID | None
    booking_type: str
    description: str
    due_at: dt.datetime  # aware, UTC
    destinations: list[Any]
    trip_start: dt.date | None
    muted: bool
    snoozed_until: dt.datetime | None  # aware, UTC


async def upcoming_reminders(
    session: AsyncSession, *, user_id: uuid.UUID, itinerary_id: uuid.UUID | None = None, limit: int = 20
) -> list[UpcomingReminder]:
    """The traveller's unsent reminders, soonest first (muted trips included, marked).

    Reminders of cancelled bookings are left out; a reminder with no booking (written by another system)
    is listed with its own message.
    """
    due = REMINDER_DUE_TIMES
    statement = (
        select(BookingReminder, due.c.due_at, Booking, Itinerary, TripReminderControl)
        .join(
            due,
            (due.c.tenant_id == BookingReminder.tenant_id)
            & (due.c.reminder_id == BookingReminder.reminder_id),
        )
        .outerjoin(
            Booking,
            (Booking.tenant_id == BookingReminder.tenant_id)
            & (Booking.booking_id == BookingReminder.booking_id),
        )
        .outerjoin(
            Itinerary,
            (Itinerary.tenant_id == Booking.tenant_id) & (Itinerary.itinerary_id == Booking.itinerary_id),
        )
        .outerjoin(
            TripReminderControl,
            (TripReminderControl.tenant_id == Itinerary.tenant_id)
            & (TripReminderControl.itinerary_id == Itinerary.itinerary_id),
        )
        .where(
            due.c.user_id == user_id,
            BookingReminder.sent.is_not(True),
            func.coalesce(Booking.status, "confirmed") == "confirmed",
        )
        .order_by(due.c.due_at, BookingReminder.reminder_id)
        .limit(max(1, min(limit, 200)))
    )
    if itinerary_id is not None:
        statement = statement.where(Booking.itinerary_id == itinerary_id)
    rows = (await session.execute(statement)).all()
    return [
        UpcomingReminder(
            reminder_id=reminder.reminder_id,
            itinerary_id=booking.itinerary_id if booking else None,
            booking_id=reminder.booking_id,
            booking_type=booking.booking_type if booking else "reminder",
            description=str(
                (booking.booking_details.get("description") if booking else None) or reminder.message
            ),
            due_at=due_at.replace(tzinfo=dt.UTC),
            destinations=trip.places if trip else [],
            trip_start=trip.start_date if trip else None,
            muted=bool(control and control.muted),
            snoozed_until=(
                control.snoozed_until.replace(tzinfo=dt.UTC) if control and control.snoozed_until else None
            ),
        )
        for reminder, due_at, booking, trip, control in rows
    ]


async def _confirmed_trip(session: AsyncSession, *, user_id: uuid.UUID, itinerary_id: uuid.UUID) -> Itinerary:
    trip = (
        await session.scalars(
            select(Itinerary)
            .where(Itinerary.itinerary_id == itinerary_id, Itinerary.user_id == user_id)
            .with_for_update()
        )
    ).first()
    if trip is None:
        raise NotFound("I could not find that trip among yours.")
    if trip.status != "confirmed":
        raise Conflict(f"That trip is {trip.status}; only booked trips have reminders.")
    return trip


async def _set_control(session: AsyncSession, *, itinerary_id: uuid.UUID, **values: Any) -> None:
    await session.execute(
        insert(TripReminderControl)
        .values(tenant_id=current_tenant(session), itinerary_id=itinerary_id, **values)
        .on_conflict_do_update(
            index_elements=[TripReminderControl.tenant_id, TripReminderControl.itinerary_id],
            set_={**values, "updated_at": dt.datetime.now(dt.UTC)},
        )
    )


async def mute_trip_reminders(
    session: AsyncSession, *, actor: Actor, user_id: uuid.UUID, itinerary_id: uuid.UUID, muted: bool = True
) -> None:
    """Mute (or unmute) one trip's reminders. A muted reminder that falls due is recorded, not sent."""
    await _confirmed_trip(session, user_id=user_id, itinerary_id=itinerary_id)
    await _set_control(session, itinerary_id=itinerary_id, muted=muted)
    await record_audit(
        session,
        actor=actor,
        action="reminders.mute" if muted else "reminders.unmute",
        entity="itinerary",
        entity_id=str(itinerary_id),
    )


async def snooze_trip_reminders(
    session: AsyncSession,
    *,
    actor: Actor,
    user_id: uuid.UUID,
    itinerary_id: uuid.UUID,
    until: dt.datetime,
    now: dt.datetime,
) -> list[ScheduledReminder]:
    """Move the trip's reminders due before `until` to `until`: one per booking, under new ids.

    Returns the moved reminders for the caller to enqueue. Refused when `until` is not in the future or is
    more than 30 days away.
    """
    if until.tzinfo is None or now.tzinfo is None:
        raise InvalidInput("A snooze needs a time with its time zone.")
    if until <= now:
        raise InvalidInput("A snooze has to end in the future.")
    if until - now > MAX_SNOOZE:
        raise InvalidInput("Reminders can be snoozed for at most 30 days; mute the trip instead.")
    await _confirmed_trip(session, user_id=user_id, itinerary_id=itinerary_id)
    moment = until.astimezone(dt.UTC).replace(tzinfo=None)
    due = REMINDER_DUE_TIMES
    earlier = (
        await session.execute(
            select(BookingReminder.reminder_id, BookingReminder.booking_id)
            .join(
                due,
                (due.c.tenant_id == BookingReminder.tenant_id)
                & (due.c.reminder_id == BookingReminder.reminder_id),
            )
            .join(
                Booking,
                (Booking.tenant_id == BookingReminder.tenant_id)
                & (Booking.booking_id == BookingReminder.booking_id),
            )
            .where(
                Booking.itinerary_id == itinerary_id,
                Booking.status == "confirmed",
                BookingReminder.sent.is_not(True),
                due.c.due_at < moment,
            )
            .with_for_update(of=BookingReminder)
        )
    ).all()
    if earlier:
        await session.execute(
            delete(BookingReminder).where(
                BookingReminder.reminder_id.in_([row.reminder_id for row in earlier])
            )
        )
    traveller = await session.get(TenantUser, (current_tenant(session), user_id))
    timezone = traveller.timezone if traveller else "UTC"
    moved: list[ScheduledReminder] = []
    for booking_id in sorted({row.booking_id for row in earlier if row.booking_id is not None}):
        booking = await session.get(Booking, (current_tenant(session), booking_id))
        if booking is not None:
            moved += await add_reminders(session, booking=booking, times=[moment], timezone=timezone)
    await _set_control(session, itinerary_id=itinerary_id, snoozed_until=moment)
    await record_audit(
        session,
        actor=actor,
        action="reminders.snooze",
        entity="itinerary",
        entity_id=str(itinerary_id),
        details={"until": until.astimezone(dt.UTC).isoformat(), "moved": len(moved)},
    )
    return moved
