"""Itineraries and their day-by-day details: drafts that are revised, then confirmed."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import Actor, record_audit
from storage.errors import Conflict, NotFound
from storage.models import Itinerary, ItineraryCancellation, ItineraryDetail
from storage.plans import MAX_TRIP_DAYS, DayPlan, ItemKind, TravelItem, TripPlan
from storage.sessions import current_tenant
from storage.trip_approvals import withdraw_approval
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
        is_draft=True,
        start_date=trip.start_date,
        end_date=trip.end_date,
        destinations=list(trip.destinations),
    )
    session.add(itinerary)
    await session.flush()
    await session.refresh(itinerary)  # its status is computed by the database
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
    await session.execute(delete(ItineraryDetail).where(ItineraryDetail.itinerary_id == itinerary_id))
    await _write_days(session, itinerary, trip.days)
    await session.flush()
    await session.refresh(itinerary)
    await record_audit(
        session, actor=actor, action="itinerary.update", entity="itinerary", entity_id=str(itinerary_id)
    )
    if await withdraw_approval(session, itinerary_id=itinerary_id):
        # The approvers were asked about the trip as it was; the changed one is asked for afresh.
        await record_audit(
            session, actor=actor, action="policy.withdraw", entity="itinerary", entity_id=str(itinerary_id)
        )
    return ItineraryView(itinerary, sorted(trip.days, key=lambda d: d.day_number))


async def _write_days(session: AsyncSession, itinerary: Itinerary, days: list[DayPlan]) -> None:
    """One itinerary_details row per activity, dated, with its position in the day."""
    session.add_all(
        ItineraryDetail(
            tenant_id=itinerary.tenant_id,
            itinerary_id=itinerary.itinerary_id,
            date=day.date,
            activity_type=item.kind.value,
            activity_details=item.model_dump(mode="json", exclude={"kind"}, exclude_none=True),
            position=position,
        )
        for day in days
        for position, item in enumerate(day.items, start=1)
    )
    await session.flush()


_ITEM_FIELDS = frozenset(TravelItem.model_fields) - {"kind"}
_KINDS = {kind.value: kind for kind in ItemKind}


def activity_item(activity_type: str | None, activity_details: Any) -> TravelItem:
    """One detail row as a travel item; a row written by another system is read as far as it can be."""
    details = activity_details if isinstance(activity_details, dict) else {}
    kind = _KINDS.get((activity_type or "").strip().lower(), ItemKind.ACTIVITY)
    known = {key: value for key, value in details.items() if key in _ITEM_FIELDS and value is not None}
    try:
        return TravelItem.model_validate(
            {**known, "kind": kind, "description": describe(activity_type, details)}
        )
    except ValidationError:
        return TravelItem(kind=kind, description=describe(activity_type, details))


def describe(activity_type: str | None, details: dict[str, Any]) -> str:
    """A short description of an activity: its own words where it has some, else its type."""
    for key in ("description", "title", "name", "summary", "activity"):
        value = details.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:300]
    return (activity_type or "activity").strip().replace("_", " ").capitalize()[:300] or "Activity"


def plan_days(start_date: dt.date, rows: list[ItineraryDetail]) -> list[DayPlan]:
    """Detail rows grouped into days, in date order and, within a day, in planned order."""
    by_date: dict[dt.date, list[ItineraryDetail]] = {}
    for row in rows:
        by_date.setdefault(row.date, []).append(row)
    days = []
    for date in sorted(by_date):
        ordered = sorted(
            by_date[date],
            key=lambda row: (row.position is None, row.position or 0, row.created_at or dt.datetime.min),
        )
        items = [activity_item(row.activity_type, row.activity_details) for row in ordered]
        number = (date - start_date).days + 1
        if 1 <= number <= MAX_TRIP_DAYS and len(items) <= 20:
            days.append(DayPlan(day_number=number, date=date, items=items))
        else:  # dated outside the trip (written elsewhere): shown as it is rather than refused
            days.append(DayPlan.model_construct(day_number=number, date=date, items=items))
    return days


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
        select(ItineraryDetail)
        .where(ItineraryDetail.itinerary_id == itinerary_id)
        .order_by(ItineraryDetail.date)
    )
    return ItineraryView(itinerary, plan_days(itinerary.start_date, list(rows)))


async def list_itineraries(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    status: str | tuple[str, ...] | None = None,
    upcoming_from: dt.date | None = None,
    limit: int = 20,
) -> list[Itinerary]:
    """A traveller's itineraries (or the tenant's, with user_id None), soonest first."""
    statement = select(Itinerary).order_by(Itinerary.start_date, Itinerary.created_at).limit(limit)
    if user_id is not None:
        statement = statement.where(Itinerary.user_id == user_id)
    if status:
        statement = statement.where(Itinerary.status.in_((status,) if isinstance(status, str) else status))
    if upcoming_from:
        statement = statement.where(Itinerary.end_date >= upcoming_from)
    return list((await session.scalars(statement)).all())


async def set_status(session: AsyncSession, *, actor: Actor, itinerary_id: uuid.UUID, status: str) -> None:
    """Make a trip a draft, confirmed or cancelled, audited."""
    await change_state(session, itinerary_id=itinerary_id, status=status)
    await record_audit(
        session, actor=actor, action=f"itinerary.{status}", entity="itinerary", entity_id=str(itinerary_id)
    )


async def change_state(session: AsyncSession, *, itinerary_id: uuid.UUID, status: str) -> None:
    """`is_draft` says draft or booked; a cancellation is a side row, since the specification has no place for it."""
    if status == CANCELLED:
        await session.execute(
            insert(ItineraryCancellation)
            .values(tenant_id=current_tenant(session), itinerary_id=itinerary_id)
            .on_conflict_do_nothing()
        )
    else:
        await session.execute(
            delete(ItineraryCancellation).where(ItineraryCancellation.itinerary_id == itinerary_id)
        )
    await session.execute(
        update(Itinerary)
        .where(Itinerary.itinerary_id == itinerary_id)
        .values(**({} if status == CANCELLED else {"is_draft": status == DRAFT}), updated_at=func.now())
        .execution_options(synchronize_session=False)
    )
    for held in list(session.identity_map.values()):  # the trip as this session already holds it
        if isinstance(held, Itinerary) and held.itinerary_id == itinerary_id:
            await session.refresh(held)
