"""Delivering reminders: once to the console outbox, Slack or Telegram, never for a cancelled booking,
retried when the platform fails for a while, and recorded (not retried) when the traveller is unreachable.
The first job of a tenant's due reminders delivers them together and drops the other jobs from the queue.

The courier runs in-process against the real database; Slack and Telegram are fake HTTP servers that the
real slack_sdk and python-telegram-bot clients talk to.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from arq.connections import ArqRedis
from arq.constants import default_queue_name
from sqlalchemy import select, update

from bot.reminder_courier import ReminderCourier
from bot.reminder_delivery import ReminderChannels, SlackDirectMessages, TelegramChats
from bot.reminder_queue import enqueue_reminders, reminder_job_id
from storage.audit import OPERATOR, Actor
from storage.bookings import cancel_booking
from storage.console_outbox import console_messages
from storage.database import Database
from storage.identities import link_identity
from storage.models import Booking, BookingReminder
from storage.reminder_runs import ClaimedReminder
from tests.conftest import Company
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI
from tests.reminder_trips import (  # noqa: F401 - arq_redis_fixture is a fixture
    arq_redis_fixture,
    book_trip,
    deliveries,
    link_telegram,
    outbox_counts,
    unsent,
)

CHAT_ID = 424242


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def messages_for(due: list[BookingReminder]) -> int:
    """One message per trip and reminder time: the flight and the hotel of day 1 share theirs."""
    return len({r.due_at for r in due})


async def due_reminders(db: Database, company: Company) -> list[BookingReminder]:
    """A trip starting in three days, booked a month ago: its 7-day reminders are due now."""
    outcome = await book_trip(
        db, company, start=now().date() + dt.timedelta(days=3), now=now() - dt.timedelta(days=30)
    )
    due = [r for r in outcome.reminders if r.due_at <= now().replace(tzinfo=None)]
    assert len(due) == 3 and len(outcome.reminders) == 6  # flight, hotel, train: 7 days due, 1 day ahead
    return due


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as api:
        yield api


@pytest.fixture
def telegram_api(telegram: FakeTelegramAPI) -> Iterator[FakeTelegramAPI]:
    telegram.reset()
    yield telegram
    telegram.reset()


@pytest.fixture
async def telegram_chats(
    db: Database, acme: Company, telegram_api: FakeTelegramAPI
) -> AsyncIterator[TelegramChats]:
    """Acme's traveller linked from a Telegram chat, and the real Bot client pointed at the fake API."""
    await link_telegram(db, acme, chat_id=CHAT_ID)
    chats = TelegramChats(token=TOKEN, api_url=telegram_api.base_url)
    yield chats
    await chats.close()


async def test_due_reminders_reach_the_console_outbox_exactly_once(db: Database, acme: Company) -> None:
    due = await due_reminders(db, acme)
    courier = ReminderCourier(db=db, channels=ReminderChannels({}))

    first = await courier.deliver(tenant_id=acme.tenant_id, reminder_id=due[0].reminder_id)
    again = [await courier.deliver(tenant_id=acme.tenant_id, reminder_id=r.reminder_id) for r in due]

    # The first job delivered the trip's three due reminders; their own jobs find nothing left to do.
    assert first.outcome == "delivered"
    assert [d.outcome for d in again] == ["absent"] * 3
    counts = await outbox_counts(db, acme)
    assert sorted(counts.values()) == [1] * messages_for(due) == [1, 1]
    recorded = await deliveries(db, acme)
    assert {(d.outcome, d.channel, d.attempts) for d in recorded.values()} == {("delivered", "console", 1)}
    async with db.tenant(acme.tenant_id) as session:
        texts = [m.body for m in await console_messages(session, user_id=acme.traveler_id)]
    assert all(text.startswith("Trip reminder: Berlin") for text in texts)
    assert any("Flight: MUC → BER LH 1234, LH1234, MUC → BER, departs 07:00" in text for text in texts)
    assert any("Hotel: Motel One Berlin-Mitte" in text and "300.00 EUR" in text for text in texts)


async def test_two_runs_of_the_same_job_at_once_deliver_once(db: Database, acme: Company) -> None:
    due = await due_reminders(db, acme)
    reminder = due[0]
    courier = ReminderCourier(db=db, channels=ReminderChannels({}))

    results = await asyncio.gather(
        *(courier.deliver(tenant_id=acme.tenant_id, reminder_id=reminder.reminder_id) for _ in range(4))
    )

    assert sorted(d.outcome for d in results) == ["absent", "absent", "absent", "delivered"]
    assert sorted((await outbox_counts(db, acme)).values()) == [1] * messages_for(due)


