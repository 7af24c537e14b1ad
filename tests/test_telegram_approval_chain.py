"""The approval chain on Telegram: the manager, then finance, each asked with an inline Approve / Reject.

A press decides once; a double click or a stale button answers with a sentence and changes nothing; the
pressed message is edited to the decision; the traveller is told of each outcome in their chat; a step
past the timeout goes to the admins; /audit shows every step.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from agent.approval_steps import ASKED
from bot.approval_escalation import escalate_every_company
from bot.reminder_delivery import ReminderChannels, TelegramChats
from storage.audit import Actor
from storage.database import Database
from storage.identities import link_identity
from storage.models import Booking
from tests.conftest import Company
from tests.fakes.scripted_model import say
from tests.fakes.telegram_api import TOKEN, BotCall, TelegramUser
from tests.test_approval_chain import CHAIN, colleague
from tests.test_policy_scenarios import set_policy
from tests.test_telegram_booking import ask_for_confirmation, button
from tests.test_telegram_harness import ALEX, ROBIN, TelegramBot, telegram, telegram_api

__all__ = ["telegram", "telegram_api"]  # fixtures used by name

MARTA = TelegramUser(444_555_666, "Marta")  # Alex's manager
CARL = TelegramUser(222_333_444, "Carl")  # finance


@pytest.fixture
async def chain(telegram: TelegramBot, acme: Company) -> TelegramBot:
    """Acme with the chain of the console tests, everyone linked on Telegram, Marta named Alex's manager."""
    db = telegram.db
    await set_policy(db, acme, CHAIN)
    await telegram.link(acme, ALEX)
    await telegram.link(acme, ROBIN, admin=True)
    for name, person in (("manager", MARTA), ("cfo", CARL)):
        user = await colleague(db, acme, name)
        async with db.tenant(acme.tenant_id) as session:
            await link_identity(
                session,
                actor=Actor.user(acme.admin_id),
                channel="telegram",
                workspace_id="",
                external_user_id=str(person.id),
                user_id=user.user_id,
                chat_id=str(person.id),
            )
    await telegram.deliver(
        telegram.updates.message(ROBIN, "/approvals manager traveller@acme.test manager@acme.test")
    )
    assert telegram.api.texts(ROBIN.id)[-1] == "Manager now approves the trips of Acme Traveller first."
    return telegram


async def book_for_later(telegram: TelegramBot, acme: Company) -> str:
    """Alex books a Berlin trip over the cap (708.90 EUR: finance too) now; returns its short id."""
    asked = await ask_for_confirmation(telegram, acme, chat_id=ALEX.id, hotel_rate=190)
    telegram.model.script(say("Booked; your manager approves it later."))
    await telegram.deliver(telegram.updates.press(ALEX, asked, button(asked, "Confirm")))
    assert await statuses(telegram.db, acme) == {"confirmed"}
    async with telegram.db.tenant(acme.tenant_id) as session:
        return str((await session.scalars(select(Booking.itinerary_id))).first())


def requests_to(telegram: TelegramBot, person: TelegramUser) -> list[BotCall]:
    return [
        c
        for c in telegram.api.calls_to("sendMessage", chat_id=person.id)
        if "waits for approval" in str(c.params.get("text"))
    ]


def chain_button(message: BotCall, label: str) -> str:
    (data,) = [
        b["callback_data"] for b in message.params["reply_markup"]["inline_keyboard"][0] if label in b["text"]
    ]
    return str(data)


async def press(telegram: TelegramBot, person: TelegramUser, message: BotCall, label: str) -> Any:
    """Press a button; returns the alert or toast the presser saw."""
    await telegram.deliver(telegram.updates.press(person, message, chain_button(message, label)))
    return telegram.api.calls_to("answerCallbackQuery")[-1].params.get("text")


def told(telegram: TelegramBot) -> list[str]:
    return [t for t in telegram.api.texts(ALEX.id) if t.startswith("Your trip")]


async def statuses(db: Database, company: Company) -> set[str | None]:
    async with db.tenant(company.tenant_id) as session:
        return {b.status for b in (await session.scalars(select(Booking))).all()}


async def audit_log(telegram: TelegramBot) -> str:
    await telegram.deliver(telegram.updates.message(ROBIN, "/audit 12"))
    return telegram.api.texts(ROBIN.id)[-1]


