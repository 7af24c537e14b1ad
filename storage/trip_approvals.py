"""Where each trip's approval stands: who is asked since when, and how the chain ended.

One row per trip. A trip is either booked and owes its approval (the company lets it be booked now and
approved later), or held as a draft until its last approver says yes. Every write matches only the state
it expects, so a double click, a stale button or a traveller withdrawing the request while an approver
answers acts once at most.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Booking, Itinerary, ItineraryCancellation, PolicyVerdictRow, TripApproval
from storage.sessions import current_tenant

PENDING = "pending"


@dataclass(frozen=True)
class OpenApproval:
    """A trip whose approval is owed: who is asked since when, why, and whether it is booked yet."""

    itinerary_id: uuid.UUID
    user_id: uuid.UUID | None
    start_date: dt.date
    step: str
    since: dt.datetime | None
    reasons: list[str]
    booked: bool = True
    justification: str | None = None


async def request_approval(
    session: AsyncSession,
    *,
    itinerary_id: uuid.UUID,
    booked: bool,
    step: str,
    reasons: list[str],
    policy_version: str,
    justification: str | None,
    now: dt.datetime,
) -> None:
    """Open the trip's chain at `step`; a trip asked again (after a rejection or a revision) starts afresh."""
    fields = {
        "booked": booked,
        "status": PENDING,
        "step": step,
        "step_since": now,
        "reasons": reasons,
        "policy_version": policy_version,
        "justification": justification,
        "decided_by": None,
        "decided_at": None,
    }
    statement = insert(TripApproval).values(
        tenant_id=current_tenant(session), itinerary_id=itinerary_id, requested_at=now, **fields
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["tenant_id", "itinerary_id"], set_={**fields, "requested_at": now}
        )
    )


async def open_approvals(
    session: AsyncSession, *, itinerary_id: uuid.UUID | None = None
) -> list[OpenApproval]:
    """Trips whose approval is owed (cancelled trips owe none), soonest first."""
    statement = (
        select(TripApproval, Itinerary.user_id, Itinerary.start_date)
        .join(Itinerary, Itinerary.itinerary_id == TripApproval.itinerary_id)
        .outerjoin(ItineraryCancellation, ItineraryCancellation.itinerary_id == TripApproval.itinerary_id)
        .where(TripApproval.status == PENDING, ItineraryCancellation.itinerary_id.is_(None))
        .order_by(Itinerary.start_date, Itinerary.itinerary_id)
    )
    if itinerary_id is not None:
        statement = statement.where(TripApproval.itinerary_id == itinerary_id)
    return [
        OpenApproval(
            itinerary_id=row.itinerary_id,
            user_id=user_id,
            start_date=start,
            step=row.step,
            since=row.step_since,
            reasons=list(row.reasons),
            booked=row.booked,
            justification=row.justification,
        )
        for row, user_id, start in await session.execute(statement)
    ]


async def step_waits(session: AsyncSession, *, itinerary_id: uuid.UUID, step: str) -> bool:
    """Whether the trip's approval still waits at `step` (a request sent for it may still be answered)."""
    return any(trip.step == step for trip in await open_approvals(session, itinerary_id=itinerary_id))


async def no_longer_waiting(session: AsyncSession, *, itinerary_ids: set[uuid.UUID]) -> list[uuid.UUID]:
    """Of these trips, those no approver is asked about any more (decided, withdrawn or cancelled)."""
    if not itinerary_ids:
        return []
    waiting = {trip.itinerary_id for trip in await open_approvals(session)}
    return sorted(itinerary_ids - waiting)


async def decide_step(
    session: AsyncSession,
    *,
    itinerary_id: uuid.UUID,
    step: str,
    approved: bool,
    approver: uuid.UUID,
    next_step: str | None,
    now: dt.datetime,
) -> bool:
    """Record one approver's answer on the step they were asked; False when that step was answered already.

    An approval with a next step moves the trip on to it; otherwise the answer ends the chain, and the
    bookings of a trip booked now record how its approval ended.
    """
    ends = not (approved and next_step)
    values: dict[str, object] = (
        {"status": "approved" if approved else "rejected", "decided_by": approver, "decided_at": now}
        if ends
        else {"step": next_step, "step_since": now}
    )
    decided = await session.scalar(
        update(TripApproval)
        .where(
            TripApproval.itinerary_id == itinerary_id,
            TripApproval.status == PENDING,
            TripApproval.step == step,
        )
        .values(**values)
        .returning(TripApproval.booked)
    )
    if decided is None:
        return False
    if ends and decided:
        bookings = select(Booking.booking_id).where(Booking.itinerary_id == itinerary_id)
        await session.execute(
            update(PolicyVerdictRow)
            .where(PolicyVerdictRow.approval == PENDING, PolicyVerdictRow.booking_id.in_(bookings))
            .values(approval="approved" if approved else "rejected", approved_by=approver)
        )
    return True


async def withdraw_approval(session: AsyncSession, *, itinerary_id: uuid.UUID) -> bool:
    """Close a held trip's open request (the traveller changed or cancelled it); True when one was open."""
    withdrawn = await session.scalar(
        update(TripApproval)
        .where(
            TripApproval.itinerary_id == itinerary_id,
            TripApproval.status == PENDING,
            TripApproval.booked.is_(False),
        )
        .values(status="withdrawn", decided_at=func.now())
        .returning(TripApproval.itinerary_id)
    )
    return withdrawn is not None


async def held_for_approval(session: AsyncSession, *, itinerary_id: uuid.UUID) -> OpenApproval | None:
    """The open request of a draft held until its approval, if it has one."""
    trips = await open_approvals(session, itinerary_id=itinerary_id)
    return next((trip for trip in trips if not trip.booked), None)