async def test_a_reminder_of_a_cancelled_booking_is_never_sent(db: Database, acme: Company) -> None:
    flight, hotel, train = await due_reminders(db, acme)
    async with db.tenant(acme.tenant_id) as session:
        await cancel_booking(
            session, actor=Actor.user(acme.traveler_id), booking_id=flight.booking_id, user_id=None
        )
        # A cancellation that raced the reminder: the booking is cancelled but its row is still there.
        await session.execute(
            update(Booking).where(Booking.booking_id == hotel.booking_id).values(status="cancelled")
        )
    courier = ReminderCourier(db=db, channels=ReminderChannels({}))

    outcomes = [
        (await courier.deliver(tenant_id=acme.tenant_id, reminder_id=r.reminder_id)).outcome
        for r in (flight, hotel, train)
    ]

    # The hotel's job claims the hotel and the train: one is dropped, the other delivered with it.
    assert outcomes == ["absent", "cancelled", "absent"]
    assert await outbox_counts(db, acme) == {train.reminder_id: 1}
    async with db.tenant(acme.tenant_id) as session:
        left = (await session.scalars(select(BookingReminder.reminder_id))).all()
    assert flight.reminder_id not in left and hotel.reminder_id not in left


async def test_telegram_travellers_get_their_reminder_in_their_chat(
    db: Database, acme: Company, telegram_api: FakeTelegramAPI, telegram_chats: TelegramChats
) -> None:
    due = await due_reminders(db, acme)
    courier = ReminderCourier(db=db, channels=ReminderChannels({"telegram": telegram_chats}))
    outcomes = [
        (await courier.deliver(tenant_id=acme.tenant_id, reminder_id=r.reminder_id)).outcome for r in due
    ]
    outcomes += [
        (await courier.deliver(tenant_id=acme.tenant_id, reminder_id=r.reminder_id)).outcome for r in due
    ]

    assert outcomes == ["delivered"] + ["absent"] * 5
    texts = telegram_api.texts(CHAT_ID)
    assert len(texts) == messages_for(due) and all(t.startswith("Trip reminder: Berlin") for t in texts)
    # Each message carries the trip's buttons.
    for sent in telegram_api.calls_to("sendMessage", chat_id=CHAT_ID):
        rows = sent.params["reply_markup"]["inline_keyboard"]
        assert [row[0]["text"] for row in rows] == ["Snooze 1 day", "Mute this trip", "Show bookings"]
    assert await outbox_counts(db, acme) == {}
    assert {d.channel for d in (await deliveries(db, acme)).values()} == {"telegram"}


async def test_a_telegram_outage_is_retried_and_the_reminder_stays_unsent_until_it_works(
    db: Database, acme: Company, telegram_api: FakeTelegramAPI, telegram_chats: TelegramChats
) -> None:
    (reminder, *_) = await due_reminders(db, acme)
    courier = ReminderCourier(db=db, channels=ReminderChannels({"telegram": telegram_chats}), batch_size=1)
    telegram_api.fail_next("sendMessage", status=502, description="Bad Gateway")
    telegram_api.fail_next("sendMessage", status=429, retry_after=3)
    outage = await courier.deliver(tenant_id=acme.tenant_id, reminder_id=reminder.reminder_id)
    async with db.tenant(acme.tenant_id) as session:
        still_unsent = await session.get(BookingReminder, (acme.tenant_id, reminder.reminder_id))
        assert still_unsent is not None and still_unsent.sent is False
    flood = await courier.deliver(tenant_id=acme.tenant_id, reminder_id=reminder.reminder_id)
    works = await courier.deliver(tenant_id=acme.tenant_id, reminder_id=reminder.reminder_id)

    assert (outage.outcome, outage.retry_in) == ("retry", 5.0)
    assert (flood.outcome, flood.retry_in) == ("retry", 3.0)  # Telegram's own retry_after wins
    assert works.outcome == "delivered"
    assert len(telegram_api.texts(CHAT_ID)) == 1
    record = (await deliveries(db, acme))[reminder.reminder_id]
    assert (record.outcome, record.attempts) == ("delivered", 3)


