"""Travel notes for stored trips: a confirmed trip in Postgres, its flight bookings, and the fake providers."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest

from agent.travel_info import TravelInfo
from agent.travel_info.trips import booked_flights, trip_travel_note
from storage.audit import Actor
from storage.bookings import create_booking, list_bookings
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.itineraries import create_draft
from storage.models import Booking, Itinerary
from tests.conftest import Company
from tests.fakes.travel_providers import FakeTravelProviders, forget_travel_state

TODAY = dt.date(2026, 11, 25)
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
OUTBOUND = dt.date(2026, 12, 3)
HOME = dt.date(2026, 12, 5)


@pytest.fixture(scope="module")
def providers() -> Iterator[FakeTravelProviders]:
    with FakeTravelProviders(today=TODAY) as fake:
        yield fake


@pytest.fixture
async def fake(providers: FakeTravelProviders, embedded: EmbeddedUrls) -> FakeTravelProviders:
    providers.reset()
    await forget_travel_state(embedded.redis_url)
    return providers


@pytest.fixture
async def info(fake: FakeTravelProviders, embedded: EmbeddedUrls) -> AsyncIterator[TravelInfo]:
    async with TravelInfo.open(
        fake.settings(), redis_url=embedded.redis_url, clock=lambda: NOW
    ) as travel_info:
        yield travel_info


def flight(number: str, day: dt.date, depart_at: str | None = None) -> dict[str, object]:
    details: dict[str, object] = {
        "amount": Decimal("245.00"),
        "currency": "EUR",
        "description": f"Flight {number}",
        "service_date": day,
        "number": number,
    }
    if depart_at:
        details["depart_at"] = depart_at
    return details


async def berlin_trip(db: Database, company: Company) -> tuple[Itinerary, list[Booking]]:
    actor = Actor.user(company.traveler_id)
    async with db.tenant(company.tenant_id) as session:
        draft = await create_draft(
            session,
            actor=actor,
            user_id=company.traveler_id,
            plan={"start_date": OUTBOUND, "end_date": HOME, "destinations": ["Berlin"]},
        )
        for details in (
            flight("LH 1234", OUTBOUND, "2026-12-03T08:05:00+01:00"),
            flight("TBD", OUTBOUND),  # recorded before the airline gave a number
            flight("LH1235", HOME),
        ):
            await create_booking(
                session,
                actor=actor,
                user_id=company.traveler_id,
                itinerary_id=draft.id,
                booking_type="flight",
                details=details,
            )
        hotel = {
            "amount": "480.00",
            "currency": "EUR",
            "description": "Hotel Adlon",
            "service_date": OUTBOUND,
        }
        await create_booking(
            session,
            actor=actor,
            user_id=company.traveler_id,
            itinerary_id=draft.id,
            booking_type="hotel",
            details=hotel,
        )
    async with db.tenant(company.tenant_id) as session:
        bookings = await list_bookings(session, user_id=company.traveler_id, itinerary_id=draft.id)
    return draft.itinerary, bookings


async def test_a_trip_note_carries_the_destination_weather_and_each_booked_flight(
    db: Database, acme: Company, fake: FakeTravelProviders, info: TravelInfo
) -> None:
    itinerary, bookings = await berlin_trip(db, acme)
    fake.set_weather("Berlin", OUTBOUND, code=63, high=3.2, low=0.4, precipitation=6.1)
    fake.add_flight("LH 1234", OUTBOUND, gate="B22", delay_minutes=40)
    fake.add_flight("LH 1235", HOME, origin="BER", destination="FRA", departs=dt.time(18, 30), gate=None)

    note = await trip_travel_note(info, itinerary=itinerary, bookings=bookings)

    assert note == (
        "In Berlin: 3 °C and rain on 3 Dec, 5 °C and overcast on 4 Dec, 5 °C and overcast on 5 Dec; "
        "LH 1234 departs 40 min late at 08:45 from gate B22, terminal 1; "
        "LH 1235 is scheduled to depart at 18:30 from terminal 1"
    )


async def test_with_the_providers_down_the_note_still_comes_and_says_so(
    db: Database, acme: Company, fake: FakeTravelProviders, info: TravelInfo
) -> None:
    itinerary, bookings = await berlin_trip(db, acme)
    for endpoint in ("geocoding", "flight"):
        fake.fail(endpoint, status=500, times=None)

    note = await trip_travel_note(info, itinerary=itinerary, bookings=bookings)

    assert note is not None
    assert note.split("; ") == [
        "Information unavailable for the weather in Berlin on 3 Dec–5 Dec (the provider is not answering)",
        "Information unavailable for the status of LH 1234 on 3 Dec (the provider is not answering)",
        "Information unavailable for the status of LH 1235 on 5 Dec (the provider is not answering)",
    ]


async def test_the_watch_gets_the_booked_flights_with_usable_numbers(db: Database, acme: Company) -> None:
    _, bookings = await berlin_trip(db, acme)

    flights = booked_flights(bookings)

    assert [(f.flight_number, f.day) for f in flights] == [("LH 1234", OUTBOUND), ("LH1235", HOME)]
    assert flights[0].departs_at == dt.datetime(2026, 12, 3, 7, 5, tzinfo=dt.UTC)
    assert flights[1].departs_at is None
    assert {f.user_id for f in flights} == {acme.traveler_id}
