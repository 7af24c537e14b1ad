"""Rows another system writes through the specified columns alone are first-class: shown, used, delivered."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select, text

from agent.checkpoints import checkpoint_saver
from agent.commands import CommandRunner
from agent.conversation import ConversationService
from agent.tools import Decision
from bot.reminder_courier import ReminderCourier
from bot.reminder_delivery import ReminderChannels
from storage.console_outbox import console_messages
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.models import Booking, BookingReminder
from storage.reminder_runs import due_reminder_ids
from tests.conftest import NOW, Company, traveller
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.fakes.slack_api import TRAVELLER, SlackHarness
from tests.plans import berlin_days
from tests.reminder_trips import WorkerProcess, arq_redis_fixture, eventually  # noqa: F401 - a fixture
from tests.test_slack_commands import run, slack, user_of
from tests.test_telegram_harness import ALEX, TelegramBot, telegram, telegram_api, telegram_settings

__all__ = ["slack", "telegram", "telegram_api", "telegram_settings"]  # fixtures used by name

BERLIN = ZoneInfo("Europe/Berlin")


async def insert(db: Database, tenant_id: uuid.UUID, sql: str, **params: Any) -> list[Any]:
    """Plain SQL as the application role, naming only the specification's columns."""
    async with db.tenant(tenant_id) as session:
        result = await session.execute(text(sql), {"t": tenant_id, **params})
        return list(result.all()) if result.returns_rows else []


async def trip_from_elsewhere(db: Database, tenant_id: uuid.UUID, user_id: uuid.UUID) -> uuid.UUID:
    """A draft itinerary with three activities on two dates, as an importer would write it."""
    ((itinerary_id,),) = await insert(
        db,
        tenant_id,
        "INSERT INTO itineraries (tenant_id, user_id, start_date, end_date, destinations) "
        "VALUES (:t, :u, '2026-12-14', '2026-12-15', '[\"Vienna\"]') RETURNING itinerary_id",
        u=user_id,
    )
    await insert(
        db,
        tenant_id,
        "INSERT INTO itinerary_details (tenant_id, itinerary_id, date, activity_type, activity_details) VALUES "
        '(:t, :i, \'2026-12-14\', \'flight\', \'{"description": "OS 112 MUC → VIE", "cost": "210.00", '
        '"currency": "EUR", "carrier": "OS", "number": "OS112"}\'), '
        '(:t, :i, \'2026-12-14\', \'hotel\', \'{"title": "Hotel Sacher", "nights": 1, "cost": "160.00", '
        '"currency": "EUR", "city": "Vienna", "vendor": "Sacher"}\'), '
        '(:t, :i, \'2026-12-15\', \'meeting\', \'{"description": "Board review", "room": "4.12"}\')',
        i=itinerary_id,
    )
    return uuid.UUID(str(itinerary_id))


@pytest.fixture
async def commands(db: Database, embedded: EmbeddedUrls) -> AsyncIterator[CommandRunner]:
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        yield CommandRunner(db, clock=lambda: NOW, saver=saver)


