"""Trips booked now and approved later: each approver lists what waits for them and answers with /approvals.

The chain is the traveller's manager, then finance above the company's threshold (or an admin when neither
applies); a step unanswered past the timeout may be answered by any admin. Admins name managers with
`/approvals manager EMAIL MANAGER_EMAIL`.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from agent.approval_steps import ASKED, ApprovalDecided, decide_trip, waiting_for
from agent.context import Context
from agent.replies import AgentReply
from agent.tools import RemindersScheduled
from storage.approval_chain import ApprovalChain, name_manager
from storage.audit import Actor
from storage.database import Database
from storage.errors import Forbidden, InvalidInput, NotFound
from storage.models import TenantUser
from storage.preferences import tenant_preferences
from storage.tenants import display_names, find_user_by_email, get_user
from storage.trip_approvals import OpenApproval

USAGE = "approvals, approvals approve TRIP or approvals reject TRIP (TRIP: the first 8 characters of its id)"


async def approvals_command(
    db: Database,
    ctx: Context,
    rest: str,
    *,
    now: dt.datetime,
    reminders_scheduled: RemindersScheduled | None = None,
    on_decided: ApprovalDecided | None = None,
) -> AgentReply:
    """`/approvals` lists what waits for the caller; `approve TRIP` moves it on (the last approval books a held
    trip), `reject TRIP` ends it (a booked trip is cancelled, a held one stays a draft)."""
    words = rest.split()
    async with db.tenant(ctx.tenant_id) as session:
        if words and words[0].lower() == "manager":
            return await _name_manager(session, ctx, words[1:])
        caller = await get_user(session, user_id=ctx.user_id)
        chain = ApprovalChain.from_preferences(await tenant_preferences(session))
        mine = await waiting_for(session, caller=caller, chain=chain, now=now)
        if not words:
            travellers = await display_names(session, user_ids=[t.user_id for t in mine if t.user_id])
            return AgentReply.say(_listing(mine, chain, now, travellers))
        if len(words) != 2 or words[0].lower() not in ("approve", "reject"):
            raise InvalidInput(f"Write {USAGE}.")
        trip = _trip(words[1], mine)
        if trip is None:
            return AgentReply.say(
                f"No trip {words[1]} is waiting for your approval; it may have been answered already."
            )
        outcome = await decide_trip(
            session, caller=caller, trip=trip, approved=words[0].lower() == "approve", chain=chain, now=now
        )
    await outcome.queue_reminders(reminders_scheduled)
    if outcome.decided and on_decided is not None:  # the channels show it: requests, traveller, next approver
        await on_decided(ctx.tenant_id, outcome)
    return AgentReply.say(outcome.reply())


def _listing(
    mine: list[OpenApproval], chain: ApprovalChain, now: dt.datetime, travellers: dict[uuid.UUID, str]
) -> str:
    """Each trip that waits for the caller: whose, whether it is booked or held until approved, and why."""
    if not mine:
        return "No trip is waiting for your approval."
    lines = [f"{len(mine)} {'trip waits' if len(mine) == 1 else 'trips wait'} for your approval:"]
    for trip in mine:
        asked = ASKED[trip.step] + (
            ", escalated after the timeout" if chain.escalated(trip.since, now) else ""
        )
        whose = travellers.get(trip.user_id, "A former traveller") if trip.user_id else "A former traveller"
        state = "booked" if trip.booked else "held until approved"
        said = f' Justification: "{trip.justification}".' if trip.justification else ""
        lines.append(
            f"  {str(trip.itinerary_id)[:8]} from {trip.start_date:%d %b %Y} (asked: {asked}), {whose}'s trip, "
            f"{state}: {'; '.join(trip.reasons)}.{said}"
        )
    return "\n".join(lines)


async def _name_manager(session: AsyncSession, ctx: Context, emails: list[str]) -> AgentReply:
    if not ctx.is_admin:
        raise Forbidden("Only an admin of your company can name a traveller's manager.")
    if len(emails) != 2:
        raise InvalidInput("Write approvals manager TRAVELLER_EMAIL MANAGER_EMAIL.")
    traveller = await _colleague(session, emails[0])
    manager = await _colleague(session, emails[1])
    if traveller.user_id == manager.user_id:
        raise InvalidInput("A traveller cannot approve their own trips.")
    await name_manager(
        session,
        actor=Actor.user(ctx.user_id),
        traveller=traveller,
        manager_id=manager.user_id,
        source="admin",
    )
    return AgentReply.say(f"{manager.display_name} now approves the trips of {traveller.display_name} first.")


async def _colleague(session: AsyncSession, email: str) -> TenantUser:
    user = await find_user_by_email(session, email=email)
    if user is None:
        raise NotFound(f"No one in your company has the email {email}.")
    return user


def _trip(prefix: str, waiting: list[OpenApproval]) -> OpenApproval | None:
    matches = [trip for trip in waiting if str(trip.itinerary_id).startswith(prefix.lower())]
    return matches[0] if len(matches) == 1 else None


__all__ = ["approvals_command"]
