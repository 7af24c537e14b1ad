"""Trips booked now and approved later: admins list them and answer with /approvals."""

from __future__ import annotations

import uuid

from agent.context import Context
from agent.replies import AgentReply
from storage.audit import Actor, record_audit
from storage.database import Database
from storage.errors import Forbidden, InvalidInput
from storage.policy_verdicts import decide_later, open_approvals
from storage.trip_changes import cancel_trip

USAGE = "approvals, approvals approve TRIP or approvals reject TRIP (TRIP: the first 8 characters of its id)"


async def approvals_command(db: Database, ctx: Context, rest: str) -> AgentReply:
    """`/approvals` lists the open approvals; `approve TRIP` keeps a trip, `reject TRIP` cancels it."""
    if not ctx.is_admin:
        raise Forbidden("Approvals are answered by admins of your company.")
    words = rest.split()
    async with db.tenant(ctx.tenant_id) as session:
        waiting = await open_approvals(session)
        if not words:
            if not waiting:
                return AgentReply.say("No trip is waiting for approval.")
            lines = [f"{len(waiting)} {'trip waits' if len(waiting) == 1 else 'trips wait'} for approval:"]
            lines += [
                f"  {str(t.itinerary_id)[:8]} from {t.start_date:%d %b %Y}: {'; '.join(t.reasons)}"
                for t in waiting
            ]
            return AgentReply.say("\n".join(lines))
        if len(words) != 2 or words[0].lower() not in ("approve", "reject"):
            raise InvalidInput(f"Write {USAGE}.")
        approved = words[0].lower() == "approve"
        trip = _trip(words[1], [t.itinerary_id for t in waiting])
        if trip is None or not await decide_later(
            session, itinerary_id=trip, approved=approved, admin_id=ctx.user_id
        ):
            return AgentReply.say(
                f"No trip {words[1]} is waiting for approval; it may have been answered already."
            )
        await record_audit(
            session,
            actor=Actor.user(ctx.user_id),
            action="policy.approve" if approved else "policy.reject",
            entity="itinerary",
            entity_id=str(trip),
            details={"after_booking": True},
        )
        if not approved:
            await cancel_trip(session, actor=Actor.user(ctx.user_id), user_id=None, itinerary_id=trip)
    return AgentReply.say(
        f"Trip {str(trip)[:8]} approved." if approved else f"Trip {str(trip)[:8]} rejected and cancelled."
    )


def _trip(prefix: str, waiting: list[uuid.UUID]) -> uuid.UUID | None:
    matches = [trip for trip in waiting if str(trip).startswith(prefix.lower())]
    return matches[0] if len(matches) == 1 else None
