"""One answer to one step of a trip's approval chain, whichever channel it comes from, and who is asked next.

A trip is either booked and owes its approval, or held as a draft until its last approver says yes; then it
is booked for the traveller, re-checked under the policy in force at that moment, as any booking is.

The console's `/approvals approve|reject`, a Slack button and a Telegram button all decide through
`decide_trip`, so a double click or a stale button acts once at most: the storage update only matches the
step that is still waiting.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.booking import BookingOutcome, book_itinerary, held_trip_spend, outcome_text
from agent.context import Context, user_context
from agent.tools import RemindersScheduled
from storage.approval_chain import ASKED, ApprovalChain, manager_of, trip_spend_by_currency
from storage.audit import SYSTEM, Actor, record_audit
from storage.database import Database
from storage.errors import DomainError
from storage.models import AuditEntry, Itinerary, TenantUser
from storage.preferences import tenant_preferences
from storage.tenants import get_user
from storage.traveller_messages import post_to_console
from storage.trip_approvals import OpenApproval, decide_step, open_approvals
from storage.trip_changes import cancel_trip

# Told of every decided step (by the running product, whose channels then show it where people are).
ApprovalDecided = Callable[[uuid.UUID, "StepOutcome"], Awaitable[None]]

STALE = "This trip is no longer waiting for your answer (it was answered or moved on); nothing changed."


@dataclass(frozen=True)
class StepOutcome:
    """What one answer did: whether it decided the step, and who approves next (None: the chain ended)."""

    trip: OpenApproval
    approved: bool
    decided: bool
    following: str | None
    approver_name: str
    # A held trip's last approval books it: what was booked, or why it could not be.
    booking: BookingOutcome | None = None
    refusal: str | None = None

    async def queue_reminders(self, reminders_scheduled: RemindersScheduled | None) -> None:
        """Queue the reminders of the trip this answer booked (call after the decision is committed)."""
        if self.booking is not None and self.booking.reminders and reminders_scheduled is not None:
            await reminders_scheduled(self.booking.reminders)

    @property
    def short(self) -> str:
        return str(self.trip.itinerary_id)[:8]

    def reply(self) -> str:
        """What the approver is told."""
        if not self.decided:
            return f"Trip {self.short} was answered a moment ago; nothing changed."
        if self.following:
            return f"Trip {self.short} approved; {ASKED[self.following]} approves next."
        if not self.approved:
            return f"Trip {self.short} " + (
                "rejected and cancelled." if self.trip.booked else "rejected; nothing was booked."
            )
        if self.refusal:
            return f"Trip {self.short} approved, but it could not be booked: {self.refusal}"
        return f"Trip {self.short} approved" + (
            f" and booked for the traveller. {outcome_text(self.booking)}" if self.booking else "."
        )

    def notice(self) -> str:
        """What the traveller is told of this step."""
        which = f"Your trip of {self.trip.start_date:%d %b %Y} ({self.short})"
        if not self.approved and self.trip.booked:
            return f"{which} was rejected by {ASKED[self.trip.step]} and is cancelled."
        if not self.approved:
            return (
                f"{which} was rejected by {ASKED[self.trip.step]}; nothing was booked. "
                "The draft is kept: change it and ask me to book it again."
            )
        if self.following:
            return f"{which} was approved by {ASKED[self.trip.step]}; {ASKED[self.following]} approves next."
        if self.refusal:
            return f"{which} was approved, but it could not be booked: {self.refusal}"
        if self.booking:
            return f"{which} is approved and booked. {outcome_text(self.booking)}"
        return f"{which} is approved."

    def decided_line(self) -> str:
        """What replaces the buttons on the request the approver answered."""
        verb = "Rejected" if not self.approved else "Approved"
        then = f"; {ASKED[self.following]} approves next" if self.following else ""
        if self.booking:
            then = "; booked for the traveller"
        elif self.refusal:
            then = f"; it could not be booked: {self.refusal.rstrip('.')}"
        return f"{verb} by {self.approver_name} ({ASKED[self.trip.step]}){then}."


async def waiting_for(
    session: AsyncSession, *, caller: TenantUser, chain: ApprovalChain, now: dt.datetime
) -> list[OpenApproval]:
    """The open trips this person may answer now: their own steps, and any escalated one for an admin; never
    a trip of their own."""
    return [
        trip
        for trip in await open_approvals(session)
        if trip.user_id != caller.user_id
        and chain.may_answer(
            trip.step,
            trip.since,
            caller=caller,
            manager=await manager_of(session, user_id=trip.user_id),
            now=now,
        )
    ]


async def asked_for(
    session: AsyncSession, trip: OpenApproval, *, chain: ApprovalChain, now: dt.datetime
) -> list[TenantUser]:
    """Everyone who may answer the trip's current step now (admins join once it has escalated)."""
    manager = await manager_of(session, user_id=trip.user_id)
    colleagues = (await session.scalars(select(TenantUser).order_by(TenantUser.display_name))).all()
    return [
        user
        for user in colleagues
        if user.user_id != trip.user_id
        and chain.may_answer(trip.step, trip.since, caller=user, manager=manager, now=now)
    ]


