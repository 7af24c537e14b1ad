"""In Slack, an out-of-policy trip the company lets travellers justify is booked on the traveller's reason.

The same treatment as in the console and on Telegram (tests/test_policy_actions.py,
tests/test_telegram_booking.py): no admin is asked; the reason is audited with the booking.
"""

from __future__ import annotations

from storage.database import Database
from tests.fakes.scripted_model import ScriptedModel, say
from tests.fakes.slack_api import ACME, ADMIN, TRAVELLER, SlackHarness
from tests.test_slack_buttons import (
    ADMIN_DM,
    TRAVELLER_DM,
    bookings_of,
    plan_and_ask_to_book,
    request_message,
    slack,
)
from tests.test_slack_commands import run

__all__ = ["slack"]  # the fixture, used by name


async def test_a_reply_in_the_thread_justifies_and_books_without_asking_an_admin(
    slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    await run(slack, ADMIN, 'prefs set policy.hotel.max_nightly_rate {"amount":100,"currency":"EUR"}')
    thread_ts, itinerary_id = await plan_and_ask_to_book(slack, db, scripted_model)
    request = request_message(slack, thread_ts)
    assert "Reply in this thread with a short justification to book it" in request.all_text()
    assert [b["text"]["text"] for b in request.buttons()] == ["Cancel request"]
    assert slack.fake.in_channel(ADMIN_DM) == []  # no admin is asked to approve a justifiable trip

    await slack.send.dm(ACME, TRAVELLER, " ", thread_ts=thread_ts)
    await slack.settle()
    assert slack.fake.thread(TRAVELLER_DM, thread_ts)[-1].text.startswith("Please reply with a justification")
    assert await bookings_of(db) == []

    scripted_model.script(say("Booked, with your reason noted."))
    await slack.send.dm(ACME, TRAVELLER, "The client pays the hotel", thread_ts=thread_ts)
    await slack.settle()
    booked = await bookings_of(db)
    assert [b.booking_type for b in booked] == ["flight", "hotel", "train"]
    assert {b.booking_details["justification"] for b in booked} == {"The client pays the hotel"}
    assert slack.fake.thread(TRAVELLER_DM, thread_ts)[-1].text == "Booked, with your reason noted."
    decided = slack.fake.message(TRAVELLER_DM, request.ts)
    assert decided.buttons() == [] and "Confirmed with a justification by <@U0TRAVEL>" in decided.all_text()
    log = await run(slack, ADMIN, "audit 10")
    assert (
        f'policy.justify itinerary {itinerary_id} (1 reason out of policy: "The client pays the hotel")'
        in log
    )

    # A later message in the thread is a conversation again, not a second justification.
    scripted_model.script(say("Anything else?"))
    await slack.send.dm(ACME, TRAVELLER, "thanks", thread_ts=thread_ts)
    await slack.settle()
    assert len(await bookings_of(db)) == 3
    assert slack.fake.thread(TRAVELLER_DM, thread_ts)[-1].text == "Anything else?"
