"""Itineraries and their day-by-day details: drafts that are revised, then confirmed."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import Actor, record_audit
from storage.errors import Conflict, NotFound
from storage.models import Itinerary, ItineraryDay
from storage.plans import DayPlan, TripPlan
from storage.sessions import current_tenant
from storage.validation import validate_model

DRAFT, CONFIRMED, CANCELLED = "draft", "confirmed", "cancelled"


@dataclass(frozen=True)
class ItineraryView:
    """An itinerary with its days, as channels and tools show it."""

    itinerary: Itinerary
    days: list[DayPlan]

    @property
    def id(self) -> uuid.UUID:
        return self.itinerary.itinerary_id

    def items(self) -> list[tuple[DayPlan, int, Any]]:
        return [(day, index, item) for day in self.days for index, item in enumerate(day.items)]


async def create_draft(
    session: AsyncSession, *, actor: Actor, user_id: uuid.UUID, plan: dict[str, Any] | TripPlan
) -> ItineraryView:
    """Write a new draft itinerary and its days for `user_id`."""
    trip = plan if isinstance(plan, TripPlan) else validate_model(TripPlan, plan, subject="The itinerary")
    itinerary = Itinerary(
        tenant_id=current_tenant(session),
        itinerary_id=uuid.uuid4(),
        user_id=user_id,
        status=DRAFT,
        start_date=trip.start_date,
        end_date=trip.end_date,
        destinations=list(trip.destinations),
    )
    session.add(itinerary)
    await session.flush()
    await _write_days(session, itinerary, trip.days)
    await record_audit(
        session,
        actor=actor,
        action="itinerary.create",
        entity="itinerary",
        entity_id=str(itinerary.itinerary_id),
    )
    return ItineraryView(itinerary, sorted(trip.days, key=lambda d: d.day_number))


async def update_draft(
    session: AsyncSession,
    *,
    actor: Actor,
    user_id: uuid.UUID,
    itinerary_id: uuid.UUID,
    plan: dict[str, Any] | TripPlan,
) -> ItineraryView:
    """Replace a draft's dates, destinations and days. Only drafts change; confirmed trips are booked."""
    trip = plan if isinstance(plan, TripPlan) else validate_model(TripPlan, plan, subject="The itinerary")
    itinerary = await _owned(session, user_id=user_id, itinerary_id=itinerary_id, lock=True)
    if itinerary.status != DRAFT:
        raise Conflict(f"That itinerary is {itinerary.status}; only drafts can be revised.")
    itinerary.start_date, itinerary.end_date = trip.start_date, trip.end_date
    itinerary.destinations = list(trip.destinations)
    itinerary.updated_at = func.now()
    await session.execute(delete(ItineraryDay).where(ItineraryDay.itinerary_id == itinerary_id))
    await _write_days(session, itinerary, trip.days)
    await session.flush()
    await session.refresh(itinerary)
    await record_audit(
        session, actor=actor, action="itinerary.update", entity="itinerary", entity_id=str(itinerary_id)
    )
    return ItineraryView(itinerary, sorted(trip.days, key=lambda d: d.day_number))


async def _write_days(session: AsyncSession, itinerary: Itinerary, days: list[DayPlan]) -> None:
    for day in days:
        session.add(
            ItineraryDay(
                tenant_id=itinerary.tenant_id,
                itinerary_id=itinerary.itinerary_id,
                day_number=day.day_number,
                details=day.model_dump(mode="json", exclude={"day_number"}),
            )
        )
    await session.flush()


async def _owned(
    session: AsyncSession, *, user_id: uuid.UUID | None, itinerary_id: uuid.UUID, lock: bool = False
) -> Itinerary:
    statement = select(Itinerary).where(Itinerary.itinerary_id == itinerary_id)
    if user_id is not None:
        statement = statement.where(Itinerary.user_id == user_id)
    if lock:
        statement = statement.with_for_update()
    itinerary = (await session.scalars(statement)).first()
    if itinerary is None:
        raise NotFound("I could not find that itinerary among your trips.")
    return itinerary


async def get_itinerary(
    session: AsyncSession, *, itinerary_id: uuid.UUID, user_id: uuid.UUID | None = None, lock: bool = False
) -> ItineraryView:
    """One itinerary with its days; `user_id` restricts it to that traveller's own trips."""
    itinerary = await _owned(session, user_id=user_id, itinerary_id=itinerary_id, lock=lock)
    rows = await session.scalars(
        select(ItineraryDay)
        .where(ItineraryDay.itinerary_id == itinerary_id)
        .order_by(ItineraryDay.day_number)
    )
    days = [DayPlan.model_validate({**row.details, "day_number": row.day_number}) for row in rows]
    return ItineraryView(itinerary, days)


async def list_itineraries(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    status: str | None = None,
    upcoming_from: dt.date | None = None,
    limit: int = 20,
) -> list[Itinerary]:
    """A traveller's itineraries (or the tenant's, with user_id None), soonest first."""
    statement = select(Itinerary).order_by(Itinerary.start_date, Itinerary.created_at).limit(limit)
    if user_id is not None:
        statement = statement.where(Itinerary.user_id == user_id)
    if status:
        statement = statement.where(Itinerary.status == status)
    if upcoming_from:
        statement = statement.where(Itinerary.end_date >= upcoming_from)
    return list((await session.scalars(statement)).all())


async def set_status(session: AsyncSession, *, actor: Actor, itinerary_id: uuid.UUID, status: str) -> None:
    await session.execute(
        update(Itinerary)
        .where(Itinerary.itinerary_id == itinerary_id)
        .values(status=status, updated_at=func.now())
    )
    await record_audit(
        session, actor=actor, action=f"itinerary.{status}", entity="itinerary", entity_id=str(itinerary_id)
    )
