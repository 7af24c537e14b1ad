"""A trip's reminder: one message per reminder time listing its bookings, with Snooze 1 day, Mute and Show."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, select

from bot.reminder_courier import ReminderCourier
from bot.reminder_delivery import ReminderChannels, SlackDirectMessages, TelegramChats
from storage.database import Database
from storage.identities import resolve_identity
from storage.models import BookingReminder
from storage.reminder_runs import TripReminderControl
from tests.conftest import Company
from tests.fakes.slack_api import ACME, TRAVELLER, FakeSlack, SlackHarness
from tests.fakes.telegram_api import TOKEN, BotCall
from tests.reminder_trips import book_trip
from tests.test_telegram_harness import ALEX, TelegramBot, telegram, telegram_api

__all__ = ["telegram", "telegram_api"]  # fixtures used by name

LABELS = ["Snooze 1 day", "Mute this trip", "Show bookings"]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def pending_reminders(db: Database, company: Company) -> int:
    async with db.tenant(company.tenant_id) as session:
        return (
            await session.scalar(
                select(func.count()).select_from(BookingReminder).where(BookingReminder.sent.is_(False))
            )
            or 0
        )


async def muted(db: Database, company: Company) -> bool:
    async with db.tenant(company.tenant_id) as session:
        return bool(await session.scalar(select(TripReminderControl.muted)))


async def test_telegram_one_message_per_trip_and_time_with_buttons_that_act_once(
    telegram: TelegramBot, acme: Company
) -> None:
    await telegram.link(acme, ALEX)
    # A trip in three days booked a month ago: the flight's, hotel's and train's 7-day reminders are due.
    await book_trip(
        telegram.db, acme, start=now().date() + dt.timedelta(days=3), now=now() - dt.timedelta(days=30)
    )
    async with telegram.db.tenant(acme.tenant_id) as session:
        due = (await session.scalars(select(BookingReminder).where(BookingReminder.sent.is_(False)))).all()
    chats = TelegramChats(token=TOKEN, api_url=telegram.api.base_url)
    courier = ReminderCourier(db=telegram.db, channels=ReminderChannels({"telegram": chats}))
    try:
        for reminder in due:
            await courier.deliver(tenant_id=acme.tenant_id, reminder_id=reminder.reminder_id)
    finally:
        await chats.close()

    sent = telegram.api.calls_to("sendMessage", chat_id=ALEX.id)
    # Day 1's flight and hotel share a message; the train of day 3 has its own.
    assert len(sent) == 2
    together = next(c for c in sent if "Flight" in c.params["text"])
    assert "Hotel" in together.params["text"] and together.params["text"].count("• ") == 2
    assert all("unavailable" not in c.params["text"].lower() for c in sent)
    assert [row[0]["text"] for row in together.params["reply_markup"]["inline_keyboard"]] == LABELS

    before = await pending_reminders(telegram.db, acme)
    await telegram.deliver(telegram.updates.press(ALEX, together, press_data(together, "Snooze 1 day")))
    after_snooze = await pending_reminders(telegram.db, acme)
    await telegram.deliver(telegram.updates.press(ALEX, together, press_data(together, "Snooze 1 day")))
    assert after_snooze > before, "the snooze scheduled the trip's reminders again, a day from now"
    assert await pending_reminders(telegram.db, acme) == after_snooze, "a double press acts once"
    said = telegram.api.texts(ALEX.id)
    assert said[-2].startswith("Snoozed: this trip's reminders come again on ")
    assert said[-1].startswith("Already done")

    await telegram.deliver(telegram.updates.press(ALEX, together, press_data(together, "Mute this trip")))
    assert await muted(telegram.db, acme)
    await telegram.deliver(telegram.updates.press(ALEX, together, press_data(together, "Show bookings")))
    assert "Bookings of this trip:" in telegram.api.texts(ALEX.id)[-1]


def press_data(message: BotCall, label: str) -> str:
    rows = message.params["reply_markup"]["inline_keyboard"]
    return str(next(row[0]["callback_data"] for row in rows if row[0]["text"] == label))


async def test_slack_reminder_buttons_snooze_once_and_mute(
    acme_on_slack: SlackHarness, db: Database, fake_slack: FakeSlack
) -> None:
    await acme_on_slack.send.dm(ACME, TRAVELLER, "")  # introduces the traveller to the app (and links them)
    await acme_on_slack.settle()
    identity = await resolve_identity(db, channel="slack", workspace_id=ACME, external_user_id=TRAVELLER)
    assert identity is not None
    company = Company(identity.tenant_id, identity.user_id, identity.user_id, "Acme")
    await book_trip(db, company, start=now().date() + dt.timedelta(days=3), now=now() - dt.timedelta(days=30))
    async with db.tenant(company.tenant_id) as session:
        due = (await session.scalars(select(BookingReminder).where(BookingReminder.sent.is_(False)))).all()
    token = fake_slack.issue_token(ACME)

    async def tokens(_tenant: object, _workspace: str) -> str:
        return token

    dms = SlackDirectMessages(api_url=fake_slack.base_url, tokens=tokens)
    try:
        courier = ReminderCourier(db=db, channels=ReminderChannels({"slack": dms}))
        await courier.deliver(tenant_id=company.tenant_id, reminder_id=due[0].reminder_id)
    finally:
        await dms.close()

    reminders = [m for m in fake_slack.in_channel(TRAVELLER) if m.text.startswith("Trip reminder")]
    assert len(reminders) == 2
    together = next(m for m in reminders if "Flight" in m.text)
    assert [b["text"]["text"] for b in together.buttons()] == LABELS
    snooze = next(b for b in together.buttons() if b["text"]["text"] == "Snooze 1 day")
    assert json.loads(json.dumps(snooze))["action_id"] == "reminder_snooze"

    before = await pending_reminders(db, company)
    await acme_on_slack.send.action(ACME, TRAVELLER, together, snooze)
    await acme_on_slack.settle()
    once = await pending_reminders(db, company)
    await acme_on_slack.send.action(ACME, TRAVELLER, together, snooze)
    await acme_on_slack.settle()
    assert once > before and await pending_reminders(db, company) == once
    replies = [m.text for m in fake_slack.thread(TRAVELLER, together.ts)]
    assert replies[0].startswith("Snoozed: ") and replies[1].startswith("Already done")

    mute = next(b for b in together.buttons() if b["text"]["text"] == "Mute this trip")
    await acme_on_slack.send.action(ACME, TRAVELLER, together, mute)
    await acme_on_slack.settle()
    assert await muted(db, company)
