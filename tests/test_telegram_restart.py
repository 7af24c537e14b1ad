"""A Telegram justification typed after `serve` restarted (or on another replica) still books the trip."""

from __future__ import annotations

from storage.audit import Actor
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.preferences import set_tenant_preference
from tests.conftest import Company
from tests.fakes.scripted_model import ScriptedModel, say
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.test_telegram_booking import ask_for_confirmation, bookings, button
from tests.test_telegram_harness import ALEX, running_bot, telegram_api, telegram_settings

__all__ = ["telegram_api"]  # a fixture used by name


async def test_a_justification_typed_after_a_restart_books_the_trip(
    db: Database,
    embedded: EmbeddedUrls,
    scripted_model: ScriptedModel,
    telegram_api: FakeTelegramAPI,
    acme: Company,
) -> None:
    telegram_api.reset()
    settings = telegram_settings(telegram_api, scripted_model, embedded)
    async with running_bot(settings, embedded, telegram_api, scripted_model) as before_restart:
        async with db.tenant(acme.tenant_id) as session:
            await set_tenant_preference(
                session,
                actor=Actor.user(acme.admin_id),
                key="policy.hotel.max_nightly_rate",
                value={"amount": 180, "currency": "EUR"},
            )
        await before_restart.link(acme, ALEX)
        asked = await ask_for_confirmation(before_restart, acme, chat_id=ALEX.id, hotel_rate=260)
        await before_restart.deliver(before_restart.updates.press(ALEX, asked, button(asked, "Confirm")))
        prompt = telegram_api.calls_to("sendMessage", chat_id=ALEX.id)[-1]
        assert "justification" in prompt.params["text"]

    async with running_bot(settings, embedded, telegram_api, scripted_model) as after_restart:
        scripted_model.script(say("Booked, with your justification noted."))
        after_restart.updates = before_restart.updates  # Telegram's update ids go on across the restart
        await after_restart.deliver(
            after_restart.updates.message(ALEX, "The client pays the hotel", reply_to={**prompt.result})
        )
        booked = await bookings(db, acme)
        assert [b.booking_type for b in booked] == ["flight", "hotel", "train"]
        assert {b.booking_details["justification"] for b in booked} == {"The client pays the hotel"}
        assert telegram_api.texts(ALEX.id)[-1] == "Booked, with your justification noted."
    telegram_api.reset()
