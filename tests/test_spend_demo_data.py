"""`travelmate demo-data`: realistic rows that satisfy every constraint and shape, the same for the same seed."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from bot.demo_data import DemoShape, demo_tenant_id, generate_demo_data
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.plans import BookingDetails, TravelItem
from tests.conftest import wipe_tenant_data

SHAPE = DemoShape(tenants=2, users=3, trips=12, seed=5, until=dt.date(2026, 6, 1), years=2)
TABLES = {  # what a snapshot compares; times set by the database clock are left out
    "tenants": "id, name",
    "users.tenant_users": "tenant_id, user_id, display_name, email, role, timezone",
    "tenant_preferences": "tenant_id, preference_key, preference_value",
    "itineraries": "tenant_id, itinerary_id, user_id, is_draft, created_at, start_date, end_date, destinations",
    "itinerary_details": "tenant_id, itinerary_id, date, activity_type, activity_details, position",
    "bookings": "tenant_id, booking_id, itinerary_id, user_id, booking_type, booking_details, status, created_at",
    "user_travel_history": "tenant_id, user_id, history_id, destination, travel_date, activities, total_spend",
    "travel_analytics": "tenant_id, user_id, analytics_id, travel_date, total_spend, categories_spend",
    "completed_trips": "tenant_id, itinerary_id, history_id, analytics_id, end_date",
}


async def snapshot(owner: Database) -> dict[str, list[Any]]:
    async with owner.unscoped() as session:
        return {
            table: sorted(
                map(tuple, (await session.execute(text(f"SELECT {columns} FROM {table}"))).all()), key=repr
            )
            for table, columns in TABLES.items()
        }


async def test_the_same_seed_gives_the_same_rows_and_another_seed_does_not(
    db: Database, owner_db: Database
) -> None:
    await generate_demo_data(db, SHAPE, workers=2)
    first = await snapshot(owner_db)
    await wipe_tenant_data(owner_db)
    await generate_demo_data(db, SHAPE, workers=1)  # a different interleaving of the tenants
    assert await snapshot(owner_db) == first
    await wipe_tenant_data(owner_db)
    await generate_demo_data(db, DemoShape(tenants=2, users=3, trips=12, seed=6, until=SHAPE.until, years=2))
    other = await snapshot(owner_db)
    assert other["travel_analytics"] != first["travel_analytics"]
    assert len(first["travel_analytics"]) == len(first["user_travel_history"]) == 2 * 3 * 12


async def test_every_row_fits_the_products_shapes_and_its_tenant(db: Database, owner_db: Database) -> None:
    summary = await generate_demo_data(db, SHAPE)
    assert (summary.created, summary.skipped, summary.trips) == (2, 0, 72)
    rows = await snapshot(owner_db)
    for *_ids, booking_type, details, status, _created in rows["bookings"]:
        booking = BookingDetails.model_validate(details)
        assert booking_type in ("flight", "train", "hotel", "car") and status == "confirmed"
        assert booking.amount > 0 and (booking.nights or 1) >= 1
        assert (
            (booking.policy.status == "violation")
            == bool(booking.policy.reasons)
            == bool(booking.justification)
        )
    for _tenant, _itinerary, _date, activity_type, details, _position in rows["itinerary_details"]:
        TravelItem.model_validate({**details, "kind": activity_type})
    history = {(t, trip): (start, total) for t, u, trip, _d, start, _a, total in rows["user_travel_history"]}
    ends = {
        (t, trip): (history_id, analytics_id, end)
        for t, trip, history_id, analytics_id, end in rows["completed_trips"]
    }
    earliest = SHAPE.until - dt.timedelta(days=365 * SHAPE.years)
    for tenant, _user, trip, start, total, categories in rows["travel_analytics"]:
        history_start, history_total = history[(tenant, trip)]
        assert ends[(tenant, trip)][:2] == (trip, trip)  # the trip's id names its history and spend rows
        assert earliest <= start == history_start <= ends[(tenant, trip)][2] < SHAPE.until
        assert total == history_total == sum((Decimal(v) for v in categories.values()), Decimal(0)) > 0
    roles = Counter((tenant, role) for tenant, _u, _n, _e, role, _tz in rows["users.tenant_users"])
    for number in (1, 2):
        tenant = demo_tenant_id(SHAPE.seed, number)
        assert roles[(tenant, "admin")] == 1 and roles[(tenant, "traveler")] == 2
        async with db.tenant(tenant) as session:  # the application role sees every row of its own tenant
            seen = (await session.execute(text("SELECT count(*) FROM travel_analytics"))).scalar_one()
        assert seen == 3 * 12
    currencies = {details["currency"] for *_ids, _type, details, _status, _created in rows["bookings"]}
    assert len(currencies) >= 2  # hotels abroad are booked in the local currency


async def test_a_second_run_skips_the_tenants_already_there(db: Database, owner_db: Database) -> None:
    await generate_demo_data(db, SHAPE)
    before = await snapshot(owner_db)
    again = await generate_demo_data(
        db, DemoShape(tenants=3, users=3, trips=12, seed=5, until=SHAPE.until, years=2)
    )
    assert (again.created, again.skipped, again.trips) == (1, 2, 36)
    after = await snapshot(owner_db)
    assert all(row in after["travel_analytics"] for row in before["travel_analytics"])  # nothing rewritten
    assert len(after["travel_analytics"]) == 3 * 3 * 12


def travelmate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
        check=False,
    )


async def test_the_command_generates_with_a_progress_bar_and_refuses_a_bad_date(
    db: Database, embedded: EmbeddedUrls
) -> None:
    done = travelmate(
        "demo-data", "--tenants", "2", "--users", "3", "--trips", "4", "--seed", "9", "--until", "2026-11-01"
    )
    assert done.returncode == 0, done.stderr
    assert "Created 2 tenants with 24 trips. Seed 9, history up to 2026-11-01" in " ".join(
        done.stdout.split()
    )
    assert "2/2 tenants" in done.stdout
    async with db.tenant(demo_tenant_id(9, 2)) as session:
        assert (await session.execute(text("SELECT count(*) FROM bookings"))).scalar_one() >= 12
    refused = travelmate("demo-data", "--tenants", "1", "--until", "1 Nov")
    assert (
        refused.returncode == 1 and "--until '1 Nov' is not a date written as YYYY-MM-DD." in refused.stderr
    )
