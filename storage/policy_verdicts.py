"""The verdict each booking was made under, stored once at confirmation and read by every report."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Booking, Itinerary, PolicyVerdictRow
from storage.periods import Period
from storage.plans import PolicyVerdict
from storage.sessions import current_tenant


async def store_verdict(
    session: AsyncSession,
    *,
    booking_id: uuid.UUID,
    verdict: PolicyVerdict,
    policy_version: str,
    justification: str | None,
    approved_by: uuid.UUID | None,
    approval: str | None = None,
    approval_step: str | None = None,
    now: dt.datetime | None = None,
) -> PolicyVerdictRow:
    """Write the booking's verdict with the version of the policy that gave it ('pending': approve later)."""
    row = PolicyVerdictRow(
        tenant_id=current_tenant(session),
        booking_id=booking_id,
        status=verdict.status,
        reasons=list(verdict.reasons),
        notes=list(verdict.notes),
        policy_version=policy_version,
        cap_currency=verdict.cap_currency,
        cap_difference=verdict.cap_difference,
        justification=justification,
        approved_by=approved_by,
        approval=approval,
        approval_step=approval_step,
        step_since=now if approval_step else None,
    )
    session.add(row)
    await session.flush()
    return row


async def booking_verdicts(
    session: AsyncSession, *, booking_ids: list[uuid.UUID]
) -> dict[uuid.UUID, PolicyVerdictRow]:
    """The stored verdicts of these bookings (a booking recorded from elsewhere has none)."""
    rows = await session.scalars(select(PolicyVerdictRow).where(PolicyVerdictRow.booking_id.in_(booking_ids)))
    return {row.booking_id: row for row in rows}


@dataclass(frozen=True)
class OutOfPolicyBooking:
    """A confirmed booking made out of policy, with why it was out and why it went ahead."""

    description: str
    amount: Decimal
    currency: str
    reasons: list[str]
    justification: str | None
    approved: bool


async def out_of_policy_bookings(
    session: AsyncSession, *, period: Period, user_id: uuid.UUID | None, limit: int = 10
) -> list[OutOfPolicyBooking]:
    """The latest out-of-policy bookings of trips starting in the period, as their stored verdicts say."""
    statement = (
        select(Booking, PolicyVerdictRow)
        .join(PolicyVerdictRow, PolicyVerdictRow.booking_id == Booking.booking_id)
        .join(Itinerary, Itinerary.itinerary_id == Booking.itinerary_id)
        .where(
            PolicyVerdictRow.status == "violation",
            Itinerary.start_date >= period.start,
            Itinerary.start_date < period.stop,
        )
        .order_by(PolicyVerdictRow.decided_at.desc())
        .limit(limit)
    )
    if user_id is not None:
        statement = statement.where(Booking.user_id == user_id)
    return [
        OutOfPolicyBooking(
            description=str(booking.booking_details.get("description") or booking.booking_type),
            amount=Decimal(str(booking.booking_details.get("amount") or 0)),
            currency=str(booking.booking_details.get("currency") or ""),
            reasons=list(verdict.reasons),
            justification=verdict.justification,
            approved=verdict.approved_by is not None,
        )
        for booking, verdict in await session.execute(statement)
    ]


@dataclass(frozen=True)
class OpenApproval:
    """A trip booked now whose approval is still owed: who is asked since when, and its bookings' reasons."""

    itinerary_id: uuid.UUID
    user_id: uuid.UUID | None
    start_date: dt.date
    step: str
    since: dt.datetime | None
    reasons: list[str]


async def open_approvals(session: AsyncSession) -> list[OpenApproval]:
    """Trips booked now and approved later that are not decided yet, soonest first."""
    statement = (
        select(
            Itinerary.itinerary_id,
            Itinerary.user_id,
            Itinerary.start_date,
            PolicyVerdictRow.approval_step,
            PolicyVerdictRow.step_since,
            PolicyVerdictRow.reasons,
        )
        .join(Booking, Booking.booking_id == PolicyVerdictRow.booking_id)
        .join(Itinerary, Itinerary.itinerary_id == Booking.itinerary_id)
        .where(PolicyVerdictRow.approval == "pending")
        .order_by(Itinerary.start_date, Itinerary.itinerary_id)
    )
    trips: dict[uuid.UUID, OpenApproval] = {}
    for itinerary_id, user_id, start, step, since, reasons in await session.execute(statement):
        trip = trips.setdefault(
            itinerary_id, OpenApproval(itinerary_id, user_id, start, step or "admin", since, [])
        )
        trip.reasons.extend(r for r in reasons if r not in trip.reasons)
    return list(trips.values())


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

    An approval with a next step moves the trip on to it; otherwise the answer is final.
    """
    bookings = select(Booking.booking_id).where(Booking.itinerary_id == itinerary_id)
    values: dict[str, object] = (
        {"approval_step": next_step, "step_since": now}
        if approved and next_step
        else {"approval": "approved" if approved else "rejected", "approved_by": approver}
    )
    decided = await session.scalars(
        update(PolicyVerdictRow)
        .where(
            PolicyVerdictRow.approval == "pending",
            PolicyVerdictRow.approval_step == step,
            PolicyVerdictRow.booking_id.in_(bookings),
        )
        .values(**values)
        .returning(PolicyVerdictRow.booking_id)
    )
    return bool(decided.all())
