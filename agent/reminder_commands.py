"""`/reminders`: a traveller's upcoming reminders, and snoozing or muting a trip's reminders."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from agent.command_arguments import duration
from agent.context import Context
from agent.replies import AgentReply
from agent.tools import RemindersScheduled
from storage.audit import Actor
from storage.database import Database
from storage.errors import InvalidInput
from storage.itineraries import list_itineraries
from storage.reminder_controls import mute_trip_reminders, snooze_trip_reminders, upcoming_reminders


async def reminders_command(
    db: Database,
    ctx: Context,
    rest: str,
    *,
    now: dt.datetime,
    reminders_scheduled: RemindersScheduled | None,
) -> AgentReply:
    """`reminders`, `reminders snooze TRIP 2d`, `reminders mute TRIP`, `reminders unmute TRIP`."""
    words = rest.split()
    action = words[0].lower() if words else ""
    if not action:
        async with db.tenant(ctx.tenant_id) as session:
            upcoming = await upcoming_reminders(session, user_id=ctx.user_id)
        if not upcoming:
            return AgentReply.say("You have no upcoming reminders.")
        zone = ZoneInfo(ctx.timezone)
        lines = ["Upcoming reminders (trip id first; use it to snooze or mute):"]
        lines += [
            f"  {r.itinerary_id.hex[:8] if r.itinerary_id else '--------'} {r.due_at.astimezone(zone):%a %d %b %H:%M} {r.booking_type}: {r.description}"
            + (" (muted)" if r.muted else "")
            for r in upcoming
        ]
        return AgentReply.say("\n".join(lines))
    if action not in ("snooze", "mute", "unmute") or len(words) < 2:
        raise InvalidInput(
            "Use {/}reminders, {/}reminders snooze TRIP 2d, {/}reminders mute TRIP or {/}reminders unmute TRIP."
        )
    async with db.tenant(ctx.tenant_id) as session:
        trip_id = await _trip(ctx, session, words[1])
        actor = Actor.user(ctx.user_id)
        if action != "snooze":
            await mute_trip_reminders(
                session, actor=actor, user_id=ctx.user_id, itinerary_id=trip_id, muted=action == "mute"
            )
            return AgentReply.say(
                f"Reminders for that trip are {'muted' if action == 'mute' else 'back on'}."
            )
        until = now + duration(words[2] if len(words) > 2 else "1d")
        moved = await snooze_trip_reminders(
            session, actor=actor, user_id=ctx.user_id, itinerary_id=trip_id, until=until, now=now
        )
    if moved and reminders_scheduled:
        await reminders_scheduled(moved)
    local = until.astimezone(ZoneInfo(ctx.timezone))
    return AgentReply.say(f"Snoozed {len(moved)} reminders until {local:%a %d %b %H:%M}.")


async def _trip(ctx: Context, session: AsyncSession, reference: str) -> uuid.UUID:
    """The caller's trip whose id starts with `reference` (the short id that listings show)."""
    prefix = reference.strip().lower().replace("-", "")
    trips = await list_itineraries(session, user_id=ctx.user_id, status="confirmed", limit=200)
    matches = [t.itinerary_id for t in trips if prefix and t.itinerary_id.hex.startswith(prefix)]
    if len(matches) != 1:
        raise InvalidInput(
            f"No single booked trip of yours has the id {reference}; {{/}}reminders lists them."
        )
    return matches[0]