async def test_an_imported_draft_is_shown_by_day_then_revised_and_booked_by_the_agent(
    db: Database,
    commands: CommandRunner,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
) -> None:
    itinerary_id = await trip_from_elsewhere(db, acme.tenant_id, acme.traveler_id)
    drafts = (await commands.run(traveller(acme), "/drafts")).cards
    trips = (await commands.run(traveller(acme), "/trips")).cards
    assert [card.itinerary_id for card in drafts] == [itinerary_id] and trips == drafts
    (card,) = drafts
    assert card.status == "draft" and card.destinations == ("Vienna",)
    assert [(day.day_number, [(i.kind, i.description) for i in day.items]) for day in card.days] == [
        (1, [("flight", "OS 112 MUC → VIE"), ("hotel", "Hotel Sacher")]),
        (2, [("meeting", "Board review")]),
    ]

    revised = {
        "itinerary_id": str(itinerary_id),
        "start_date": "2026-12-14",
        "end_date": "2026-12-15",
        "destinations": ["Vienna"],
        "days": [
            {
                "day_number": 1,
                "date": "2026-12-14",
                "items": [
                    {
                        "kind": "train",
                        "description": "Railjet Munich → Vienna",
                        "cost": "89.90",
                        "currency": "EUR",
                    },
                    {
                        "kind": "hotel",
                        "description": "Hotel Sacher",
                        "cost": "160.00",
                        "currency": "EUR",
                        "nights": 1,
                    },
                ],
            },
            {
                "day_number": 2,
                "date": "2026-12-15",
                "items": [{"kind": "meeting", "description": "Board review"}],
            },
        ],
    }
    scripted_model.script(call("update_draft_itinerary", revised), say("The train instead."))
    await conversation.handle_message(traveller(acme), "vienna", "Take the train instead")
    scripted_model.script(call("confirm_booking", itinerary_id=str(itinerary_id)))
    asked = await conversation.handle_message(traveller(acme), "vienna", "Book it")
    assert asked.confirmation is not None and asked.confirmation.itinerary_id == itinerary_id
    scripted_model.script(say("Booked."))
    await conversation.resume(traveller(acme), "vienna", Decision(approved=True))
    booked = (await commands.run(traveller(acme), "/bookings")).text
    assert (
        "[confirmed] train: Railjet Munich → Vienna" in booked and "[confirmed] hotel: Hotel Sacher" in booked
    )
    ((is_draft,),) = await insert(
        db, acme.tenant_id, "SELECT is_draft FROM itineraries WHERE itinerary_id = :i", i=itinerary_id
    )
    assert is_draft is False


async def test_an_imported_draft_and_booking_show_in_slack(db: Database, slack: SlackHarness) -> None:
    person = await user_of(db, TRAVELLER)
    itinerary_id = await trip_from_elsewhere(db, person.tenant_id, person.user_id)
    await insert(
        db,
        person.tenant_id,
        "INSERT INTO bookings (tenant_id, user_id, itinerary_id, booking_type, booking_details) "
        'VALUES (:t, :u, :i, \'flight\', \'{"description": "OS 112 MUC → VIE", "amount": "210.00", '
        '"currency": "EUR", "service_date": "2026-12-14"}\')',
        u=person.user_id,
        i=itinerary_id,
    )
    before = len(slack.fake.responses)
    assert await run(slack, TRAVELLER, "drafts") == "1 trip:"
    drafts = json.dumps(
        [answer.get("blocks") for answer in slack.fake.responses[before:]], ensure_ascii=False
    )
    assert "Vienna" in drafts and "Board review" in drafts and "Hotel Sacher" in drafts
    assert "[confirmed] flight: OS 112 MUC → VIE" in await run(slack, TRAVELLER, "bookings")


async def test_an_imported_draft_and_booking_show_on_telegram(
    db: Database, telegram: TelegramBot, acme: Company
) -> None:
    await telegram.link(acme, ALEX)
    itinerary_id = await trip_from_elsewhere(db, acme.tenant_id, acme.traveler_id)
    await insert(
        db,
        acme.tenant_id,
        "INSERT INTO bookings (tenant_id, user_id, itinerary_id, booking_type, booking_details) "
        'VALUES (:t, :u, :i, \'hotel\', \'{"description": "Hotel Sacher", "amount": "160.00", '
        '"currency": "EUR", "service_date": "2026-12-14"}\')',
        u=acme.traveler_id,
        i=itinerary_id,
    )
    for command in ("/drafts", "/bookings"):
        await telegram.deliver(telegram.updates.message(ALEX, command))

    async def answered() -> bool:  # paced by the flood control, the card may follow its heading later
        return "[confirmed] hotel" in "\n".join(telegram.api.texts(ALEX.id))

    await eventually(answered, timeout=10, what="both answers arrived")
    *heading_and_cards, bookings = telegram.api.texts(ALEX.id)
    drafts = "\n".join(heading_and_cards)
    assert "Vienna" in drafts and "Board review" in drafts and "Hotel Sacher" in drafts
    assert "[confirmed] hotel: Hotel Sacher" in bookings