@dataclass(frozen=True)
class StepRequest:
    """One open step to put to the people who may answer it now."""

    trip: OpenApproval
    escalated: bool
    traveller: str
    approvers: list[TenantUser]

    def sentence(self) -> str:
        """Whose trip, which, and who is asked: the first line of every channel's request."""
        asked = ASKED[self.trip.step] + (", escalated after the timeout" if self.escalated else "")
        state = (
            "was booked and waits for approval"
            if self.trip.booked
            else "waits for approval before it is booked"
        )
        why = f' Their justification: "{self.trip.justification}".' if self.trip.justification else ""
        return (
            f"{self.traveller}'s trip of {self.trip.start_date:%d %b %Y} ({str(self.trip.itinerary_id)[:8]}) "
            f"{state} (asked: {asked}).{why}"
        )


async def step_requests(
    session: AsyncSession, *, chain: ApprovalChain, now: dt.datetime, itinerary_id: uuid.UUID | None = None
) -> list[StepRequest]:
    """Every open step (or the one trip's) with who may answer it now."""
    requests = []
    for trip in await open_approvals(session, itinerary_id=itinerary_id):
        traveller = await session.scalar(select(TenantUser).where(TenantUser.user_id == trip.user_id))
        requests.append(
            StepRequest(
                trip,
                chain.escalated(trip.since, now),
                traveller.display_name if traveller else "A traveller",
                await asked_for(session, trip, chain=chain, now=now),
            )
        )
    return requests


async def decide_trip(
    session: AsyncSession,
    *,
    caller: TenantUser,
    trip: OpenApproval,
    approved: bool,
    chain: ApprovalChain,
    now: dt.datetime,
) -> StepOutcome:
    """Record the caller's answer on the trip's current step and carry out what it ends in.

    A rejection cancels a booked trip and leaves a held one a draft; the last approval of a held trip books it.
    The traveller finds every outcome in their console outbox; channels also tell them where they chat.
    """
    # The trip's row first, as a revision or a booking takes it: an answer and a change cannot cross.
    await session.execute(
        select(Itinerary.itinerary_id).where(Itinerary.itinerary_id == trip.itinerary_id).with_for_update()
    )
    spent = (
        await trip_spend_by_currency(session, itinerary_id=trip.itinerary_id)
        if trip.booked
        else await held_trip_spend(session, itinerary_id=trip.itinerary_id)
    )
    following = chain.next_step(trip.step, needs_finance=chain.needs_finance(spent)) if approved else None
    decided = await decide_step(
        session,
        itinerary_id=trip.itinerary_id,
        step=trip.step,
        approved=approved,
        approver=caller.user_id,
        next_step=following,
        now=now,
    )
    outcome = StepOutcome(trip, approved, decided, following, caller.display_name)
    if not decided:
        return outcome
    await record_audit(
        session,
        actor=Actor.user(caller.user_id),
        action="policy.approve" if approved else "policy.reject",
        entity="itinerary",
        entity_id=str(trip.itinerary_id),
        details={
            "step": trip.step,
            "escalated": chain.escalated(trip.since, now),
            "next": following,
            "booked": trip.booked,
        },
    )
    if not approved and trip.booked:
        await cancel_trip(
            session, actor=Actor.user(caller.user_id), user_id=None, itinerary_id=trip.itinerary_id
        )
    if approved and following is None and not trip.booked:
        outcome = await _book_held(session, outcome, approver=caller, now=now)
    if trip.user_id is not None:
        await post_to_console(session, user_id=trip.user_id, body=outcome.notice())
    return outcome


