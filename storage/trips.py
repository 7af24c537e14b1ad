"""Completed trips: the traveller's history and the analytics row of each trip."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import Actor, record_audit
from storage.models import CompletedTrip, TravelAnalytics, UserTravelHistory
from storage.money import Amount
from storage.plans import check_trip_dates
from storage.sessions import current_tenant
from storage.validation import validate_model

# travel_analytics.total_spend is DECIMAL(10, 2): a trip's total in the tenant currency stays below this.
MAX_TRIP_TOTAL = Decimal("99999999.99")


class TripRecord(BaseModel):
    """One finished trip, with its spend in the tenant currency."""

    model_config = ConfigDict(extra="forbid")

    trip_id: uuid.UUID
    destination: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    start_date: dt.date
    end_date: dt.date
    activities: list[Any] = Field(default_factory=list, max_length=200)
    total_spend: Amount
    spend_by_category: dict[str, Amount] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> TripRecord:
        check_trip_dates(self.start_date, self.end_date)
        if self.spend_by_category and sum(self.spend_by_category.values(), Decimal(0)) != self.total_spend:
            raise ValueError("the spend by category does not add up to the total spend")
        if self.total_spend > MAX_TRIP_TOTAL:
            raise ValueError(f"a trip's spend above {MAX_TRIP_TOTAL:,} cannot be recorded")
        return self


async def record_trip(
    session: AsyncSession, *, actor: Actor, user_id: uuid.UUID, trip: dict[str, Any] | TripRecord
) -> bool:
    """Write the history and analytics rows of a finished trip, once. False when it was already recorded.

    Both rows take the trip's id as their own, and `completed_trips` links them to the trip with its last day.
    """
    record = trip if isinstance(trip, TripRecord) else validate_model(TripRecord, trip, subject="The trip")
    tenant_id = current_tenant(session)
    history = (
        insert(UserTravelHistory)
        .values(
            tenant_id=tenant_id,
            history_id=record.trip_id,
            user_id=user_id,
            travel_date=record.start_date,
            destination=record.destination,
            activities=record.activities,
            total_spend=record.total_spend,
        )
        .on_conflict_do_nothing()
        .returning(UserTravelHistory.history_id)
    )
    if (await session.execute(history)).first() is None:
        return False
    await session.execute(
        insert(TravelAnalytics).values(
            tenant_id=tenant_id,
            analytics_id=record.trip_id,
            user_id=user_id,
            travel_date=record.start_date,
            total_spend=record.total_spend,
            categories_spend={key: f"{value:.2f}" for key, value in record.spend_by_category.items()},
        )
    )
    await session.execute(
        insert(CompletedTrip).values(
            tenant_id=tenant_id,
            itinerary_id=record.trip_id,
            history_id=record.trip_id,
            analytics_id=record.trip_id,
            end_date=record.end_date,
        )
    )
    await record_audit(
        session, actor=actor, action="trip.record", entity="trip", entity_id=str(record.trip_id)
    )
    return True


async def travel_history(
    session: AsyncSession, *, user_id: uuid.UUID, limit: int = 5
) -> list[UserTravelHistory]:
    """A traveller's most recent trips."""
    statement = (
        select(UserTravelHistory)
        .where(UserTravelHistory.user_id == user_id)
        .order_by(UserTravelHistory.travel_date.desc())
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())
