"""`/trips export`: a traveller's trips as an ICS file, each flight, stay and meeting in its local time zone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from icalendar import Calendar, Component

from agent.booking import book_itinerary
from agent.commands import CommandRunner
from storage.audit import Actor
from storage.database import Database
from storage.itineraries import create_draft
from tests.conftest import NOW, Company, traveller
from tests.fakes.slack_api import TRAVELLER, SlackHarness
from tests.test_slack_commands import run as slack_command
from tests.test_slack_commands import slack, user_of
from tests.test_telegram_harness import ALEX, TelegramBot, telegram, telegram_api

__all__ = ["slack", "telegram", "telegram_api"]  # fixtures used by name


def three_cities(start: dt.date) -> dict[str, Any]:
    """Munich → London → New York → Munich: times as a model writes them, some local, some in UTC."""

    def day(n: int) -> str:
        return (start + dt.timedelta(days=n - 1)).isoformat()

    return {
        "start_date": day(1),
        "end_date": day(6),
        "destinations": ["London", "New York"],
        "days": [
            {
                "day_number": 1,
                "date": day(1),
                "items": [
                    {
                        "kind": "flight",
                        "description": "MUC → LHR LH 2472",
                        "cost": "210.00",
                        "currency": "EUR",
                        "origin": "MUC",
                        "destination": "LHR",
                        "number": "LH2472",
                        "depart_at": f"{day(1)}T07:00:00",  # local time in Munich
                        "arrive_at": f"{day(1)}T08:05:00",  # local time in London
                        "cabin": "economy",
                    },
                    {
                        "kind": "hotel",
                        "description": "The Hoxton Holborn",
                        "cost": "380.00",
                        "currency": "GBP",
                        "city": "London",
                        "nights": 2,
                    },
                ],
            },
            {
                "day_number": 2,
                "date": day(2),
                "items": [  # no city: where the traveller is, London
                    {
                        "kind": "meeting",
                        "description": "Board review",
                        "depart_at": f"{day(2)}T10:00:00",
                        "arrive_at": f"{day(2)}T12:30:00",
                    }
                ],
            },
            {
                "day_number": 3,
                "date": day(3),
                "items": [
                    {
                        "kind": "flight",
                        "description": "LHR → JFK BA 117",
                        "cost": "640.00",
                        "currency": "EUR",
                        "origin": "London Heathrow (LHR)",
                        "destination": "JFK",
                        "number": "BA117",
                        "depart_at": f"{day(3)}T11:00:00+00:00",  # the same instants, given in UTC
                        "arrive_at": f"{day(3)}T19:00:00+00:00",
                        "cabin": "economy",
                    },
                    {
                        "kind": "hotel",
                        "description": "Arlo SoHo",
                        "cost": "540.00",
                        "currency": "USD",
                        "city": "New York",
                        "nights": 2,
                    },
                ],
            },
            {
                "day_number": 4,
                "date": day(4),
                "items": [
                    {
                        "kind": "meeting",
                        "description": "Customer workshop",
                        "depart_at": f"{day(4)}T09:30:00",
                    },
                    {"kind": "meeting", "description": "Team dinner, time to be agreed"},
                ],
            },
            {
                "day_number": 5,
                "date": day(5),
                "items": [
                    {
                        "kind": "flight",
                        "description": "JFK → MUC LH 411",
                        "cost": "520.00",
                        "currency": "EUR",
                        "origin": "JFK",
                        "destination": "Munich",
                        "number": "LH411",
                        "depart_at": f"{day(5)}T17:45:00",
                        "arrive_at": f"{day(6)}T07:40:00",
                        "cabin": "economy",
                    }
                ],
            },
        ],
    }


async def book_three_cities(db: Database, company: Company, *, start: dt.date, now: dt.datetime) -> None:
    ctx = traveller(company)
    async with db.tenant(company.tenant_id) as session:
        draft = await create_draft(
            session, actor=Actor.user(ctx.user_id), user_id=ctx.user_id, plan=three_cities(start)
        )
        await book_itinerary(
            session, ctx=ctx, itinerary_id=draft.id, justification="Customer visit", approved_by=None, now=now
        )


def events(ics: bytes) -> dict[str, Component]:
    calendar = Calendar.from_ical(ics)
    return {str(event["SUMMARY"]): event for event in calendar.walk("VEVENT")}


def local(event: Component, field: str) -> tuple[str, str]:
    """A time as written in the file: its wall-clock reading and the TZID it names."""
    prop = event[field]
    return prop.dt.strftime("%Y-%m-%d %H:%M"), str(prop.params["TZID"])


async def test_a_three_city_trip_parses_back_with_local_times_and_zones(db: Database, acme: Company) -> None:
    await book_three_cities(db, acme, start=dt.date(2026, 12, 7), now=NOW)
    reply = await CommandRunner(db, clock=lambda: NOW).run(traveller(acme), "/trips export")

    (ics,) = reply.attachments
    assert ics.filename.endswith(".ics") and ics.mime_type == "text/calendar"
    assert "8 events" in reply.text
    calendar = Calendar.from_ical(ics.content)
    assert {str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")} == {
        "Europe/Berlin",
        "Europe/London",
        "America/New_York",
    }
    found = events(ics.content)
    assert len(found) == 8

    to_london = found["Flight: MUC → LHR LH 2472"]
    assert local(to_london, "DTSTART") == ("2026-12-07 07:00", "Europe/Berlin")
    assert local(to_london, "DTEND") == ("2026-12-07 08:05", "Europe/London")
    assert to_london["DTEND"].dt - to_london["DTSTART"].dt == dt.timedelta(hours=2, minutes=5)

    assert local(found["Meeting: Board review"], "DTSTART") == ("2026-12-08 10:00", "Europe/London")
    assert local(found["Meeting: Board review"], "DTEND") == ("2026-12-08 12:30", "Europe/London")

    to_new_york = found["Flight: LHR → JFK BA 117"]
    assert local(to_new_york, "DTSTART") == ("2026-12-09 11:00", "Europe/London")
    assert local(to_new_york, "DTEND") == ("2026-12-09 14:00", "America/New_York")

    workshop = found["Meeting: Customer workshop"]
    assert local(workshop, "DTSTART") == ("2026-12-10 09:30", "America/New_York")
    assert workshop["DTSTART"].dt.astimezone(dt.UTC) == dt.datetime(2026, 12, 10, 14, 30, tzinfo=dt.UTC)

    home = found["Flight: JFK → MUC LH 411"]
    assert local(home, "DTSTART") == ("2026-12-11 17:45", "America/New_York")
    assert local(home, "DTEND") == ("2026-12-12 07:40", "Europe/Berlin")

    london_stay = found["Hotel: The Hoxton Holborn"]  # all day, check-in to check-out
    assert (london_stay["DTSTART"].dt, london_stay["DTEND"].dt) == (
        dt.date(2026, 12, 7),
        dt.date(2026, 12, 9),
    )
    new_york_stay = found["Hotel: Arlo SoHo"]
    assert (new_york_stay["DTSTART"].dt, new_york_stay["DTEND"].dt) == (
        dt.date(2026, 12, 9),
        dt.date(2026, 12, 11),
    )
    dinner = found["Meeting: Team dinner, time to be agreed"]
    assert (dinner["DTSTART"].dt, dinner["DTEND"].dt) == (dt.date(2026, 12, 10), dt.date(2026, 12, 11))
    assert len({str(event["UID"]) for event in found.values()}) == 8


async def test_times_with_no_known_place_use_the_trip_city_then_the_travellers_zone(
    db: Database, acme: Company
) -> None:
    plan = three_cities(dt.date(2026, 12, 7))
    meeting = plan["days"][1]["items"][0]
    meeting["city"] = "Atlantis"  # unknown: the traveller is still in London that day
    ctx = traveller(acme)
    async with db.tenant(acme.tenant_id) as session:
        draft = await create_draft(session, actor=Actor.user(ctx.user_id), user_id=ctx.user_id, plan=plan)
        await book_itinerary(
            session, ctx=ctx, itinerary_id=draft.id, justification="Customer visit", approved_by=None, now=NOW
        )
        lost = await create_draft(
            session,
            actor=Actor.user(ctx.user_id),
            user_id=ctx.user_id,
            plan={
                "start_date": "2026-12-20",
                "end_date": "2026-12-20",
                "destinations": ["Somewhere nice"],
                "days": [
                    {
                        "day_number": 1,
                        "date": "2026-12-20",
                        "items": [
                            {"kind": "meeting", "description": "Offsite", "depart_at": "2026-12-20T15:00"}
                        ],
                    }
                ],
            },
        )
        await book_itinerary(
            session, ctx=ctx, itinerary_id=lost.id, justification=None, approved_by=None, now=NOW
        )
    reply = await CommandRunner(db, clock=lambda: NOW).run(ctx, "/trips export")
    found = events(reply.attachments[0].content)
    assert local(found["Meeting: Board review"], "DTSTART") == ("2026-12-08 10:00", "Europe/London")
    # Neither the meeting nor the trip names a known place: the traveller's own zone (Europe/Berlin).
    assert local(found["Meeting: Offsite"], "DTSTART") == ("2026-12-20 15:00", ctx.timezone)


async def test_no_trips_no_file(db: Database, acme: Company) -> None:
    reply = await CommandRunner(db, clock=lambda: NOW).run(traveller(acme), "/trips export")
    assert (
        reply.text == "You have no upcoming confirmed trips to put in a calendar." and not reply.attachments
    )


# -- every channel delivers the file -----------------------------------------------------------------


def next_month() -> dt.date:
    return dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)


async def test_slack_uploads_the_calendar_into_the_travellers_dm(slack: SlackHarness, db: Database) -> None:
    person = await user_of(db, TRAVELLER)
    company = Company(person.tenant_id, person.user_id, person.user_id, "Acme")
    await book_three_cities(db, company, start=next_month(), now=dt.datetime.now(dt.UTC))

    answer = await slack_command(slack, TRAVELLER, "trips export")
    assert "8 events" in answer
    (shared,) = slack.fake.files
    assert shared.channel == "D" + TRAVELLER and shared.filename == "travelmate-trips.ics"
    assert shared.title == "1 trip as a calendar (8 events)"
    assert len(events(shared.content)) == 8
    assert [c.method for c in slack.fake.called() if c.method.startswith("files.")] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


async def test_telegram_sends_the_calendar_as_a_document(telegram: TelegramBot, acme: Company) -> None:
    await telegram.link(acme, ALEX)
    await book_three_cities(telegram.db, acme, start=next_month(), now=dt.datetime.now(dt.UTC))
    await telegram.deliver(telegram.updates.message(ALEX, "/trips export"))
    (document,) = telegram.api.calls_to("sendDocument", chat_id=ALEX.id)
    assert len(events(document.files["document"])) == 8
    assert any("8 events" in text for text in telegram.api.texts(ALEX.id))
