"""Drafting trips: tool arguments become a policy-checked plan stored as a draft itinerary."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from agent.cards import itinerary_card
from agent.context import Context
from agent.policy import TravelPolicy, apply_policy
from agent.replies import ItineraryCard
from storage.audit import Actor
from storage.itineraries import create_draft, update_draft
from storage.plans import MAX_TRIP_DAYS, PlannedItem, TripPlan
from storage.preferences import tenant_preferences
from storage.validation import validate_model


class PlannedDay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day_number: int = Field(ge=1, le=MAX_TRIP_DAYS, description="1 for the first day of the trip")
    date: dt.date = Field(description="YYYY-MM-DD")
    items: list[PlannedItem] = Field(default_factory=list, max_length=20)


class DraftArguments(BaseModel):
    """A whole trip: dates, destinations and the day-by-day plan with estimated costs."""

    model_config = ConfigDict(extra="ignore")  # the tool runtime is injected beside the fields

    start_date: dt.date = Field(description="First day of the trip, YYYY-MM-DD")
    end_date: dt.date = Field(description="Last day of the trip, YYYY-MM-DD")
    destinations: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=10
    )
    days: list[PlannedDay] = Field(default_factory=list, max_length=MAX_TRIP_DAYS)


def local_today(ctx: Context, now: dt.datetime) -> dt.date:
    from zoneinfo import ZoneInfo

    return now.astimezone(ZoneInfo(ctx.timezone)).date()


async def checked_plan(
    session: AsyncSession, *, ctx: Context, arguments: DraftArguments, now: dt.datetime
) -> TripPlan:
    """The plan with a policy verdict on every item; date errors become InvalidInput sentences."""
    policy = TravelPolicy.from_preferences(await tenant_preferences(session))
    days = apply_policy(
        [(day.day_number, day.date, list(day.items)) for day in arguments.days],
        policy=policy,
        today=local_today(ctx, now),
    )
    return validate_model(
        TripPlan,
        {
            "start_date": arguments.start_date,
            "end_date": arguments.end_date,
            "destinations": arguments.destinations,
            "days": [day.model_dump() for day in days],
        },
        subject="The itinerary",
    )


async def draft_trip(
    session: AsyncSession, *, ctx: Context, arguments: DraftArguments, now: dt.datetime
) -> ItineraryCard:
    plan = await checked_plan(session, ctx=ctx, arguments=arguments, now=now)
    view = await create_draft(session, actor=Actor.user(ctx.user_id), user_id=ctx.user_id, plan=plan)
    return itinerary_card(view)


async def revise_trip(
    session: AsyncSession,
    *,
    ctx: Context,
    itinerary_id: uuid.UUID,
    arguments: DraftArguments,
    now: dt.datetime,
) -> ItineraryCard:
    plan = await checked_plan(session, ctx=ctx, arguments=arguments, now=now)
    view = await update_draft(
        session, actor=Actor.user(ctx.user_id), user_id=ctx.user_id, itinerary_id=itinerary_id, plan=plan
    )
    return itinerary_card(view)