async def test_a_blocked_bot_is_recorded_once_and_not_retried(
    db: Database, acme: Company, telegram_api: FakeTelegramAPI, telegram_chats: TelegramChats
) -> None:
    (reminder, *_) = await due_reminders(db, acme)
    courier = ReminderCourier(db=db, channels=ReminderChannels({"telegram": telegram_chats}), batch_size=1)
    telegram_api.fail_next("sendMessage", status=403, description="Forbidden: bot was blocked by the user")
    blocked = await courier.deliver(tenant_id=acme.tenant_id, reminder_id=reminder.reminder_id)
    later = await courier.deliver(tenant_id=acme.tenant_id, reminder_id=reminder.reminder_id)

    assert (blocked.outcome, blocked.retry_in, later.outcome) == ("failed", None, "absent")
    assert len(telegram_api.calls_to("sendMessage")) == 1
    record = (await deliveries(db, acme))[reminder.reminder_id]
    assert (record.outcome, record.last_error) == ("failed", "telegram:forbidden")


async def test_after_many_transient_failures_the_reminder_is_recorded_as_failed(
    db: Database, acme: Company, telegram_api: FakeTelegramAPI, telegram_chats: TelegramChats
) -> None:
    (reminder, *_) = await due_reminders(db, acme)
    courier = ReminderCourier(
        db=db, channels=ReminderChannels({"telegram": telegram_chats}), max_attempts=3, batch_size=1
    )
    telegram_api.fail_next("sendMessage", status=500, description="Internal Server Error", times=5)
    outcomes = [
        (await courier.deliver(tenant_id=acme.tenant_id, reminder_id=reminder.reminder_id)).outcome
        for _ in range(4)
    ]

    assert outcomes == ["retry", "retry", "failed", "absent"]
    record = (await deliveries(db, acme))[reminder.reminder_id]
    assert (
        record.outcome == "failed"
        and record.attempts == 3
        and "gave up after 3 tries" in (record.last_error or "")
    )


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as api:
        yield api


async def test_slack_travellers_get_a_direct_message_and_a_departed_user_is_not_retried(
    db: Database, acme: Company, slack: FakeSlack
) -> None:
    slack.reset()
    slack.add_workspace("T0ACME", "Acme")
    token = slack.issue_token("T0ACME")
    async with db.tenant(acme.tenant_id) as session:
        await link_identity(
            session,
            actor=OPERATOR,
            channel="slack",
            workspace_id="T0ACME",
            external_user_id="U0TRAVEL",
            user_id=acme.traveler_id,
            chat_id="U0TRAVEL",
        )
    first, second, _ = await due_reminders(db, acme)
    asked: list[tuple[uuid.UUID, str]] = []

    async def tokens(tenant_id: uuid.UUID, workspace: str) -> str | None:
        asked.append((tenant_id, workspace))
        return token

    dms = SlackDirectMessages(api_url=slack.base_url, tokens=tokens)
    courier = ReminderCourier(db=db, channels=ReminderChannels({"slack": dms}), batch_size=1)
    try:
        delivered = await courier.deliver(tenant_id=acme.tenant_id, reminder_id=first.reminder_id)
        slack.fail_next("chat.postMessage", error="user_not_found")
        gone = await courier.deliver(tenant_id=acme.tenant_id, reminder_id=second.reminder_id)
    finally:
        await dms.close()

    assert (delivered.outcome, gone.outcome) == ("delivered", "failed")
    (message,) = slack.in_channel("U0TRAVEL")
    assert message.text.startswith("Trip reminder: Berlin")
    assert asked == [(acme.tenant_id, "T0ACME")] * 2
    assert (await deliveries(db, acme))[second.reminder_id].last_error == "slack:user_not_found"


async def test_live_travel_information_joins_the_reminder_and_a_slow_provider_does_not_hold_it(
    db: Database, acme: Company
) -> None:
    first, second, _ = await due_reminders(db, acme)
    seen: list[str] = []

    async def weather(reminder: ClaimedReminder) -> str | None:
        seen.append(reminder.booking_type)
        if reminder.reminder_id == second.reminder_id:
            await asyncio.sleep(30)
        return f"Weather in {reminder.destinations[0]}: 4 °C, light rain."

    courier = ReminderCourier(
        db=db, channels=ReminderChannels({}), live_information=weather, live_deadline=0.5
    )

    await courier.deliver(tenant_id=acme.tenant_id, reminder_id=first.reminder_id)

    async with db.tenant(acme.tenant_id) as session:
        bodies = {m.reminder_id: m.body for m in await console_messages(session, user_id=acme.traveler_id)}
    # Flight and hotel share one message: the weather the flight's lookup found, said once; the hotel's slow
    # lookup held nothing up. The train's message has its own.
    assert len(bodies) == 2 and all(
        b.endswith("Weather in Berlin: 4 °C, light rain.") for b in bodies.values()
    )
    assert all(b.count("Weather") == 1 for b in bodies.values())
    assert len(seen) == 3


