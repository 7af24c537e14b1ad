"""Bookings: one row per booked component, confirmed by the traveller or recorded from elsewhere."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import Actor, record_audit
from storage.errors import Conflict, InvalidInput, NotFound
from storage.models import Booking
from storage.plans import BOOKABLE, BookingDetails
from storage.reminders import cancel_pending_reminders
from storage.sessions import current_tenant
from storage.validation import validate_model

CONFIRMED, CANCELLED = "confirmed", "cancelled"
BOOKING_TYPES = tuple(kind.value for kind in BOOKABLE)


def booking_details(data: dict[str, Any] | BookingDetails) -> BookingDetails:
    return (
        data
        if isinstance(data, BookingDetails)
        else validate_model(BookingDetails, data, subject="The booking")
    )


async def create_booking(
    session: AsyncSession,
    *,
    actor: Actor,
    user_id: uuid.UUID,
    itinerary_id: uuid.UUID,
    booking_type: str,
    details: dict[str, Any] | BookingDetails,
) -> Booking:
    """Write one confirmed booking. The amount is kept as an exact decimal string in booking_details."""
    if booking_type not in BOOKING_TYPES:
        raise InvalidInput(
            f"'{booking_type}' is not a kind of booking; use one of {', '.join(BOOKING_TYPES)}."
        )
    facts = booking_details(details)
    booking = Booking(
        tenant_id=current_tenant(session),
        booking_id=uuid.uuid4(),
        itinerary_id=itinerary_id,
        user_id=user_id,
        booking_type=booking_type,
        booking_details=facts.model_dump(mode="json", exclude_none=True),
        status=CONFIRMED,
    )
    session.add(booking)
    await session.flush()
    await record_audit(
        session,
        actor=actor,
        action="booking.create",
        entity="booking",
        entity_id=str(booking.booking_id),
        details={"itinerary_id": str(itinerary_id), "type": booking_type, "source": facts.source},
    )
    return booking


async def find_by_reference(
    session: AsyncSession, *, user_id: uuid.UUID, booking_type: str, reference: str
) -> Booking | None:
    """A confirmed booking of this traveller with the same locator, so a pasted confirmation is recorded once."""
    statement = select(Booking).where(
        Booking.user_id == user_id,
        Booking.booking_type == booking_type,
        Booking.status == CONFIRMED,
        Booking.booking_details["reference"].astext == reference,
    )
    return (await session.scalars(statement)).first()


async def get_booking(
    session: AsyncSession, *, booking_id: uuid.UUID, user_id: uuid.UUID | None = None
) -> Booking:
    statement = select(Booking).where(Booking.booking_id == booking_id)
    if user_id is not None:
        statement = statement.where(Booking.user_id == user_id)
    booking = (await session.scalars(statement)).first()
    if booking is None:
        raise NotFound("I could not find that booking among yours.")
    return booking


async def cancel_booking(
    session: AsyncSession, *, actor: Actor, booking_id: uuid.UUID, user_id: uuid.UUID | None
) -> Booking:
    """Cancel a booking and its pending reminders. Cancelling twice is refused with a clear sentence."""
    booking = await get_booking(session, booking_id=booking_id, user_id=user_id)
    if booking.status == CANCELLED:
        raise Conflict("That booking is already cancelled.")
    booking.status = CANCELLED
    removed = await cancel_pending_reminders(session, booking_ids=[booking_id])
    await record_audit(
        session,
        actor=actor,
        action="booking.cancel",
        entity="booking",
        entity_id=str(booking_id),
        details={"reminders_cancelled": removed},
    )
    return booking


async def list_bookings(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    itinerary_id: uuid.UUID | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[Booking]:
    """A traveller's bookings (or the tenant's, with user_id None), newest first."""
    statement = select(Booking).order_by(Booking.created_at.desc(), Booking.booking_id).limit(limit)
    if user_id is not None:
        statement = statement.where(Booking.user_id == user_id)
    if itinerary_id is not None:
        statement = statement.where(Booking.itinerary_id == itinerary_id)
    if status:
        statement = statement.where(Booking.status == status)
    return list((await session.scalars(statement)).all())