async def _book_held(
    session: AsyncSession, outcome: StepOutcome, *, approver: TenantUser, now: dt.datetime
) -> StepOutcome:
    """Book a held trip for its traveller now that its last approver said yes.

    The trip is checked again under the policy in force, as every booking is: one that has since become
    blocked, or has started, is not booked, and the approval is kept with the reason.
    """
    trip = outcome.trip
    traveller = await session.scalar(select(TenantUser).where(TenantUser.user_id == trip.user_id))
    if traveller is None:
        return replace(outcome, refusal="the traveller is no longer with the company.")
    try:
        async with session.begin_nested():
            booked = await book_itinerary(
                session,
                ctx=user_context(traveller, channel="console"),
                itinerary_id=trip.itinerary_id,
                justification=trip.justification,
                approved_by=approver.user_id,
                now=now,
            )
    except DomainError as error:
        return replace(outcome, refusal=error.message)
    return replace(outcome, booking=booked)


def waiting_trip(trips: list[OpenApproval], *, itinerary_id: uuid.UUID, step: str) -> OpenApproval | None:
    """The trip a button was sent for, if that same step still waits for the person pressing it."""
    return next((t for t in trips if t.itinerary_id == itinerary_id and t.step == step), None)


async def answer_button(
    db: Database,
    *,
    caller: Context,
    itinerary_id: uuid.UUID,
    step: str,
    approved: bool,
    now: dt.datetime,
    reminders_scheduled: RemindersScheduled | None,
) -> StepOutcome | None:
    """An Approve / Reject press from any channel: decided if that step still waits for the presser, else None.

    The reminders of a trip it booked are queued once the decision is committed.
    """
    async with db.tenant(caller.tenant_id) as session:
        approver = await get_user(session, user_id=caller.user_id)
        chain = ApprovalChain.from_preferences(await tenant_preferences(session))
        mine = await waiting_for(session, caller=approver, chain=chain, now=now)
        trip = waiting_trip(mine, itinerary_id=itinerary_id, step=step)
        if trip is None:
            return None
        outcome = await decide_trip(
            session, caller=approver, trip=trip, approved=approved, chain=chain, now=now
        )
    await outcome.queue_reminders(reminders_scheduled)
    return outcome if outcome.decided else None


def escalation_notice(trip: OpenApproval) -> str:
    """What the traveller is told when their trip's step waited past the timeout."""
    return (
        f"Your trip of {trip.start_date:%d %b %Y} ({str(trip.itinerary_id)[:8]}) waited past the timeout "
        f"for {ASKED[trip.step]}; an admin may answer it now."
    )


async def escalate_overdue(
    session: AsyncSession, *, chain: ApprovalChain, now: dt.datetime
) -> list[OpenApproval]:
    """The steps that passed the timeout since the last run: each is audited once and the traveller told.

    Run by the clock; the channels then put each returned trip to the admins.
    """
    escalated = []
    for trip in await open_approvals(session):
        if not chain.escalated(trip.since, now) or trip.since is None:
            continue
        since = trip.since.isoformat()
        seen = await session.scalar(
            select(AuditEntry.audit_id).where(
                AuditEntry.action == "policy.escalate",
                AuditEntry.entity_id == str(trip.itinerary_id),
                AuditEntry.details["step"].astext == trip.step,
                AuditEntry.details["since"].astext == since,
            )
        )
        if seen is not None:
            continue
        await record_audit(
            session,
            actor=SYSTEM,
            action="policy.escalate",
            entity="itinerary",
            entity_id=str(trip.itinerary_id),
            details={"step": trip.step, "since": since, "escalated": True},
        )
        if trip.user_id is not None:
            await post_to_console(session, user_id=trip.user_id, body=escalation_notice(trip))
        escalated.append(trip)
    return escalated
