"""Bookings made elsewhere: read from a pasted or forwarded confirmation, filed on the right trip once per
locator, checked under the policy in force like every booking, and reminded like the rest."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.context import Context
from agent.planning import TravelDate, policy_in_force
from agent.policy import UNVERIFIED, UNVERIFIED_RULE, TravelPolicy, check_item
from storage.audit import Actor
from storage.bookings import create_booking, find_by_reference
from storage.errors import NotFound
from storage.exchange_rates import reference_rates
from storage.itineraries import CONFIRMED, get_itinerary
from storage.models import Booking, Itinerary
from storage.money import Amount, Currency
from storage.plans import ItemKind, PlannedItem, PolicyVerdict
from storage.policy_verdicts import store_verdict
from storage.preferences import tenant_preferences
from storage.reminders import ScheduledReminder, schedule_reminders

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class RecordArguments(BaseModel):
    """A booking made elsewhere, as read from a pasted or forwarded confirmation."""

    model_config = ConfigDict(extra="ignore")  # the tool runtime is injected beside the fields

    booking_type: Literal["flight", "hotel", "train", "car"]
    service_date: TravelDate = Field(description="Date of travel or check-in, YYYY-MM-DD")
    amount: Amount = Field(description="Price paid, e.g. 245.00")
    currency: Currency = Field(description="ISO code, e.g. EUR")
    reference: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)] | None
    ) = Field(default=None, description="Booking locator / confirmation code, e.g. ABC123")
    number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)] | None = (
        Field(default=None, description="Flight or train number, e.g. LH 1234")
    )
    vendor: Text | None = Field(default=None, description="Airline, hotel, rail or car company")
    origin: Text | None = None
    destination: Text | None = None
    end_date: TravelDate | None = Field(default=None, description="Check-out or return date, YYYY-MM-DD")
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = None
    itinerary_id: uuid.UUID | None = Field(default=None, description="The trip it belongs to, if known")


async def _trip_covering(session: AsyncSession, *, ctx: Context, day: dt.date) -> Itinerary:
    statement = (
        select(Itinerary)
        .where(
            Itinerary.user_id == ctx.user_id,
            Itinerary.start_date <= day,
            Itinerary.end_date >= day,
            Itinerary.status != "cancelled",
        )
        .order_by((Itinerary.status == CONFIRMED).desc(), Itinerary.created_at.desc())
    )
    trip = (await session.scalars(statement)).first()
    if trip is None:
        raise NotFound(
            f"None of your trips covers {day:%d %b %Y}. Plan that trip first, or tell me which trip it belongs to."
        )
    return trip


def recorded_verdict(arguments: RecordArguments, *, policy: TravelPolicy, description: str) -> PolicyVerdict:
    """A booking made elsewhere under the policy in force, so that reports compare it as they do the rest.

    When it was booked is not known, so the advance-booking rule is not applied to it.
    """
    nights = (
        (arguments.end_date - arguments.service_date).days
        if arguments.booking_type == "hotel" and arguments.end_date
        else None
    )
    try:
        item = PlannedItem(
            kind=ItemKind(arguments.booking_type),
            description=description[:300],
            cost=arguments.amount,
            currency=arguments.currency,
            origin=arguments.origin,
            destination=arguments.destination,
            carrier=arguments.vendor if arguments.booking_type == "flight" else None,
            vendor=arguments.vendor if arguments.booking_type != "flight" else None,
            number=arguments.number,
            city=arguments.destination if arguments.booking_type == "hotel" else None,
            nights=nights if nights and nights > 0 else None,
        )
    except ValidationError as error:  # what a confirmation says is not always a plannable item
        reason = "; ".join(str(e["msg"]) for e in error.errors())
        return PolicyVerdict(status="violation", reasons=[f"{UNVERIFIED}: {reason}"], rules=[UNVERIFIED_RULE])
    return check_item(
        item,
        day=arguments.service_date,
        policy=replace(policy, advance_booking_days=0),
        today=arguments.service_date,
        rates=reference_rates(),
    )


async def record_external_booking(
    session: AsyncSession, *, ctx: Context, arguments: RecordArguments, now: dt.datetime
) -> tuple[Booking, list[ScheduledReminder]] | None:
    """Record a booking made elsewhere on the right trip, once per locator.

    Returns the new booking and its reminders, or None when the same locator was already recorded.
    """
    if arguments.reference:
        existing = await find_by_reference(
            session, user_id=ctx.user_id, booking_type=arguments.booking_type, reference=arguments.reference
        )
        if existing is not None:
            return None
    if arguments.itinerary_id:
        trip = (
            await get_itinerary(session, itinerary_id=arguments.itinerary_id, user_id=ctx.user_id)
        ).itinerary
    else:
        trip = await _trip_covering(session, ctx=ctx, day=arguments.service_date)
    label = " ".join(part for part in (arguments.vendor, arguments.number) if part) or arguments.booking_type
    booking = await create_booking(
        session,
        actor=Actor.user(ctx.user_id),
        user_id=ctx.user_id,
        itinerary_id=trip.itinerary_id,
        booking_type=arguments.booking_type,
        details={
            **arguments.model_dump(exclude={"itinerary_id", "booking_type"}, exclude_none=True),
            "description": arguments.description or label,
            "source": "recorded",
        },
    )
    policy = await policy_in_force(session)
    await store_verdict(
        session,
        booking_id=booking.booking_id,
        verdict=recorded_verdict(
            arguments, policy=policy, description=booking.booking_details["description"]
        ),
        policy_version=policy.version,
        justification=None,
        approved_by=None,
    )
    preferences = await tenant_preferences(session)
    reminders = await schedule_reminders(
        session,
        booking=booking,
        travel_date=arguments.service_date,
        days_before=preferences["reminders.days_before"],
        timezone=ctx.timezone,
        now=now,
    )
    return booking, reminders
