"""Property test: three companies' random interleaved operations through the storage API never see each other."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.audit import Actor, recent_audit
from storage.bookings import BOOKING_TYPES, cancel_booking, create_booking, get_booking, list_bookings
from storage.database import Database
from storage.errors import Conflict, NotFound
from storage.itineraries import (
    CONFIRMED,
    DRAFT,
    create_draft,
    get_itinerary,
    list_itineraries,
    set_status,
    update_draft,
)
from storage.preferences import (
    PERSONAL_PREFERENCES,
    TENANT_PREFERENCES,
    personal_preferences,
    set_personal_preference,
    set_tenant_preference,
    tenant_preferences,
)
from storage.reminders import pending_reminders, schedule_reminders
from storage.tenants import list_tenants, list_users
from storage.trips import record_trip, travel_history
from tests.conftest import Company, make_company

NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
# Trips start at least 90 days ahead, so every reminder offset (at most 60 days) lies in the future.
FIRST_TRIP_DAY = dt.date(2027, 3, 1)
COMPANIES = ("Acme", "Globex", "Initech")

WRITES = ("draft", "revise", "confirm", "book", "cancel", "remind", "tenant_pref", "my_pref", "trip")
READS = ("read_trips", "read_bookings", "read_prefs", "read_history", "read_audit", "read_people")
PROBES = ("peek_other", "no_tenant")
TENANT_CHOICES: dict[str, list[Any]] = {
    "currency": ["EUR", "USD", "GBP", "CHF"],
    "reminders.days_before": [[7, 1], [14, 3, 1], [2], [], [30, 10, 5, 2, 0]],
    "data_retention_days": [30, 365, 730, 3650],
}
SEATS = ["window", "aisle", "any"]


@dataclass(frozen=True)
class Step:
    """One operation of one company; `pick` and `value` choose among what exists at that moment."""

    company: int
    action: str
    pick: int
    value: int
    other: int


steps = st.builds(
    Step,
    company=st.integers(0, 2),
    action=st.sampled_from(WRITES + READS + PROBES),
    pick=st.integers(0, 50),
    value=st.integers(0, 1000),
    other=st.integers(1, 2),
)


@dataclass
class Expected:
    """What one company should see, kept by the test beside the database."""

    company: Company
    itineraries: dict[uuid.UUID, tuple[uuid.UUID, str]] = field(default_factory=dict)  # id -> (owner, status)
    bookings: dict[uuid.UUID, tuple[uuid.UUID, str, dt.date]] = field(default_factory=dict)
    pending: dict[uuid.UUID, int] = field(default_factory=dict)  # booking id -> unsent reminders
    preferences: dict[str, Any] = field(default_factory=dict)
    seats: dict[uuid.UUID, str] = field(default_factory=dict)
    trips: dict[uuid.UUID, set[uuid.UUID]] = field(default_factory=dict)  # user -> trip ids
    audit_entries: int = 0

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.company.tenant_id

    @property
    def users(self) -> tuple[uuid.UUID, uuid.UUID]:
        return (self.company.admin_id, self.company.traveler_id)

    def preference(self, key: str) -> Any:
        return self.preferences.get(key, TENANT_PREFERENCES[key].default)


def nth(items: dict[uuid.UUID, Any], pick: int) -> uuid.UUID | None:
    return list(items)[pick % len(items)] if items else None


def trip_plan(value: int) -> dict[str, Any]:
    start = FIRST_TRIP_DAY + dt.timedelta(days=value % 200)
    nights = value % 3
    return {
        "start_date": start.isoformat(),
        "end_date": (start + dt.timedelta(days=nights)).isoformat(),
        "destinations": [["Berlin", "Lisbon", "Oslo"][value % 3]],
        "days": [
            {
                "day_number": 1,
                "date": start.isoformat(),
                "items": [{"kind": "meeting", "description": f"Workshop {value}"}],
            }
        ],
    }


class Tenants:
    """Runs steps against the database and checks every read against the expectations."""

    def __init__(self, db: Database, expected: list[Expected]) -> None:
        self.db = db
        self.expected = expected

    async def run(self, step: Step) -> None:
        me = self.expected[step.company]
        if step.action in READS:
            await self.check(me, only=step.action)
        else:
            await getattr(self, step.action)(me, step)

    # --- writes -------------------------------------------------------------------------------------

    async def draft(self, me: Expected, step: Step) -> None:
        user = me.users[step.value % 2]
        async with self.db.tenant(me.tenant_id) as session:
            view = await create_draft(
                session, actor=Actor.user(user), user_id=user, plan=trip_plan(step.value)
            )
        assert view.itinerary.tenant_id == me.tenant_id
        me.itineraries[view.id] = (user, DRAFT)
        me.audit_entries += 1

    async def revise(self, me: Expected, step: Step) -> None:
        itinerary_id = nth(me.itineraries, step.pick)
        if itinerary_id is None:
            return
        owner, status = me.itineraries[itinerary_id]
        if status != DRAFT:
            with pytest.raises(Conflict):
                async with self.db.tenant(me.tenant_id) as session:
                    await update_draft(
                        session,
                        actor=Actor.user(owner),
                        user_id=owner,
                        itinerary_id=itinerary_id,
                        plan=trip_plan(step.value),
                    )
            return
        async with self.db.tenant(me.tenant_id) as session:
            view = await update_draft(
                session,
                actor=Actor.user(owner),
                user_id=owner,
                itinerary_id=itinerary_id,
                plan=trip_plan(step.value),
            )
        assert view.itinerary.tenant_id == me.tenant_id
        assert view.itinerary.start_date.isoformat() == trip_plan(step.value)["start_date"]
        me.audit_entries += 1

    async def confirm(self, me: Expected, step: Step) -> None:
        itinerary_id = nth(me.itineraries, step.pick)
        if itinerary_id is None:
            return
        async with self.db.tenant(me.tenant_id) as session:
            await set_status(
                session, actor=Actor.user(me.users[0]), itinerary_id=itinerary_id, status=CONFIRMED
            )
        me.itineraries[itinerary_id] = (me.itineraries[itinerary_id][0], CONFIRMED)
        me.audit_entries += 1

    async def book(self, me: Expected, step: Step) -> None:
        itinerary_id = nth(me.itineraries, step.pick)
        if itinerary_id is None:
            return
        owner = me.itineraries[itinerary_id][0]
        service_date = FIRST_TRIP_DAY + dt.timedelta(days=step.value % 200)
        details = {
            "amount": f"{step.value}.50",
            "currency": me.preference("currency"),
            "description": f"Booking {step.value}",
            "service_date": service_date.isoformat(),
        }
        async with self.db.tenant(me.tenant_id) as session:
            booking = await create_booking(
                session,
                actor=Actor.user(owner),
                user_id=owner,
                itinerary_id=itinerary_id,
                booking_type=BOOKING_TYPES[step.value % len(BOOKING_TYPES)],
                details=details,
            )
        me.bookings[booking.booking_id] = (owner, "confirmed", service_date)
        me.pending[booking.booking_id] = 0
        me.audit_entries += 1

    async def cancel(self, me: Expected, step: Step) -> None:
        booking_id = nth(me.bookings, step.pick)
        if booking_id is None:
            return
        owner, status, service_date = me.bookings[booking_id]
        if status == "cancelled":
            with pytest.raises(Conflict):
                async with self.db.tenant(me.tenant_id) as session:
                    await cancel_booking(
                        session, actor=Actor.user(owner), booking_id=booking_id, user_id=owner
                    )
            return
        async with self.db.tenant(me.tenant_id) as session:
            await cancel_booking(session, actor=Actor.user(owner), booking_id=booking_id, user_id=owner)
        me.bookings[booking_id] = (owner, "cancelled", service_date)
        me.pending[booking_id] = 0
        me.audit_entries += 1

    async def remind(self, me: Expected, step: Step) -> None:
        booking_id = nth(me.bookings, step.pick)
        if booking_id is None:
            return
        owner, status, service_date = me.bookings[booking_id]
        async with self.db.tenant(me.tenant_id) as session:
            days_before = (await tenant_preferences(session))["reminders.days_before"]
            assert days_before == me.preference("reminders.days_before")
            booking = await get_booking(session, booking_id=booking_id, user_id=owner)
            rows = await schedule_reminders(
                session,
                booking=booking,
                travel_date=service_date,
                days_before=days_before,
                timezone="Europe/Berlin",
                now=NOW,
            )
        assert all(row.tenant_id == me.tenant_id for row in rows)
        assert len(rows) == (len(days_before) if status == "confirmed" else 0)
        me.pending[booking_id] += len(rows)

    async def tenant_pref(self, me: Expected, step: Step) -> None:
        key = list(TENANT_CHOICES)[step.pick % len(TENANT_CHOICES)]
        value = TENANT_CHOICES[key][step.value % len(TENANT_CHOICES[key])]
        async with self.db.tenant(me.tenant_id) as session:
            await set_tenant_preference(session, actor=Actor.user(me.users[0]), key=key, value=value)
        me.preferences[key] = sorted(value, reverse=True) if isinstance(value, list) else value
        me.audit_entries += 1

    async def my_pref(self, me: Expected, step: Step) -> None:
        user, seat = me.users[step.pick % 2], SEATS[step.value % len(SEATS)]
        async with self.db.tenant(me.tenant_id) as session:
            await set_personal_preference(
                session, actor=Actor.user(user), user_id=user, key="seat", value=seat
            )
        me.seats[user] = seat
        me.audit_entries += 1

    async def trip(self, me: Expected, step: Step) -> None:
        user = me.users[step.pick % 2]
        known = sorted(me.trips.get(user, set()))
        again = bool(known) and step.value % 3 == 0
        trip_id = known[step.value % len(known)] if again else uuid.uuid4()
        start = FIRST_TRIP_DAY - dt.timedelta(days=30 + step.value % 300)
        record = {
            "trip_id": str(trip_id),
            "destination": "Vienna",
            "start_date": start.isoformat(),
            "end_date": (start + dt.timedelta(days=2)).isoformat(),
            "total_spend": f"{step.value}.00",
            "spend_by_category": {"hotel": f"{step.value}.00"},
        }
        async with self.db.tenant(me.tenant_id) as session:
            written = await record_trip(session, actor=Actor.user(user), user_id=user, trip=record)
        assert written is not again, "a finished trip is recorded exactly once"
        me.trips.setdefault(user, set()).add(trip_id)
        me.audit_entries += int(written)

    # --- probes across the boundary -----------------------------------------------------------------

    async def peek_other(self, me: Expected, step: Step) -> None:
        """Every way of reaching another company's itinerary or booking by its id is NotFound."""
        them = self.expected[(self.expected.index(me) + step.other) % 3]
        itinerary_id, booking_id = nth(them.itineraries, step.pick), nth(them.bookings, step.pick)
        me_user = me.users[step.value % 2]
        if itinerary_id is not None:
            for user_id in (None, me_user):
                with pytest.raises(NotFound):
                    async with self.db.tenant(me.tenant_id) as session:
                        await get_itinerary(session, itinerary_id=itinerary_id, user_id=user_id)
            with pytest.raises(NotFound):
                async with self.db.tenant(me.tenant_id) as session:
                    await update_draft(
                        session,
                        actor=Actor.user(me_user),
                        user_id=me_user,
                        itinerary_id=itinerary_id,
                        plan=trip_plan(step.value),
                    )
        if booking_id is not None:
            with pytest.raises(NotFound):
                async with self.db.tenant(me.tenant_id) as session:
                    await get_booking(session, booking_id=booking_id)
            with pytest.raises(NotFound):
                async with self.db.tenant(me.tenant_id) as session:
                    await cancel_booking(
                        session, actor=Actor.user(me_user), booking_id=booking_id, user_id=None
                    )

    async def no_tenant(self, me: Expected, step: Step) -> None:
        """A session bound to no company sees no company's rows, right after one that was bound."""
        async with self.db.unscoped() as session:
            assert await list_itineraries(session, user_id=None, limit=10_000) == []
            assert await list_bookings(session, user_id=None, limit=10_000) == []
            assert await recent_audit(session, limit=10_000) == []
            assert await list_tenants(session) == []

    # --- reads --------------------------------------------------------------------------------------

    async def check(self, me: Expected, *, only: str | None = None) -> None:
        """Read what `me` can see; every row carries its tenant id and matches the expectations."""
        async with self.db.tenant(me.tenant_id) as session:
            if only in (None, "read_trips"):
                itineraries = await list_itineraries(session, user_id=None, limit=10_000)
                assert {row.tenant_id for row in itineraries} <= {me.tenant_id}
                assert {row.itinerary_id: (row.user_id, row.status) for row in itineraries} == me.itineraries
            if only in (None, "read_bookings"):
                bookings = await list_bookings(session, user_id=None, limit=10_000)
                assert {row.tenant_id for row in bookings} <= {me.tenant_id}
                assert {row.booking_id: row.status for row in bookings} == {
                    booking_id: status for booking_id, (_, status, _) in me.bookings.items()
                }
                for user in me.users:
                    pending = await pending_reminders(session, user_id=user)
                    assert {r.tenant_id for r, b in pending} | {b.tenant_id for r, b in pending} <= {
                        me.tenant_id
                    }
                    assert len(pending) == sum(
                        count
                        for booking_id, count in me.pending.items()
                        if me.bookings[booking_id][0] == user
                    )
            if only in (None, "read_prefs"):
                assert await tenant_preferences(session) == {
                    key: me.preference(key) for key in TENANT_PREFERENCES
                }
                for user in me.users:
                    mine = await personal_preferences(session, user_id=user)
                    assert mine["seat"] == me.seats.get(user, PERSONAL_PREFERENCES["seat"].default)
            if only in (None, "read_history"):
                for user in me.users:
                    history = await travel_history(session, user_id=user, limit=10_000)
                    assert {row.tenant_id for row in history} <= {me.tenant_id}
                    assert {row.history_id for row in history} == me.trips.get(user, set())
            if only in (None, "read_audit"):
                entries = await recent_audit(session, limit=10_000)
                assert {row.tenant_id for row in entries} <= {me.tenant_id}
                assert len(entries) == me.audit_entries
            if only in (None, "read_people"):
                tenants = await list_tenants(session)
                assert [tenant.id for tenant, _ in tenants] == [me.tenant_id]
                users = await list_users(session)
                assert {user.tenant_id for user in users} == {me.tenant_id}
                assert {user.user_id for user in users} == set(me.users)


async def new_companies(db: Database) -> list[Expected]:
    expected = [Expected(await make_company(db, name)) for name in COMPANIES]
    for company in expected:
        async with db.tenant(company.tenant_id) as session:
            company.audit_entries = len(await recent_audit(session, limit=100))
    return expected


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=st.lists(steps, min_size=1, max_size=50), concurrently=st.booleans())
async def test_companies_never_see_each_others_rows(
    db: Database, plan: list[Step], concurrently: bool
) -> None:
    """Random drafts, bookings, reminders, preferences and trips of three companies, sequential or concurrent.

    Each example starts three fresh companies, so earlier examples' rows are there too and must stay invisible.
    """
    tenants = Tenants(db, await new_companies(db))
    if concurrently:
        # Each company's steps in order; the companies race each other on the shared connection pool.
        async def one_company(index: int) -> None:
            for step in plan:
                if step.company == index:
                    await tenants.run(step)

        await asyncio.gather(*(one_company(index) for index in range(3)))
    else:
        for step in plan:
            await tenants.run(step)
    for company in tenants.expected:
        await tenants.check(company)