async def test_a_reminder_found_after_the_booked_day_is_recorded_as_expired_not_sent(
    db: Database, acme: Company
) -> None:
    # The worker was down for days: the trip began two days ago and its 7-day reminders were never sent.
    outcome = await book_trip(
        db, acme, start=now().date() - dt.timedelta(days=2), now=now() - dt.timedelta(days=30)
    )
    flight = outcome.reminders[0]
    courier = ReminderCourier(db=db, channels=ReminderChannels({}))

    assert (
        await courier.deliver(tenant_id=acme.tenant_id, reminder_id=flight.reminder_id)
    ).outcome == "expired"
    assert flight.reminder_id not in await outbox_counts(db, acme)
    assert (await deliveries(db, acme))[flight.reminder_id].outcome == "expired"


async def test_one_job_delivers_the_tenants_due_reminders_and_drops_their_queued_jobs(
    db: Database, acme: Company, globex: Company, arq_redis: ArqRedis
) -> None:
    ours, theirs = await due_reminders(db, acme), await due_reminders(db, globex)
    await enqueue_reminders(arq_redis, [*ours, *theirs])
    courier = ReminderCourier(db=db, channels=ReminderChannels({}), queue=arq_redis)

    delivered = await courier.deliver(tenant_id=acme.tenant_id, reminder_id=ours[0].reminder_id)

    assert delivered.outcome == "delivered"
    assert sorted((await outbox_counts(db, acme)).values()) == [1] * messages_for(ours)
    assert await outbox_counts(db, globex) == {}  # another company's reminders wait for their own job
    # The running job is arq's to finish; the two delivered with it leave the queue, Globex's stay.
    queued = {job.job_id for job in await arq_redis.queued_jobs()}
    assert queued == {reminder_job_id(r.reminder_id) for r in [ours[0], *theirs]}


async def test_a_failure_in_a_batch_retries_that_reminder_alone(
    db: Database,
    acme: Company,
    arq_redis: ArqRedis,
    telegram_api: FakeTelegramAPI,
    telegram_chats: TelegramChats,
) -> None:
    due = await due_reminders(db, acme)
    await enqueue_reminders(arq_redis, due)
    courier = ReminderCourier(db=db, channels=ReminderChannels({"telegram": telegram_chats}), queue=arq_redis)
    telegram_api.fail_next("sendMessage", status=502, description="Bad Gateway")
    before = dt.datetime.now(dt.UTC)

    await courier.deliver(tenant_id=acme.tenant_id, reminder_id=due[0].reminder_id)

    # Two messages (day 1's flight and hotel together, the train alone): one failed, the other arrived.
    assert len(telegram_api.texts(CHAT_ID)) == 1
    waiting = [r for r in await unsent(db, acme) if r.reminder_id in {d.reminder_id for d in due}]
    assert len(waiting) in (1, 2) and len({r.reminder_date for r in waiting}) == 1
    for reminder in waiting:
        record = (await deliveries(db, acme))[reminder.reminder_id]
        assert (record.outcome, record.attempts, record.last_error) == (
            "retrying",
            1,
            "telegram:NetworkError",
        )
        if reminder.reminder_id != due[0].reminder_id:  # another's failure: queued again after the backoff
            score = await arq_redis.zscore(default_queue_name, reminder_job_id(reminder.reminder_id))
            assert score is not None and score >= (before + dt.timedelta(seconds=5)).timestamp() * 1000 - 1


async def test_a_batch_that_runs_out_of_time_hands_the_rest_back_unsent(
    db: Database, acme: Company, arq_redis: ArqRedis
) -> None:
    due = await due_reminders(db, acme)
    courier = ReminderCourier(db=db, channels=ReminderChannels({}), queue=arq_redis, batch_seconds=0)

    run = await courier.deliver(tenant_id=acme.tenant_id, reminder_id=due[0].reminder_id)

    assert (run.outcome, run.retry_in) == ("retry", 0.0)
    assert len(await unsent(db, acme)) == 6 and await deliveries(db, acme) == {}
    queued = {job.job_id for job in await arq_redis.queued_jobs()}
    assert queued == {reminder_job_id(r.reminder_id) for r in due[1:]}
