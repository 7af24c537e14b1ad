"""The verdict each booking was made under, stored once at confirmation and read by every report."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
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
    # Booked now and approved later: "pending" until its approvers answer, then "approved" or "rejected".
    approval: str | None = None


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
            approval=verdict.approval,
        )
        for booking, verdict in await session.execute(statement)
    ]
