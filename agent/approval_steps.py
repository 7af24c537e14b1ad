"""One answer to one step of a trip's approval chain, whichever channel it comes from, and who is asked next.

The console's `/approvals approve|reject`, a Slack button and a Telegram button all decide through
`decide_trip`, so a double click or a stale button acts once at most: the storage update only matches the
step that is still waiting.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.approval_chain import ApprovalChain, manager_of, trip_spend_by_currency
from storage.audit import SYSTEM, Actor, record_audit
from storage.models import AuditEntry, TenantUser
from storage.policy_verdicts import OpenApproval, decide_step, open_approvals
from storage.traveller_messages import post_to_console
from storage.trip_changes import cancel_trip

ASKED = {"manager": "the traveller's manager", "finance": "finance", "admin": "an admin"}
STALE = "This trip is no longer waiting for your answer (it was answered or moved on); nothing changed."


@dataclass(frozen=True)
class StepOutcome:
    """What one answer did: whether it decided the step, and who approves next (None: the chain ended)."""

    trip: OpenApproval
    approved: bool
    decided: bool
    following: str | None
    approver_name: str

    @property
    def short(self) -> str:
        return str(self.trip.itinerary_id)[:8]

    def reply(self) -> str:
        """What the approver is told."""
        if not self.decided:
            return f"Trip {self.short} was answered a moment ago; nothing changed."
        if self.following:
            return f"Trip {self.short} approved; {ASKED[self.following]} approves next."
        return (
            f"Trip {self.short} approved." if self.approved else f"Trip {self.short} rejected and cancelled."
        )

    def notice(self) -> str:
        """What the traveller is told of this step."""
        which = f"Your trip of {self.trip.start_date:%d %b %Y} ({self.short})"
        if not self.approved:
            return f"{which} was rejected by {ASKED[self.trip.step]} and is cancelled."
        if self.following:
            return f"{which} was approved by {ASKED[self.trip.step]}; {ASKED[self.following]} approves next."
        return f"{which} is approved."

    def decided_line(self) -> str:
        """What replaces the buttons on the request the approver answered."""
        verb = "Rejected" if not self.approved else "Approved"
        then = f"; {ASKED[self.following]} approves next" if self.following else ""
        return f"{verb} by {self.approver_name} ({ASKED[self.trip.step]}){then}."


async def waiting_for(
    session: AsyncSession, *, caller: TenantUser, chain: ApprovalChain, now: dt.datetime
) -> list[OpenApproval]:
    """The open trips this person may answer now: their own steps, and any escalated one for an admin."""
    return [
        trip
        for trip in await open_approvals(session)
        if chain.may_answer(
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
        return (
            f"{self.traveller}'s trip of {self.trip.start_date:%d %b %Y} ({str(self.trip.itinerary_id)[:8]}) "
            f"was booked and waits for approval (asked: {asked})."
        )


async def step_requests(
    session: AsyncSession, *, chain: ApprovalChain, now: dt.datetime, itinerary_id: uuid.UUID | None = None
) -> list[StepRequest]:
    """Every open step (or the one trip's) with who may answer it now."""
    requests = []
    for trip in await open_approvals(session):
        if itinerary_id is not None and trip.itinerary_id != itinerary_id:
            continue
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
    """Record the caller's answer on the trip's current step; a rejection cancels the trip.

    The traveller finds every outcome in their console outbox; channels also tell them where they chat.
    """
    spent = await trip_spend_by_currency(session, itinerary_id=trip.itinerary_id)
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
        details={"step": trip.step, "escalated": chain.escalated(trip.since, now), "next": following},
    )
    if not approved:
        await cancel_trip(
            session, actor=Actor.user(caller.user_id), user_id=None, itinerary_id=trip.itinerary_id
        )
    if trip.user_id is not None:
        await post_to_console(session, user_id=trip.user_id, body=outcome.notice())
    return outcome


def waiting_trip(trips: list[OpenApproval], *, itinerary_id: uuid.UUID, step: str) -> OpenApproval | None:
    """The trip a button was sent for, if that same step still waits for the person pressing it."""
    return next((t for t in trips if t.itinerary_id == itinerary_id and t.step == step), None)


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
