"""Reminders carry live travel information: a booked trip in Postgres, the real courier and worker start-up,
and the fake providers over HTTP. A provider that is down or hangs never holds a reminder back."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from agent.travel_info.reminders import reminder_travel_notes
from bot.reminder_courier import ReminderCourier
from bot.reminder_delivery import ReminderChannels
from bot.worker import shutdown, startup
from storage.console_outbox import console_messages
from storage.database import Database
from storage.embedded import EmbeddedUrls
from tests.conftest import Company
from tests.fakes.travel_providers import API_KEY, FakeTravelProviders, forget_travel_state
from tests.reminder_trips import book_trip

TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY + dt.timedelta(days=3)


def short(day: dt.date) -> str:
    return f"{day.day} {day:%b}"


@pytest.fixture(scope="module")
def providers() -> Iterator[FakeTravelProviders]:
    with FakeTravelProviders(today=TODAY) as fake:
        yield fake


@pytest.fixture
async def fake(providers: FakeTravelProviders, embedded: EmbeddedUrls) -> FakeTravelProviders:
    providers.reset()
    await forget_travel_state(embedded.redis_url)
    providers.set_weather("Berlin", START, code=63, high=3.2, low=0.4, precipitation=6.1)
    providers.add_flight("LH 1234", START, gate="B22", delay_minutes=40)
    return providers


@pytest.fixture
async def redis(embedded: EmbeddedUrls) -> AsyncIterator[Redis]:
    client = Redis.from_url(embedded.redis_url)
    yield client
    await client.aclose()


async def due_flight_and_hotel(db: Database, company: Company) -> tuple[uuid.UUID, uuid.UUID]:
    """A trip to Berlin in three days, booked a month ago: its 7-day reminders are due now."""
    outcome = await book_trip(db, company, start=START, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=30))
    kinds = {booking.booking_id: booking.booking_type for booking in outcome.bookings}
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    due = {kinds[r.booking_id]: r.reminder_id for r in outcome.reminders if r.due_at <= now}
    return due["flight"], due["hotel"]


async def delivered_bodies(db: Database, company: Company) -> dict[uuid.UUID, str]:
    async with db.tenant(company.tenant_id) as session:
        messages = await console_messages(session, user_id=company.traveler_id)
    return {message.reminder_id: message.body for message in messages if message.reminder_id}


async def trip_message(db: Database, company: Company, *reminders: uuid.UUID) -> str:
    """The one message that carries reminders of the same trip and day (filed under any one of them)."""
    bodies = await delivered_bodies(db, company)
    (body,) = [bodies[r] for r in reminders if r in bodies]
    return body


WEATHER = (
    f"In Berlin: 3 °C and rain on {short(START)}, 5 °C and overcast on {short(START + dt.timedelta(days=1))}, "
    f"5 °C and overcast on {short(START + dt.timedelta(days=2))}"
)


async def test_a_reminder_carries_the_weather_and_its_flights_status(
    db: Database, acme: Company, fake: FakeTravelProviders, redis: Redis
) -> None:
    flight, hotel = await due_flight_and_hotel(db, acme)

    async with reminder_travel_notes(redis=redis, settings=fake.settings()) as note:
        courier = ReminderCourier(db=db, channels=ReminderChannels({}), live_information=note)
        outcome = await courier.deliver(
            tenant_id=acme.tenant_id, reminder_id=flight
        )  # and the hotel's with it

    bodies = await delivered_bodies(db, acme)
    # The flight and the hotel of the same day share one message, with what is known said once.
    (body,) = [bodies[r] for r in (flight, hotel) if r in bodies]
    assert outcome.outcome == "delivered" and "LH 1234" in body and "Hotel" in body
    assert (
        body.splitlines()[-1] == f"{WEATHER}; LH 1234 departs 40 min late at 08:45 from gate B22, terminal 1"
    )
    assert fake.calls("geocoding") == fake.calls("forecast") == 1  # one lookup served both reminders


async def test_with_providers_down_or_hanging_the_reminder_arrives_on_time_without_noise(
    db: Database, acme: Company, fake: FakeTravelProviders, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="agent.travel_info.summary")
    flight, hotel = await due_flight_and_hotel(db, acme)
    fake.fail("forecast", status=500, times=None)
    fake.stall("flight", seconds=30, times=None)
    settings = fake.settings(TRAVEL_INFO_TIMEOUT_SECONDS=20, TRAVEL_INFO_DEADLINE_SECONDS=20)

    started = time.monotonic()
    async with reminder_travel_notes(redis=redis, settings=settings) as note:
        courier = ReminderCourier(db=db, channels=ReminderChannels({}), live_information=note)
        outcome = await courier.deliver(tenant_id=acme.tenant_id, reminder_id=flight)
    elapsed = time.monotonic() - started

    body = await trip_message(db, acme, flight, hotel)
    assert outcome.outcome == "delivered"
    assert elapsed < 3.0  # the courier would drop live information after 3 s; the hook answers before
    assert body.startswith("Trip reminder: Berlin")
    # Nothing is known, so nothing is said: no provider noise for the traveller (operators have the log).
    assert "unavailable" not in body.lower() and "provider" not in body and "°C" not in body
    assert any("travel information left out of a reminder" in r.getMessage() for r in caplog.records)


async def test_the_worker_starts_with_travel_information_from_its_settings(
    db: Database,
    acme: Company,
    fake: FakeTravelProviders,
    embedded: EmbeddedUrls,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "OPEN_METEO_URL": fake.open_meteo_url,
        "OPEN_METEO_GEOCODING_URL": fake.geocoding_url,
        "FLIGHT_STATUS_API_URL": fake.flight_status_url,
        "FLIGHT_STATUS_API_KEY": API_KEY,
    }.items():
        monkeypatch.setenv(name, value)
    flight, hotel = await due_flight_and_hotel(db, acme)
    ctx: dict[str, Any] = {"database_url": embedded.app_database_url, "redis": redis}

    await startup(ctx)
    try:
        courier: ReminderCourier = ctx["courier"]
        await courier.deliver(tenant_id=acme.tenant_id, reminder_id=flight)
    finally:
        await shutdown(ctx)

    body = await trip_message(db, acme, flight, hotel)
    assert body.endswith(f"{WEATHER}; LH 1234 departs 40 min late at 08:45 from gate B22, terminal 1")
