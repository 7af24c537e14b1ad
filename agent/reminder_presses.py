"""What a press on a reminder's button does: snooze the trip's reminders a day, mute the trip, list its bookings.

A press changes the stored schedule once: pressing the same button of the same message again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal
from zoneinfo import ZoneInfo

from agent.context import Context
from agent.facts import describe_bookings
from agent.tools import AgentServices
from storage.audit import Actor
from storage.bookings import list_bookings
from storage.reminder_controls import mute_trip_reminders, snooze_trip_reminders
from storage.reminder_presses import first_press
from storage.reminders import add_reminders

ReminderAction = Literal["snooze", "mute", "show"]


def _service_day(details: dict[str, object]) -> dt.date:
    try:
        return dt.date.fromisoformat(str(details.get("service_date")))
    except ValueError:
        return dt.date.max  # a date another system wrote in its own form: still ahead, as far as we know


SNOOZE = dt.timedelta(days=1)


async def press_reminder_button(
    services: AgentServices, *, ctx: Context, trip: uuid.UUID, action: ReminderAction, message: str
) -> str:
    """Do what the button says, once per message; returns the sentence to show the traveller.

    `message` names the reminder message pressed ("telegram:CHAT:ID", "slack:CHANNEL:TS").
    """
    now = services.clock()
    moved = []
    async with services.db.tenant(ctx.tenant_id) as session:
        if action == "show":
            bookings = await list_bookings(
                session, user_id=ctx.user_id, itinerary_id=trip, status="confirmed"
            )
            return "Bookings of this trip:\n" + describe_bookings(bookings)
        if not await first_press(session, message=message, action=action, user_id=ctx.user_id):
            return "Already done: this button was pressed before, and nothing more was changed."
        actor = Actor.user(ctx.user_id)
        if action == "mute":
            await mute_trip_reminders(session, actor=actor, user_id=ctx.user_id, itinerary_id=trip)
            return "Muted: no more reminders for this trip. To hear about it again, type /reminders and unmute it."
        until = now + SNOOZE
        moved = await snooze_trip_reminders(
            session, actor=actor, user_id=ctx.user_id, itinerary_id=trip, until=until, now=now
        )
        if not moved:
            # Nothing else was due before then: "remind me again in a day", for the bookings still ahead.
            bookings = await list_bookings(
                session, user_id=ctx.user_id, itinerary_id=trip, status="confirmed"
            )
            moment = until.astimezone(dt.UTC).replace(tzinfo=None)
            for booking in bookings:
                if _service_day(booking.booking_details) >= until.date():
                    moved += await add_reminders(
                        session, booking=booking, times=[moment], timezone=ctx.timezone
                    )
    if moved and services.reminders_scheduled is not None:
        await services.reminders_scheduled(moved)
    local = until.astimezone(ZoneInfo(ctx.timezone))
    return f"Snoozed: this trip's reminders come again on {local:%a %d %b at %H:%M}."
