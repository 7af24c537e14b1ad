"""Drafting trips: tool arguments become a policy-checked plan stored as a draft itinerary."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from agent.cards import itinerary_card
from agent.context import Context
from agent.policy import TravelPolicy
from agent.replies import ItineraryCard
from agent.trip_verdict import TripVerdict, evaluate_trip
from storage.audit import Actor
from storage.exchange_rates import reference_rates
from storage.itineraries import create_draft, update_draft
from storage.plans import MAX_TRIP_DAYS, PlannedItem, TripPlan
from storage.preferences import tenant_preferences
from storage.validation import validate_model

# Dates a trip can have: far enough either side for any real booking, and well inside what dates, time
# zones and reminder arithmetic can represent (9999-12-31 plus a night, or year 1 minus a week, cannot be).
FIRST_TRAVEL_DATE = dt.date(1990, 1, 1)
LAST_TRAVEL_DATE = dt.date(2199, 12, 31)


def within_travel_dates(day: dt.date) -> dt.date:
    """Refuse a date no trip can have, with a sentence, before anything computes with it."""
    if not FIRST_TRAVEL_DATE <= day <= LAST_TRAVEL_DATE:
        raise ValueError(
            f"{day.isoformat()} is not a date I can book; travel dates lie between "
            f"{FIRST_TRAVEL_DATE.isoformat()} and {LAST_TRAVEL_DATE.isoformat()}"
        )
    return day


TravelDate = Annotated[dt.date, AfterValidator(within_travel_dates)]


class PlannedDay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day_number: int = Field(ge=1, le=MAX_TRIP_DAYS, description="1 for the first day of the trip")
    date: TravelDate = Field(description="YYYY-MM-DD")
    items: list[PlannedItem] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _representable(self) -> PlannedDay:
        for item in self.items:
            if item.nights:
                within_travel_dates(self.date + dt.timedelta(days=item.nights))  # the check-out
            for moment in (item.depart_at, item.arrive_at):
                if moment is not None:
                    within_travel_dates(moment.date())
        return self


class DraftArguments(BaseModel):
    """A whole trip: dates, destinations and the day-by-day plan with estimated costs."""

    model_config = ConfigDict(extra="ignore")  # the tool runtime is injected beside the fields

    start_date: TravelDate = Field(description="First day of the trip, YYYY-MM-DD")
    end_date: TravelDate = Field(description="Last day of the trip, YYYY-MM-DD")
    destinations: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=10
    )
    days: list[PlannedDay] = Field(default_factory=list, max_length=MAX_TRIP_DAYS)


def local_today(ctx: Context, now: dt.datetime) -> dt.date:
    from zoneinfo import ZoneInfo

    return now.astimezone(ZoneInfo(ctx.timezone)).date()


async def policy_in_force(session: AsyncSession) -> TravelPolicy:
    """The tenant's policy as it stands now: read again for every decision, never cached."""
    return TravelPolicy.from_preferences(await tenant_preferences(session))


async def checked_plan(
    session: AsyncSession, *, ctx: Context, arguments: DraftArguments, now: dt.datetime
) -> tuple[TripPlan, TripVerdict]:
    """The plan with a policy verdict on every item; date errors become InvalidInput sentences."""
    verdict = evaluate_trip(
        [(day.day_number, day.date, list(day.items)) for day in arguments.days],
        start_date=arguments.start_date,
        policy=await policy_in_force(session),
        today=local_today(ctx, now),
        rates=reference_rates(),
    )
    plan = validate_model(
        TripPlan,
        {
            "start_date": arguments.start_date,
            "end_date": arguments.end_date,
            "destinations": arguments.destinations,
            "days": [day.model_dump() for day in verdict.days],
        },
        subject="The itinerary",
    )
    return plan, verdict


async def draft_trip(
    session: AsyncSession, *, ctx: Context, arguments: DraftArguments, now: dt.datetime
) -> ItineraryCard:
    plan, verdict = await checked_plan(session, ctx=ctx, arguments=arguments, now=now)
    view = await create_draft(session, actor=Actor.user(ctx.user_id), user_id=ctx.user_id, plan=plan)
    return itinerary_card(view, verdict)


async def revise_trip(
    session: AsyncSession,
    *,
    ctx: Context,
    itinerary_id: uuid.UUID,
    arguments: DraftArguments,
    now: dt.datetime,
) -> ItineraryCard:
    plan, verdict = await checked_plan(session, ctx=ctx, arguments=arguments, now=now)
    view = await update_draft(
        session, actor=Actor.user(ctx.user_id), user_id=ctx.user_id, itinerary_id=itinerary_id, plan=plan
    )
    return itinerary_card(view, verdict)
