"""The verdict each booking was made under, stored once at confirmation and read by every report."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import PolicyVerdictRow
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
) -> PolicyVerdictRow:
    """Write the booking's verdict with the version of the policy that gave it."""
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