async def test_manager_then_finance_approve_once_each_and_alex_hears_each_outcome(
    chain: TelegramBot, acme: Company
) -> None:
    itinerary = await book_for_later(chain, acme)
    trip = itinerary[:8]
    (ask,) = requests_to(chain, MARTA)
    assert "Acme Traveller's trip of" in ask.params["text"] and f"({trip})" in ask.params["text"]
    assert "this stay is 190.00 EUR a night, 80.00 EUR above" in ask.params["text"]
    assert requests_to(chain, CARL) == [] and requests_to(chain, ROBIN) == []

    assert (await press(chain, ALEX, ask, "Approve")).startswith("This trip is no longer waiting")
    assert await press(chain, MARTA, ask, "Approve") == f"Trip {trip} approved; finance approves next."
    (edited,) = chain.api.calls_to("editMessageText", chat_id=MARTA.id)
    assert edited.params["text"].endswith(
        "Approved by Manager (the traveller's manager); finance approves next."
    )
    assert "nothing changed" in await press(chain, MARTA, ask, "Approve")  # a double click

    (finance,) = requests_to(chain, CARL)
    assert await press(chain, CARL, finance, "Approve") == f"Trip {trip} approved."
    assert "nothing changed" in await press(chain, CARL, finance, "Reject")  # stale after the decision
    assert await statuses(chain.db, acme) == {"confirmed"}
    start = told(chain)[0].split(" (")[0].removeprefix("Your trip of ")
    assert told(chain) == [
        f"Your trip of {start} ({trip}) was approved by the traveller's manager; finance approves next.",
        f"Your trip of {start} ({trip}) is approved.",
    ]
    log = await audit_log(chain)
    assert f"policy.approve itinerary {itinerary} (manager step; finance next)" in log
    assert f"policy.approve itinerary {itinerary} (finance step)" in log


@pytest.mark.parametrize("step", ["manager", "finance"])
async def test_a_rejection_at_either_step_cancels_the_trip_and_alex_is_told(
    step: str, chain: TelegramBot, acme: Company
) -> None:
    itinerary = await book_for_later(chain, acme)
    (ask,) = requests_to(chain, MARTA)
    who = MARTA
    if step == "finance":
        await press(chain, MARTA, ask, "Approve")
        (ask,), who = requests_to(chain, CARL), CARL
    assert await press(chain, who, ask, "Reject") == f"Trip {itinerary[:8]} rejected and cancelled."
    assert await statuses(chain.db, acme) == {"cancelled"}
    assert told(chain)[-1].endswith(f"was rejected by {ASKED[step]} and is cancelled.")
    assert f"policy.reject itinerary {itinerary} ({step} step)" in await audit_log(chain)


async def test_a_step_past_the_timeout_goes_to_the_admin_and_the_managers_button_goes_stale(
    chain: TelegramBot, acme: Company, worker_db: Database
) -> None:
    itinerary = await book_for_later(chain, acme)
    (manager_ask,) = requests_to(chain, MARTA)
    now = dt.datetime.now(dt.UTC)
    later = now + dt.timedelta(hours=25)
    channels = ReminderChannels({"telegram": TelegramChats(token=TOKEN, api_url=chain.api.base_url)})
    try:  # the worker's cron, with the worker's database role and its own Telegram client
        assert await escalate_every_company(worker_db, channels, now=now) == 0
        assert await escalate_every_company(worker_db, channels, now=later) == 1
        assert await escalate_every_company(worker_db, channels, now=later) == 0
    finally:
        await channels.close()
    assert told(chain)[-1].endswith(
        "waited past the timeout for the traveller's manager; an admin may answer it now."
    )
    (escalated,) = requests_to(chain, ROBIN)
    assert "escalated after the timeout" in escalated.params["text"]

    chain.product.extras["telegram_approvals"].clock = lambda: later  # the fake clock of the presses
    assert "finance approves next" in await press(chain, ROBIN, escalated, "Approve")
    assert "nothing changed" in await press(chain, MARTA, manager_ask, "Approve")  # moved on to finance
    assert len(requests_to(chain, CARL)) == 1
    log = await audit_log(chain)
    assert f"policy.escalate itinerary {itinerary} (manager step, escalated after the timeout)" in log
    assert "(manager step, escalated after the timeout; finance next)" in log
