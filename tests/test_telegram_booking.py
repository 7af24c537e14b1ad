"""Plan and confirm on Telegram: inline Confirm / Cancel for the requester only, justification when needed."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from sqlalchemy import func, select

from storage.audit import Actor
from storage.database import Database
from storage.models import Booking, Itinerary
from storage.preferences import set_tenant_preference
from tests.conftest import Company
from tests.fakes.scripted_model import call, fail, say
from tests.fakes.telegram_api import BotCall, FakeTelegramAPI
from tests.test_agent_booking import berlin_days
from tests.test_telegram_harness import ALEX, ROBIN, TelegramBot, telegram, telegram_api

__all__ = ["telegram", "telegram_api"]  # fixtures used by name

GROUP = -100_555_000_111


def trip(*, hotel_rate: int = 150) -> dict[str, Any]:
    """The Berlin plan of the agent tests, moved to a month from today, with a hotel name HTML must escape."""
    plan = berlin_days(f"{hotel_rate}.00")
    shift = dt.date.today() + dt.timedelta(days=30) - dt.date.fromisoformat(plan["start_date"])
    text = json.dumps(plan)
    for day in ("2026-12-03", "2026-12-04", "2026-12-05"):
        text = text.replace(day, (dt.date.fromisoformat(day) + shift).isoformat())
    moved: dict[str, Any] = json.loads(text)
    moved["days"][0]["items"][1]["description"] = "Hotel <Mitte> & Spa"
    return moved


async def bookings(db: Database, company: Company) -> list[Booking]:
    async with db.tenant(company.tenant_id) as session:
        return list((await session.scalars(select(Booking).order_by(Booking.booking_type))).all())


async def itinerary_id(db: Database, company: Company) -> str:
    async with db.tenant(company.tenant_id) as session:
        return str(await session.scalar(select(Itinerary.itinerary_id)))


async def ask_for_confirmation(
    telegram: TelegramBot, acme: Company, *, chat_id: int, hotel_rate: int = 150, confirm: str = "✅ Confirm"
) -> BotCall:
    """Plan, then "book it": returns the sendMessage call that carries the Confirm / Cancel keyboard (whose
    first button reads `confirm`: "✅ Send for approval" for a trip held until approved)."""

    def say_to_bot(text: str) -> dict[str, Any]:
        if chat_id > 0:
            return telegram.updates.message(ALEX, text)
        return telegram.updates.mention(ALEX, text, chat_id=chat_id)

    telegram.model.script(
        call("create_draft_itinerary", trip(hotel_rate=hotel_rate)), say("Here is your Berlin draft.")
    )
    await telegram.deliver(say_to_bot("Berlin next month, please"))
    draft_id = await itinerary_id(telegram.db, acme)
    telegram.model.script(call("confirm_booking", itinerary_id=draft_id))
    await telegram.deliver(say_to_bot("Book it"))
    # Asked in a group, the request goes to the traveller's private chat (the group sees a note only).
    private = chat_id if chat_id > 0 else ALEX.id
    (keyboard_message,) = [
        c
        for c in telegram.api.calls_to("sendMessage", chat_id=private)
        if "inline_keyboard" in (c.params.get("reply_markup") or {})
    ]
    buttons = keyboard_message.params["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == [confirm, "✖️ Cancel"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
    return keyboard_message


def button(message: BotCall, label: str) -> str:
    (data,) = [
        b["callback_data"] for b in message.params["reply_markup"]["inline_keyboard"][0] if label in b["text"]
    ]
    return str(data)


def alerts(api: FakeTelegramAPI) -> list[tuple[str | None, bool]]:
    return [
        (c.params.get("text"), bool(c.params.get("show_alert"))) for c in api.calls_to("answerCallbackQuery")
    ]


async def test_confirm_books_once_and_a_second_press_or_another_users_press_books_nothing(
    telegram: TelegramBot,
    acme: Company,
) -> None:
    await telegram.link(acme, ALEX)
    await telegram.link(acme, ROBIN, admin=True)
    asked = await ask_for_confirmation(telegram, acme, chat_id=GROUP)
    assert telegram.api.texts(GROUP) == ["Alex, I answered you in our private chat."] * 2
    card = asked.params["text"]
    assert "Hotel &lt;Mitte&gt; &amp; Spa — 300.00 EUR" in card and "<b>Book this trip?</b>" in card
    assert asked.params["parse_mode"] == "HTML"
    model_requests = len(telegram.model.requests)

    # Robin, an admin of the same company, presses Confirm: an alert, no booking, the buttons stay.
    await telegram.deliver(telegram.updates.press(ROBIN, asked, button(asked, "Confirm")))
    assert alerts(telegram.api) == [
        ("Only the traveller who asked for this booking can confirm or cancel it.", True)
    ]
    assert await bookings(telegram.db, acme) == []
    assert telegram.api.keyboard_of(ALEX.id, asked.result["message_id"]) is not None

    # Alex presses Confirm: booked once, buttons removed, the model's answer posted.
    telegram.model.script(say("Booked! Have a good trip."))
    await telegram.deliver(telegram.updates.press(ALEX, asked, button(asked, "Confirm")))
    booked = await bookings(telegram.db, acme)
    assert [(b.booking_type, b.status) for b in booked] == [
        ("flight", "confirmed"),
        ("hotel", "confirmed"),
        ("train", "confirmed"),
    ]
    assert telegram.api.keyboard_of(ALEX.id, asked.result["message_id"]) is None
    assert telegram.api.texts(ALEX.id)[-1] == "Booked! Have a good trip."
    assert telegram.api.texts(ALEX.id)[-2].startswith("Booked: 3 items, 628.90 EUR; reminders on ")
    decided = telegram.api.edited_text(ALEX.id, asked.result["message_id"])
    assert decided is not None and "Book this trip?" not in decided
    assert re.search(r"<b>✅ Booked by .+ at \d\d:\d\d</b>", decided) and "(confirmed)" in decided
    assert len(telegram.model.requests) == model_requests + 1

    # A second press (or a stale Cancel) is harmless: nothing booked, no model turn, a short notice.
    await telegram.deliver(telegram.updates.press(ALEX, asked, button(asked, "Confirm")))
    await telegram.deliver(telegram.updates.press(ALEX, asked, button(asked, "Cancel")))
    assert [b.booking_id for b in await bookings(telegram.db, acme)] == [b.booking_id for b in booked]
    assert len(telegram.model.requests) == model_requests + 1
    assert alerts(telegram.api)[-2:] == [("This booking was already answered.", False)] * 2
    async with telegram.db.tenant(acme.tenant_id) as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(Itinerary).where(Itinerary.status == "confirmed")
            )
            == 1
        )


async def test_cancel_books_nothing_and_removes_the_buttons(
    telegram: TelegramBot,
    acme: Company,
) -> None:
    await telegram.link(acme, ALEX)
    asked = await ask_for_confirmation(telegram, acme, chat_id=ALEX.id)
    telegram.model.script(say("No problem, I left it as a draft."))
    await telegram.deliver(telegram.updates.press(ALEX, asked, button(asked, "Cancel")))
    assert await bookings(telegram.db, acme) == []
    assert telegram.api.keyboard_of(ALEX.id, asked.result["message_id"]) is None
    assert telegram.api.texts(ALEX.id)[-1] == "No problem, I left it as a draft."
    decided = telegram.api.edited_text(ALEX.id, asked.result["message_id"])
    assert decided is not None and "✖️ Cancelled by" in decided and "Book this trip?" not in decided
    tool_result = [m for m in telegram.model.messages() if m["role"] == "tool"][-1]
    assert "declined" in tool_result["content"]


async def test_an_out_of_policy_trip_asks_for_a_justification_before_booking(
    telegram: TelegramBot,
    acme: Company,
) -> None:
    async with telegram.db.tenant(acme.tenant_id) as session:
        await set_tenant_preference(
            session,
            actor=Actor.user(acme.admin_id),
            key="policy.hotel.max_nightly_rate",
            value={"amount": 180, "currency": "EUR"},
        )
    await telegram.link(acme, ALEX)
    asked = await ask_for_confirmation(telegram, acme, chat_id=ALEX.id, hotel_rate=260)
    assert "<b>Out of policy:</b>" in asked.params["text"]

    await telegram.deliver(telegram.updates.press(ALEX, asked, button(asked, "Confirm")))
    assert await bookings(telegram.db, acme) == []
    prompt = telegram.api.calls_to("sendMessage", chat_id=ALEX.id)[-1]
    assert prompt.params["reply_markup"]["force_reply"] is True and "justification" in prompt.params["text"]
    assert telegram.api.keyboard_of(ALEX.id, asked.result["message_id"]) is None

    telegram.model.script(say("Booked, with your justification noted."))
    reply_to_prompt = {**prompt.result}
    await telegram.deliver(
        telegram.updates.message(ALEX, "The client pays the hotel", reply_to=reply_to_prompt)
    )
    booked = await bookings(telegram.db, acme)
    assert [b.booking_type for b in booked] == ["flight", "hotel", "train"]
    assert {b.booking_details["justification"] for b in booked} == {"The client pays the hotel"}
    assert telegram.api.texts(ALEX.id)[-1] == "Booked, with your justification noted."


async def test_a_model_failure_after_confirm_shows_the_booking_and_the_decided_card(
    telegram: TelegramBot, acme: Company
) -> None:
    await telegram.link(acme, ALEX)
    asked = await ask_for_confirmation(telegram, acme, chat_id=ALEX.id)
    telegram.model.script(fail(500))

    await telegram.deliver(telegram.updates.press(ALEX, asked, button(asked, "Confirm")))

    assert len(await bookings(telegram.db, acme)) == 3
    said = telegram.api.texts(ALEX.id)
    assert not any("Nothing was changed" in text for text in said)
    assert said[-1].startswith("Booked: 3 items, 628.90 EUR") and "The booking stands" in said[-1]
    decided = telegram.api.edited_text(ALEX.id, asked.result["message_id"])
    assert decided is not None and "✅ Booked by" in decided
    assert telegram.api.keyboard_of(ALEX.id, asked.result["message_id"]) is None


async def test_a_question_while_a_booking_waits_is_answered_and_confirm_still_books_once(
    telegram: TelegramBot, acme: Company
) -> None:
    await telegram.link(acme, ALEX)
    asked = await ask_for_confirmation(telegram, acme, chat_id=ALEX.id)
    telegram.model.script(say("Noted."), say("Berlin will be around 3 °C."))

    await telegram.deliver(telegram.updates.message(ALEX, "What's the weather there?"))

    assert telegram.api.texts(ALEX.id)[-1] == "Berlin will be around 3 °C."
    assert telegram.api.keyboard_of(ALEX.id, asked.result["message_id"]) is not None
    telegram.model.script(say("Booked!"))
    await telegram.deliver(telegram.updates.press(ALEX, asked, button(asked, "Confirm")))
    await telegram.deliver(telegram.updates.press(ALEX, asked, button(asked, "Confirm")))
    assert len(await bookings(telegram.db, acme)) == 3
    assert alerts(telegram.api)[-1] == ("This booking was already answered.", False)


async def test_a_new_plan_lapses_the_open_request_and_its_card_says_so(
    telegram: TelegramBot, acme: Company
) -> None:
    await telegram.link(acme, ALEX)
    asked = await ask_for_confirmation(telegram, acme, chat_id=ALEX.id)
    munich = trip()
    munich["destinations"] = ["Munich"]
    telegram.model.script(say("Noted."), call("create_draft_itinerary", munich), say("Here is Munich."))

    await telegram.deliver(telegram.updates.message(ALEX, "Plan Munich instead"))

    lapsed = telegram.api.edited_text(ALEX.id, asked.result["message_id"])
    assert lapsed is not None and "lapsed" in lapsed and "Book this trip?" not in lapsed
    assert telegram.api.keyboard_of(ALEX.id, asked.result["message_id"]) is None
    await telegram.deliver(telegram.updates.press(ALEX, asked, button(asked, "Confirm")))
    assert await bookings(telegram.db, acme) == []


async def test_typing_cancel_closes_the_request_and_rewrites_its_card(
    telegram: TelegramBot, acme: Company
) -> None:
    await telegram.link(acme, ALEX)
    asked = await ask_for_confirmation(telegram, acme, chat_id=ALEX.id)
    telegram.model.script(say("Alright, not booked."))

    await telegram.deliver(telegram.updates.message(ALEX, "cancel"))

    decided = telegram.api.edited_text(ALEX.id, asked.result["message_id"])
    assert decided is not None and "✖️ Cancelled by" in decided
    assert telegram.api.texts(ALEX.id)[-2:] == ["Cancelled; nothing was booked.", "Alright, not booked."]
    assert await bookings(telegram.db, acme) == []
