"""An install at revision 0009 upgrades to the specified tables with every row and its meaning kept."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from sqlalchemy import create_engine, pool

from agent.booking import book_itinerary
from agent.context import Context
from bot.reminder_courier import ReminderCourier
from bot.reminder_delivery import ReminderChannels
from storage.console_outbox import console_messages
from storage.database import Database, libpq_url, sqlalchemy_url
from storage.embedded import EmbeddedUrls
from storage.itineraries import get_itinerary, list_itineraries
from storage.migrate import alembic_config

FIXTURE = Path(__file__).parent / "data" / "install_0009.sql"
DATABASE = "travelmate_upgrade"

# Each query gives the same facts from the schema before (0009) and after (0010) the upgrade.
BEFORE = {
    "trips": "SELECT itinerary_id, user_id, status, start_date, end_date, destinations FROM itineraries",
    "activities": """
        SELECT d.itinerary_id, coalesce((d.details ->> 'date')::date, i.start_date + d.day_number - 1),
               e.ord::int, e.item ->> 'kind', e.item - 'kind'
        FROM itinerary_details d JOIN itineraries i USING (tenant_id, itinerary_id)
        CROSS JOIN LATERAL jsonb_array_elements(d.details -> 'items') WITH ORDINALITY e(item, ord)""",
    "bookings": """
        SELECT booking_id, itinerary_id, user_id, booking_type, booking_details, status, created_at FROM bookings""",
    "reminders": """
        SELECT r.reminder_id, r.booking_id, b.user_id, r.reminder_date, r.sent
        FROM booking_reminders r JOIN bookings b USING (tenant_id, booking_id)""",
    "history": """
        SELECT trip_id, user_id, destination, start_date, end_date, activities, total_spend FROM user_travel_history""",
    "spend": "SELECT trip_id, user_id, total_spend, spend_by_category FROM travel_analytics",
    "preferences": "SELECT tenant_id, preference_key, preference_value FROM tenant_preferences",
}
AFTER = {
    "trips": """
        SELECT i.itinerary_id, i.user_id, s.status, i.start_date, i.end_date, i.destinations
        FROM itineraries i JOIN trip_states s USING (tenant_id, itinerary_id)""",
    "activities": """
        SELECT itinerary_id, date, position, activity_type, activity_details FROM itinerary_details""",
    "bookings": """
        SELECT booking_id, itinerary_id, user_id, booking_type, booking_details, status, created_at FROM bookings""",
    "reminders": """
        SELECT r.reminder_id, r.booking_id, r.user_id, s.due_at, r.sent
        FROM booking_reminders r JOIN reminder_schedules s USING (tenant_id, reminder_id)""",
    "history": """
        SELECT h.history_id, h.user_id, h.destination, h.travel_date, c.end_date, h.activities, h.total_spend
        FROM user_travel_history h JOIN completed_trips c USING (tenant_id, history_id)""",
    "spend": """
        SELECT c.itinerary_id, a.user_id, a.total_spend, a.categories_spend
        FROM travel_analytics a JOIN completed_trips c USING (tenant_id, analytics_id)""",
    "preferences": "SELECT tenant_id, preference_key, preference_value FROM tenant_preferences",
}


def _url(url: str, database: str) -> str:
    return url.replace("/travelmate?", f"/{database}?").replace("/postgres?", f"/{database}?")


def _facts(url: str, queries: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(libpq_url(url)) as conn:
        return {
            name: sorted(map(tuple, conn.execute(sql).fetchall()), key=repr) for name, sql in queries.items()
        }


def _migrate(owner_url: str, revision: str) -> None:
    config = alembic_config(app_role="travelmate_app")
    engine = create_engine(sqlalchemy_url(owner_url), poolclass=pool.NullPool)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


@pytest.fixture(scope="module")
def upgraded(embedded: EmbeddedUrls) -> Iterator[tuple[dict[str, Any], dict[str, Any], EmbeddedUrls]]:
    """A database of its own at 0009, filled by that revision's code, its facts read, then upgraded."""
    with psycopg.connect(libpq_url(embedded.superuser_database_url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        conn.execute(f"CREATE DATABASE {DATABASE} OWNER travelmate_owner")
    with psycopg.connect(libpq_url(_url(embedded.superuser_database_url, DATABASE)), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
    owner = _url(embedded.owner_database_url, DATABASE)
    _migrate(owner, "0009_single_line")
    with psycopg.connect(libpq_url(owner)) as conn:
        conn.execute(FIXTURE.read_text())  # type: ignore[arg-type]
    before = _facts(owner, BEFORE)
    _migrate(owner, "heads")
    yield before, _facts(owner, AFTER), embedded
    with psycopg.connect(libpq_url(embedded.superuser_database_url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {DATABASE} WITH (FORCE)")


def test_the_fixture_is_a_real_install_with_every_kind_of_row(upgraded: Any) -> None:
    before, _after, _urls = upgraded
    assert {name: len(rows) for name, rows in before.items()} == {
        "trips": 75,
        "activities": 149,
        "bookings": 137,
        "reminders": 4,
        "history": 72,
        "spend": 72,
        "preferences": 12,
    }
    assert {row[2] for row in before["trips"]} == {"draft", "confirmed", "cancelled"}
    assert {row[4] for row in before["reminders"]} == {True, False}


def test_trips_and_their_activities_keep_their_state_dates_and_order(upgraded: Any) -> None:
    before, after, _urls = upgraded
    assert after["trips"] == before["trips"]
    assert after["activities"] == before["activities"]


def test_bookings_keep_their_amounts_and_status(upgraded: Any) -> None:
    before, after, _urls = upgraded
    assert after["bookings"] == before["bookings"]
    amounts = sum(Decimal(row[4]["amount"]) for row in after["bookings"])
    assert amounts == sum(Decimal(row[4]["amount"]) for row in before["bookings"]) > 0


def test_reminders_keep_their_exact_time_their_traveller_and_sent_flag(upgraded: Any) -> None:
    before, after, _urls = upgraded
    assert after["reminders"] == before["reminders"]


def test_history_spend_and_preferences_keep_their_figures(upgraded: Any) -> None:
    before, after, _urls = upgraded
    assert after["history"] == before["history"]
    assert after["spend"] == before["spend"]
    assert after["preferences"] == before["preferences"]


@pytest.fixture
async def upgraded_db(upgraded: Any) -> AsyncIterator[Database]:
    _before, _after, urls = upgraded
    database = Database(_url(urls.app_database_url, DATABASE), pool_size=2)
    yield database
    await database.dispose()


async def test_the_product_still_lists_books_and_reminds_after_the_upgrade(
    upgraded: Any, upgraded_db: Database
) -> None:
    before, _after, _urls = upgraded
    draft_id, traveller_id = next((row[0], row[1]) for row in before["trips"] if row[2] == "draft")
    tenant_id = _tenant_of(upgraded, draft_id)
    ctx = Context(
        tenant_id=tenant_id,
        user_id=traveller_id,
        role="traveler",
        channel="console",
        timezone="Europe/Berlin",
        locale="en",  # type: ignore[arg-type]
        display_name="Upgraded traveller",
    )
    async with upgraded_db.tenant(tenant_id) as session:
        trips = await list_itineraries(session, user_id=traveller_id, limit=200)
        view = await get_itinerary(session, itinerary_id=draft_id, user_id=traveller_id)
    assert {trip.status for trip in trips} == {"draft", "confirmed", "cancelled"}
    assert [(day.day_number, [item.description for item in day.items]) for day in view.days] == [
        (1, ["FRA → LIS"])
    ]

    now = dt.datetime(2026, 12, 9, 8, 0, tzinfo=dt.UTC)  # the two unsent reminders fall due
    async with upgraded_db.tenant(tenant_id) as session:
        outcome = await book_itinerary(
            session, ctx=ctx, itinerary_id=draft_id, justification=None, approved_by=None, now=now
        )
    assert [b.booking_type for b in outcome.bookings] == ["flight"] and outcome.reminders

    unsent = [row[0] for row in before["reminders"] if not row[4]]
    courier = ReminderCourier(db=upgraded_db, channels=ReminderChannels({}), clock=lambda: now)
    delivered = [
        await courier.deliver(tenant_id=tenant_id, reminder_id=reminder_id) for reminder_id in unsent
    ]
    assert {d.outcome for d in delivered} <= {"delivered", "absent"}  # the first delivers both in one batch
    async with upgraded_db.tenant(tenant_id) as session:
        messages = await console_messages(session, user_id=traveller_id)
    # The trip's two reminders due together arrive as one message listing both.
    (message,) = messages
    assert "Berlin" in message.body and message.body.count("• ") == 2


def _tenant_of(upgraded: Any, itinerary_id: uuid.UUID) -> uuid.UUID:
    _before, _after, urls = upgraded
    with psycopg.connect(libpq_url(_url(urls.owner_database_url, DATABASE))) as conn:
        row = conn.execute(
            "SELECT tenant_id FROM itineraries WHERE itinerary_id = %s", (itinerary_id,)
        ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))
