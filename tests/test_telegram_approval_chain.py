"""The approval chain on Telegram: the manager, then finance, each asked with an inline Approve / Reject.

The company either books the trip when the traveller confirms and has it approved afterwards ("later"), or
holds it as a draft until the last approver says yes ("held"): the traveller's button then reads "Send for
approval" and the trip is booked by the last approval. A press decides once; a double click or a stale
button answers with a sentence and changes nothing; every request of the answered step (the pressed one and
the other approvers') is rewritten to the decision; the traveller is told of each outcome in their chat; a
step past the timeout goes to the admins; /audit shows every step.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import pytest
from sqlalchemy import select

from agent.approval_steps import ASKED, STALE
from bot.approval_escalation import escalate_every_company
from bot.reminder_delivery import ReminderChannels, TelegramChats
from bot.telegram.approval_requests import CLOSED
from storage.audit import OPERATOR
from storage.database import Database
from storage.models import Booking, Itinerary
from storage.tenants import add_user
from tests.conftest import Company
from tests.fakes.scripted_model import call, say
from tests.fakes.telegram_api import TOKEN, BotCall, TelegramUser
from tests.test_approval_chain import MODES, booked_before_approval, chain_for, colleague, requested
from tests.test_policy_scenarios import set_policy
from tests.test_telegram_booking import ask_for_confirmation, button, itinerary_id, trip
from tests.test_telegram_harness import ALEX, ROBIN, TelegramBot, telegram, telegram_api

__all__ = ["telegram", "telegram_api"]  # fixtures used by name

MARTA = TelegramUser(444_555_666, "Marta")  # Alex's manager
CARL = TelegramUser(222_333_444, "Carl")  # finance
SAM = TelegramUser(333_444_555, "Sam")  # a second admin, asked with Robin once a step escalates
# The traveller's button: confirm and book now, or send the trip to its approvers.
CONFIRM = {"later": "✅ Confirm", "held": "✅ Send for approval"}
# 190 EUR a night for the Berlin trip: 708.90 EUR in all, over the 300 EUR threshold, so finance approves too.
BOOKED = "Booked: 3 items, 708.90 EUR; reminders on "


@pytest.fixture
async def chain(telegram: TelegramBot, acme: Company, mode: str) -> TelegramBot:
    """Acme with the chain of the console tests in `mode`, everyone linked on Telegram, Marta named Alex's
    manager."""
    db = telegram.db
    await set_policy(db, acme, chain_for(mode))
    await telegram.link(acme, ALEX)
    await telegram.link(acme, ROBIN, admin=True)
    for name, person in (("manager", MARTA), ("cfo", CARL)):
        await telegram.link(acme, person, user_id=(await colleague(db, acme, name)).user_id)
    async with db.tenant(acme.tenant_id) as session:
        sam = await add_user(session, actor=OPERATOR, display_name="Sam", email="sam@acme.test", role="admin")
    await telegram.link(acme, SAM, user_id=sam.user_id)
    await telegram.deliver(
        telegram.updates.message(ROBIN, "/approvals manager traveller@acme.test manager@acme.test")
    )
    assert telegram.api.texts(ROBIN.id)[-1] == "Manager now approves the trips of Acme Traveller first."
    return telegram


async def confirm_trip(telegram: TelegramBot, acme: Company, mode: str) -> str:
    """Alex asks to book the Berlin trip over the cap and presses the request's first button: booked now, or
    held as a draft until approved. Returns the itinerary id."""
    asked = await ask_for_confirmation(telegram, acme, chat_id=ALEX.id, hotel_rate=190, confirm=CONFIRM[mode])
    telegram.model.script(say("Done; your manager is asked now."))
    await telegram.deliver(telegram.updates.press(ALEX, asked, button(asked, CONFIRM[mode])))
    assert await statuses(telegram.db, acme) == booked_before_approval(mode)
    return await itinerary_id(telegram.db, acme)


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


def shown(telegram: TelegramBot, person: TelegramUser, message: BotCall) -> tuple[str | None, Any]:
    """What a request message shows now in the person's chat: its rewritten text (None while unchanged)
    and its keyboard (None once removed)."""
    key = (person.id, message.result["message_id"])
    return telegram.api.edited_text(*key), telegram.api.keyboard_of(*key)


def decided(outcome: str) -> str:
    """How a rewritten request states its decision."""
    return f"<b>{outcome}</b>"


def told(telegram: TelegramBot) -> list[str]:
    return [t for t in telegram.api.texts(ALEX.id) if t.startswith("Your trip")]


async def statuses(db: Database, company: Company) -> set[str | None]:
    async with db.tenant(company.tenant_id) as session:
        return {b.status for b in (await session.scalars(select(Booking))).all()}


async def audit_log(telegram: TelegramBot) -> str:
    before = len(telegram.api.texts(ROBIN.id))
    await telegram.deliver(telegram.updates.message(ROBIN, "/audit 30"))
    return "\n".join(telegram.api.texts(ROBIN.id)[before:])


@pytest.mark.parametrize("mode", MODES)
async def test_manager_then_finance_approve_once_each_and_alex_hears_each_outcome(
    mode: str, chain: TelegramBot, acme: Company
) -> None:
    itinerary = await confirm_trip(chain, acme, mode)
    trip = itinerary[:8]
    (ask,) = requests_to(chain, MARTA)
    assert "Acme Traveller's trip of" in ask.params["text"] and f"({trip})" in ask.params["text"]
    state = (
        "was booked and waits for approval" if mode == "later" else "waits for approval before it is booked"
    )
    assert f"{state} (asked: the traveller's manager)" in ask.params["text"]
    assert "this stay is 190.00 EUR a night, 80.00 EUR above" in ask.params["text"]
    assert requests_to(chain, CARL) == [] and requests_to(chain, ROBIN) == []

    assert (await press(chain, ALEX, ask, "Approve")).startswith("This trip is no longer waiting")
    assert shown(chain, MARTA, ask) == (None, ask.params["reply_markup"])  # a stranger's press: untouched
    assert await press(chain, MARTA, ask, "Approve") == f"Trip {trip} approved; finance approves next."
    text, keyboard = shown(chain, MARTA, ask)
    assert keyboard is None and text is not None
    assert text.endswith(decided("✅ Approved by Manager (the traveller's manager); finance approves next."))
    assert ("(confirmed)" if mode == "later" else "(draft)") in text
    assert "nothing changed" in await press(chain, MARTA, ask, "Approve")  # a double click
    assert await statuses(chain.db, acme) == booked_before_approval(mode)

    (finance,) = requests_to(chain, CARL)
    last = await press(chain, CARL, finance, "Approve")
    if mode == "later":
        assert last == f"Trip {trip} approved."
    else:  # the last approval books the held trip for Alex
        assert last.startswith(f"Trip {trip} approved and booked for the traveller. {BOOKED}")
    text, keyboard = shown(chain, CARL, finance)
    assert keyboard is None and text is not None and "(confirmed)" in text
    then = "." if mode == "later" else "; booked for the traveller."
    assert text.endswith(decided(f"✅ Approved by Cfo (finance){then}"))
    assert "nothing changed" in await press(chain, CARL, finance, "Reject")  # stale after the decision
    assert await statuses(chain.db, acme) == {"confirmed"}

    start = told(chain)[0].split(" (")[0].removeprefix("Your trip of ")
    approved, finally_ = told(chain)
    assert approved == (
        f"Your trip of {start} ({trip}) was approved by the traveller's manager; finance approves next."
    )
    if mode == "later":
        assert finally_ == f"Your trip of {start} ({trip}) is approved."
    else:
        assert finally_.startswith(f"Your trip of {start} ({trip}) is approved and booked. {BOOKED}")
    log = await audit_log(chain)
    assert f"{requested(mode)} itinerary {itinerary} (1 reason out of policy)" in log
    assert f"policy.approve itinerary {itinerary} (manager step; finance next)" in log
    assert f"policy.approve itinerary {itinerary} (finance step)" in log


@pytest.mark.parametrize("step", ["manager", "finance"])
@pytest.mark.parametrize("mode", MODES)
async def test_a_rejection_at_either_step_ends_the_chain_and_alex_is_told(
    mode: str, step: str, chain: TelegramBot, acme: Company
) -> None:
    itinerary = await confirm_trip(chain, acme, mode)
    trip = itinerary[:8]
    (ask,) = requests_to(chain, MARTA)
    who = MARTA
    if step == "finance":
        await press(chain, MARTA, ask, "Approve")
        (ask,), who = requests_to(chain, CARL), CARL
    rejected = await press(chain, who, ask, "Reject")
    text, keyboard = shown(chain, who, ask)
    assert keyboard is None and text is not None and "✖️ Rejected by" in text
    assert "nothing changed" in await press(chain, who, ask, "Approve")  # a second press after the answer
    if mode == "later":  # booked already: the rejection cancels it
        assert rejected == f"Trip {trip} rejected and cancelled."
        assert await statuses(chain.db, acme) == {"cancelled"}
        assert told(chain)[-1].endswith(f"({trip}) was rejected by {ASKED[step]} and is cancelled.")
    else:  # nothing was booked, and the draft is Alex's to change and send again
        assert rejected == f"Trip {trip} rejected; nothing was booked."
        assert await statuses(chain.db, acme) == set()
        async with chain.db.tenant(acme.tenant_id) as session:
            assert await session.scalar(select(Itinerary.status)) == "draft"
        assert told(chain)[-1].endswith(
            f"({trip}) was rejected by {ASKED[step]}; nothing was booked. "
            "The draft is kept: change it and ask me to book it again."
        )
    assert f"policy.reject itinerary {itinerary} ({step} step)" in await audit_log(chain)


@pytest.mark.parametrize("mode", MODES)
async def test_a_step_past_the_timeout_goes_to_the_admins_and_one_answer_settles_every_request(
    mode: str, chain: TelegramBot, acme: Company, worker_db: Database
) -> None:
    itinerary = await confirm_trip(chain, acme, mode)
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
    (to_sam,) = requests_to(chain, SAM)
    assert "escalated after the timeout" in escalated.params["text"]
    assert to_sam.params["text"] == escalated.params["text"]
    assert len(requests_to(chain, MARTA)) == 1  # Marta's request still stands; she is not asked twice

    chain.product.extras["telegram_approvals"].clock = lambda: later  # the fake clock of the presses
    # Robin and Sam press Approve at the same moment: one answer counts, the other is told it came too late.
    presses: dict[str, TelegramUser] = {}
    for person, message in ((ROBIN, escalated), (SAM, to_sam)):
        update = chain.updates.press(person, message, chain_button(message, "Approve"))
        presses[update["callback_query"]["id"]] = person
        assert (await chain.post(update)).status_code == 200
    await chain.settle()
    toasts = {
        presses[c.params["callback_query_id"]].first_name: c.params.get("text")
        for c in chain.api.calls_to("answerCallbackQuery")
        if c.params["callback_query_id"] in presses
    }
    assert sorted(toasts.values()) == [STALE, f"Trip {itinerary[:8]} approved; finance approves next."]
    winner = "Acme Admin" if toasts["Robin"] != STALE else "Sam"
    # The answer shows on every request of the step: Robin's, Sam's and Marta's, none with buttons left.
    line = decided(f"✅ Approved by {winner} (the traveller's manager); finance approves next.")
    for person, message in ((ROBIN, escalated), (SAM, to_sam), (MARTA, manager_ask)):
        text, keyboard = shown(chain, person, message)
        assert keyboard is None and text is not None and text.endswith(line), person.first_name
    assert "nothing changed" in await press(chain, MARTA, manager_ask, "Approve")  # moved on to finance
    assert "nothing changed" in await press(chain, SAM, to_sam, "Reject")
    assert len(requests_to(chain, CARL)) == 1
    assert await statuses(chain.db, acme) == booked_before_approval(mode)
    assert told(chain)[-1].endswith("was approved by the traveller's manager; finance approves next.")
    log = await audit_log(chain)
    assert f"policy.escalate itinerary {itinerary} (manager step, escalated after the timeout)" in log
    assert "(manager step, escalated after the timeout; finance next)" in log


@pytest.mark.parametrize("mode", ["held"])
async def test_a_trip_that_needs_approval_is_sent_for_it_and_alex_reads_what_happens(
    mode: str, chain: TelegramBot, acme: Company
) -> None:
    asked = await ask_for_confirmation(chain, acme, chat_id=ALEX.id, hotel_rate=190, confirm=CONFIRM[mode])
    request = asked.params["text"]
    assert "<b>Out of policy:</b>" in request and "justification" not in request
    assert (
        "<i>It goes to your manager, then your company's finance approvers for approval and is "
        "booked once approved; nothing is booked until then.</i>" in request
    )
    assert request.endswith("<b>Send this trip for approval?</b>") and "Book this trip?" not in request

    chain.model.script(say("Sent; I'll tell you what your manager says."))
    await chain.deliver(chain.updates.press(ALEX, asked, button(asked, "Send for approval")))
    assert chain.api.calls_to("answerCallbackQuery")[-1].params.get("text") == "Sending for approval…"
    assert await statuses(chain.db, acme) == set()
    text, keyboard = shown(chain, ALEX, asked)
    assert keyboard is None and text is not None and "Send this trip for approval?" not in text
    assert (
        re.search(r"<b>⏳ Sent for approval by Acme Traveller at \d\d:\d\d</b>", text) and "(draft)" in text
    )
    assert chain.api.texts(ALEX.id)[-2:] == [
        "Sent for approval to your manager; nothing is booked until the last approver says yes, and you will "
        "be told each answer.",
        "Sent; I'll tell you what your manager says.",
    ]
    assert len(requests_to(chain, MARTA)) == 1


@pytest.mark.parametrize("mode", ["held"])
async def test_a_held_trip_blocked_before_its_last_approval_is_not_booked_and_everyone_reads_why(
    mode: str, chain: TelegramBot, acme: Company
) -> None:
    itinerary = await confirm_trip(chain, acme, mode)
    trip = itinerary[:8]
    (ask,) = requests_to(chain, MARTA)
    await press(chain, MARTA, ask, "Approve")
    await chain.deliver(chain.updates.message(ROBIN, '/prefs set policy.actions {"hotel_cap": "block"}'))
    (finance,) = requests_to(chain, CARL)

    toast = await press(chain, CARL, finance, "Approve")  # the reason is long: Telegram takes 200 characters
    assert toast.startswith(f"Trip {trip} approved, but it could not be booked: ") and toast.endswith("…")
    assert await statuses(chain.db, acme) == set()
    text, keyboard = shown(chain, CARL, finance)
    assert keyboard is None and text is not None and "(draft)" in text
    refusal = html.unescape(text).split("\n")[-1]  # in full on the message
    assert refusal.startswith("<b>✅ Approved by Cfo (finance); it could not be booked: This trip cannot be")
    assert toast.removesuffix("…").split("could not be booked: ")[1] in refusal
    assert refusal.endswith("for 2 nights).</b>")
    assert told(chain)[-1].startswith(
        f"Your trip of {told(chain)[0].split(' (')[0].removeprefix('Your trip of ')} ({trip}) was approved, "
        "but it could not be booked: This trip cannot be booked under the company's policy"
    )


@pytest.mark.parametrize("mode", ["held"])
async def test_a_rejected_draft_sent_again_goes_to_the_manager_afresh(
    mode: str, chain: TelegramBot, acme: Company
) -> None:
    itinerary = await confirm_trip(chain, acme, mode)
    (first,) = requests_to(chain, MARTA)
    await press(chain, MARTA, first, "Reject")

    chain.model.script(call("confirm_booking", itinerary_id=itinerary))
    await chain.deliver(chain.updates.message(ALEX, "The client pays the difference; send it again"))
    again = [
        c
        for c in chain.api.calls_to("sendMessage", chat_id=ALEX.id)
        if "inline_keyboard" in (c.params.get("reply_markup") or {})
    ][-1]
    chain.model.script(say("Sent again."))
    await chain.deliver(chain.updates.press(ALEX, again, button(again, "Send for approval")))
    assert await statuses(chain.db, acme) == set()
    old, new = requests_to(chain, MARTA)
    assert old == first and shown(chain, MARTA, new) == (None, new.params["reply_markup"])
    assert (
        await press(chain, MARTA, new, "Approve") == f"Trip {itinerary[:8]} approved; finance approves next."
    )
    assert "✖️ Rejected by Manager" in str(shown(chain, MARTA, first)[0])  # the first answer stays as it was


@pytest.mark.parametrize("mode", ["held"])
async def test_an_answer_telegram_no_longer_lets_us_acknowledge_still_reaches_everyone(
    mode: str, chain: TelegramBot, acme: Company
) -> None:
    itinerary = await confirm_trip(chain, acme, mode)
    (ask,) = requests_to(chain, MARTA)
    chain.api.fail_next(
        "answerCallbackQuery",
        status=400,
        description="Bad Request: query is too old and response timeout expired or query ID is invalid",
    )
    await chain.deliver(chain.updates.press(MARTA, ask, chain_button(ask, "Approve")))
    text, keyboard = shown(chain, MARTA, ask)
    assert keyboard is None and str(text).endswith(
        decided("✅ Approved by Manager (the traveller's manager); finance approves next.")
    )
    assert told(chain)[-1].endswith(
        f"({itinerary[:8]}) was approved by the traveller's manager; finance approves next."
    )
    assert len(requests_to(chain, CARL)) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_an_answer_typed_as_a_command_shows_on_telegram_as_a_press_does(
    mode: str, chain: TelegramBot, acme: Company
) -> None:
    itinerary = await confirm_trip(chain, acme, mode)
    trip = itinerary[:8]
    (ask,) = requests_to(chain, MARTA)
    await chain.deliver(chain.updates.message(MARTA, f"/approvals approve {trip}"))
    assert chain.api.texts(MARTA.id)[-1] == f"Trip {trip} approved; finance approves next."
    text, keyboard = shown(chain, MARTA, ask)  # her request shows the answer, without buttons
    assert keyboard is None and text is not None
    assert decided("✅ Approved by Manager (the traveller's manager); finance approves next.") in text
    assert told(chain)[-1].endswith("was approved by the traveller's manager; finance approves next.")
    (finance,) = requests_to(chain, CARL)  # asked at once, with buttons
    assert (await press(chain, CARL, finance, "Approve")) is not None
    assert await statuses(chain.db, acme) == {"confirmed"}


@pytest.mark.parametrize("mode", ["held"])
async def test_a_held_draft_the_traveller_changes_retires_the_managers_request_at_the_workers_next_run(
    mode: str, chain: TelegramBot, acme: Company, worker_db: Database
) -> None:
    itinerary = await confirm_trip(chain, acme, mode)
    (first,) = requests_to(chain, MARTA)
    cheaper = trip(hotel_rate=120)  # the same Berlin trip with a cheaper hotel: the request is withdrawn
    chain.model.script(call("update_draft_itinerary", itinerary_id=itinerary, **cheaper), say("Changed."))
    await chain.deliver(chain.updates.message(ALEX, "Take the cheaper hotel instead"))
    assert shown(chain, MARTA, first) == (None, first.params["reply_markup"])  # not yet: no turn of hers

    channels = ReminderChannels({"telegram": TelegramChats(token=TOKEN, api_url=chain.api.base_url)})
    try:  # the worker's cron, with the worker's database role and its own Telegram client
        await escalate_every_company(worker_db, channels, now=dt.datetime.now(dt.UTC))
    finally:
        await channels.close()
    text, keyboard = shown(chain, MARTA, first)
    assert keyboard is None and text is not None
    assert decided(CLOSED) in text and "568.90 EUR" in text  # under the trip as it is now
    assert (
        CLOSED
        == "➖ This trip no longer waits for an answer here: it was changed, cancelled or answered elsewhere."
    )
    assert requests_to(chain, MARTA) == [first]  # nothing waits for her: she is not asked again
    assert await press(chain, MARTA, first, "Approve") == STALE  # a press on the retired request
    assert await statuses(chain.db, acme) == set()


@pytest.mark.parametrize("mode", ["held"])
async def test_an_answer_stands_when_telegram_fails_to_show_it_and_the_stale_request_closes_when_pressed(
    mode: str, chain: TelegramBot, acme: Company
) -> None:
    itinerary = await confirm_trip(chain, acme, mode)
    trip = itinerary[:8]
    (ask,) = requests_to(chain, MARTA)
    chain.api.fail_next("editMessageText", status=502)  # Telegram is down just as her request is rewritten
    await chain.deliver(chain.updates.message(MARTA, f"/approvals approve {trip}"))
    assert chain.api.texts(MARTA.id)[-1] == f"Trip {trip} approved; finance approves next."  # it stands
    assert shown(chain, MARTA, ask) == (None, ask.params["reply_markup"])  # still with its buttons
    (finance,) = requests_to(chain, CARL)  # the rest went on: finance is asked, Alex is told
    assert told(chain)[-1].endswith("was approved by the traveller's manager; finance approves next.")

    assert await press(chain, MARTA, ask, "Approve") == STALE  # pressed: nothing changes, and it closes
    text, keyboard = shown(chain, MARTA, ask)
    assert keyboard is None and text is not None
    assert (
        decided(
            "➖ This trip no longer waits for an answer here: it was changed, cancelled or answered elsewhere."
        )
        in text
    )
    assert len(requests_to(chain, CARL)) == 1 and await statuses(chain.db, acme) == set()
    await press(chain, CARL, finance, "Approve")
    assert await statuses(chain.db, acme) == {"confirmed"}