async def test_a_booking_left_to_the_default_status_is_confirmed(
    db: Database, commands: CommandRunner, acme: Company
) -> None:
    await insert(
        db,
        acme.tenant_id,
        "INSERT INTO bookings (tenant_id, user_id, booking_type, booking_details) "
        'VALUES (:t, :u, \'car\', \'{"description": "Sixt at VIE", "amount": "95.00", "currency": "EUR"}\')',
        u=acme.traveler_id,
    )
    async with db.tenant(acme.tenant_id) as session:
        (booking,) = (await session.scalars(select(Booking))).all()
    assert booking.status == "confirmed" and booking.itinerary_id is None
    assert "[confirmed] car: Sixt at VIE" in (await commands.run(traveller(acme), "/bookings")).text


async def reminder_from_elsewhere(db: Database, company: Company, *, on: dt.date, message: str) -> uuid.UUID:
    ((reminder_id,),) = await insert(
        db,
        company.tenant_id,
        "INSERT INTO booking_reminders (tenant_id, user_id, reminder_date, message) "
        "VALUES (:t, :u, :d, :m) RETURNING reminder_id",
        u=company.traveler_id,
        d=on,
        m=message,
    )
    return uuid.UUID(str(reminder_id))


async def set_reminder_time(db: Database, company: Company, value: str) -> None:
    await insert(
        db,
        company.tenant_id,
        "INSERT INTO tenant_preferences (tenant_id, preference_key, preference_value) "
        "VALUES (:t, 'reminders.time', CAST(:v AS jsonb))",
        v=json.dumps(value),
    )


async def test_a_reminder_for_tomorrow_falls_due_at_the_companys_hour_in_the_travellers_zone(
    db: Database, worker_db: Database, acme: Company
) -> None:
    await set_reminder_time(db, acme, "07:30")
    tomorrow = NOW.astimezone(BERLIN).date() + dt.timedelta(days=1)
    reminder_id = await reminder_from_elsewhere(db, acme, on=tomorrow, message="Visa appointment at 10:00.")
    due = dt.datetime.combine(tomorrow, dt.time(7, 30), BERLIN)  # 06:30 UTC in winter
    courier = ReminderCourier(db=db, channels=ReminderChannels({}), clock=lambda: due)
    assert await due_reminder_ids(worker_db, now=due - dt.timedelta(minutes=1)) == []
    assert await due_reminder_ids(worker_db, now=due) == [(acme.tenant_id, reminder_id)]
    early = ReminderCourier(db=db, channels=ReminderChannels({}), clock=lambda: due - dt.timedelta(minutes=1))
    assert (await early.deliver(tenant_id=acme.tenant_id, reminder_id=reminder_id)).outcome == "absent"
    assert (await courier.deliver(tenant_id=acme.tenant_id, reminder_id=reminder_id)).outcome == "delivered"
    assert (await courier.deliver(tenant_id=acme.tenant_id, reminder_id=reminder_id)).outcome == "absent"
    async with db.tenant(acme.tenant_id) as session:
        (message,) = await console_messages(session, user_id=acme.traveler_id)
        reminder = await session.get(BookingReminder, (acme.tenant_id, reminder_id))
    assert message.body == "Reminder: Visa appointment at 10:00."
    assert reminder is not None and reminder.sent is True


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for process in started:
        process.stop()


@pytest.mark.slow
async def test_the_real_worker_delivers_a_reminder_written_elsewhere_once_and_marks_it_sent(
    db: Database, acme: Company, arq_redis: ArqRedis, worker: list[WorkerProcess], tmp_path: Path
) -> None:
    local = dt.datetime.now(BERLIN)
    hour = max(local - dt.timedelta(minutes=1), local.replace(hour=0, minute=0))
    await set_reminder_time(db, acme, f"{hour:%H:%M}")
    reminder_id = await reminder_from_elsewhere(
        db, acme, on=local.date(), message="Collect the badge at gate 3."
    )
    process = WorkerProcess(
        {
            "TRAVELMATE_SWEEP_SECONDS": "1",
            "TRAVELMATE_WORKER_POLL_DELAY": "0.05",
            "TRAVELMATE_REMINDER_LIVE_INFO": "false",
        },
        tmp_path / "worker.log",
    ).start()
    worker.append(process)

    async def sent() -> bool:
        async with db.tenant(acme.tenant_id) as session:
            row = await session.get(BookingReminder, (acme.tenant_id, reminder_id))
            return bool(row and row.sent)

    await eventually(sent, timeout=60, what=f"the worker delivered the reminder (log: {process.log_path})")
    await asyncio.sleep(3)  # further sweeps find nothing to send again
    async with db.tenant(acme.tenant_id) as session:
        messages = await console_messages(session, user_id=acme.traveler_id)
    assert [m.body for m in messages] == ["Reminder: Collect the badge at gate 3."]


async def test_spend_written_elsewhere_counts_in_spend_and_its_chart(
    db: Database, commands: CommandRunner, acme: Company
) -> None:
    for day, total, categories in (
        ("2026-03-10", "480.00", {"flight": "300.00", "hotel": "180.00"}),
        ("2026-06-02", "220.50", {"train": "120.50", "hotel": "100.00"}),
        ("2026-09-21", "99.00", {"car": "99.00"}),
    ):
        await insert(
            db,
            acme.tenant_id,
            "INSERT INTO travel_analytics (tenant_id, user_id, travel_date, total_spend, categories_spend) "
            "VALUES (:t, :u, :d, :s, CAST(:c AS jsonb))",
            u=acme.traveler_id,
            d=dt.date.fromisoformat(day),
            s=total,
            c=json.dumps(categories),
        )
    reply = await commands.run(traveller(acme), "/spend 2026")
    assert reply.text.splitlines()[0].startswith("Your completed travel spend in 2026")
    assert "799.50 EUR on 3 trips" in reply.text
    assert "hotel" in reply.text and "280.00" in reply.text
    (chart,) = reply.attachments
    assert chart.mime_type == "image/png" and chart.content.startswith(b"\x89PNG")


async def test_history_written_elsewhere_is_summarised_as_past_trips(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    await insert(
        db,
        acme.tenant_id,
        "INSERT INTO user_travel_history (tenant_id, user_id, travel_date, destination, activities, total_spend) "
        "VALUES (:t, :u, '2026-04-02', 'Copenhagen', '[\"supplier audit\"]', 1234.50)",
        u=acme.traveler_id,
    )
    scripted_model.script(call("get_preferences"), say("You were in Copenhagen in April."))
    await conversation.handle_message(traveller(acme), "history", "Where did I travel lately?")
    (answer,) = [m["content"] for m in scripted_model.messages() if m["role"] == "tool"]
    assert "Copenhagen, 02 Apr 2026–02 Apr 2026, spent 1,234.50" in answer


async def test_preferences_written_elsewhere_are_policy_and_a_wrong_shape_is_reported_not_fatal(
    db: Database,
    commands: CommandRunner,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
) -> None:
    for key, value in (
        ("policy.hotel.max_nightly_rate", {"amount": 120, "currency": "EUR"}),
        ("policy.trip_budget", "about two thousand"),
    ):
        await insert(
            db,
            acme.tenant_id,
            "INSERT INTO tenant_preferences (tenant_id, preference_key, preference_value) "
            "VALUES (:t, :k, CAST(:v AS jsonb))",
            k=key,
            v=json.dumps(value),
        )
    shown = (await commands.run(traveller(acme, role="admin"), "/prefs")).text
    assert 'policy.hotel.max_nightly_rate: {"amount": "120.00", "currency": "EUR"}' in shown
    assert (
        'policy.trip_budget: "about two thousand" — expected the budget of one trip, e.g. '
        '{"amount":2500,"currency":"EUR"}; fix with /prefs set policy.trip_budget VALUE'
    ) in shown
    assert "cannot use" not in (await commands.run(traveller(acme), "/prefs")).text  # admins are told

    scripted_model.script(call("create_draft_itinerary", berlin_days()), say("Drafted."))
    reply = await conversation.handle_message(traveller(acme), "prefs", "Plan Berlin")
    (card,) = reply.cards
    hotel = next(item for day in card.days for item in day.items if item.kind == "hotel")
    assert any("120.00 EUR" in reason for reason in hotel.violations)  # the imported cap is the policy
