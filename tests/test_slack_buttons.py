"""Slack buttons: Confirm books once and only for the requester; out-of-policy trips go to the admins."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.identities import Identity, resolve_identity
from storage.models import Booking, Itinerary
from tests.fakes.scripted_model import ScriptedModel, call, fail, say
from tests.fakes.slack_api import (
    ACME,
    ADMIN,
    OTHER,
    TRAVELLER,
    FakeSlack,
    Posted,
    SlackHarness,
    acme_slack,
)
from tests.test_agent_booking import berlin_days

TEAM = ACME
TRAVELLER_DM, ADMIN_DM = "D" + TRAVELLER, "D" + ADMIN


@pytest.fixture
async def slack(
    db: Database, embedded: EmbeddedUrls, scripted_model: ScriptedModel, fake_slack: FakeSlack
) -> AsyncIterator[SlackHarness]:
    # The admin talks first, so the workspace's new tenant makes them its admin.
    async with acme_slack(
        db=db, embedded=embedded, model=scripted_model, fake=fake_slack, introduced=(ADMIN,)
    ) as h:
        yield h


async def bookings_of(db: Database, slack_user: str = TRAVELLER) -> list[Booking]:
    identity = await resolve_identity(db, channel="slack", workspace_id=TEAM, external_user_id=slack_user)
    assert identity is not None
    async with db.tenant(identity.tenant_id) as session:
        return list((await session.scalars(select(Booking).order_by(Booking.booking_type))).all())


async def plan_and_ask_to_book(
    slack: SlackHarness, db: Database, model: ScriptedModel, *, hotel_rate: str = "150.00"
) -> tuple[str, str]:
    """A traveller plans Berlin in a DM thread and asks to book it; returns (thread ts, itinerary id)."""
    model.script(call("create_draft_itinerary", berlin_days(hotel_rate)), say("Here is your Berlin draft."))
    _, first = await slack.send.dm(TEAM, TRAVELLER, "plan Berlin 3-5 Dec")
    await slack.settle()
    identity = await resolve_identity(db, channel="slack", workspace_id=TEAM, external_user_id=TRAVELLER)
    assert identity is not None
    async with db.tenant(identity.tenant_id) as session:
        itinerary_id = str((await session.scalars(select(Itinerary.itinerary_id))).one())
    model.script(call("confirm_booking", itinerary_id=itinerary_id))
    await slack.send.dm(TEAM, TRAVELLER, "book it", thread_ts=first["ts"])
    await slack.settle()
    return first["ts"], itinerary_id


def button(message: Posted, label: str) -> dict[str, object]:
    return next(b for b in message.buttons() if b["text"]["text"] == label)


def request_message(slack: SlackHarness, thread_ts: str) -> Posted:
    return next(m for m in slack.fake.thread(TRAVELLER_DM, thread_ts) if m.buttons())


def outcome(message: Posted) -> str:
    return str(message.blocks[-1]["elements"][0]["text"])


async def test_confirm_books_once_and_only_for_the_traveller_who_asked(
    slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    thread_ts, itinerary_id = await plan_and_ask_to_book(slack, db, scripted_model)
    request = request_message(slack, thread_ts)
    assert [b["text"]["text"] for b in request.buttons()] == ["Confirm booking", "Cancel"]
    assert json.loads(str(button(request, "Confirm booking")["value"]))["i"] == itinerary_id

    # Someone else pressing Confirm books nothing and is told why, privately.
    await slack.send.action(TEAM, OTHER, request, button(request, "Confirm booking"))
    await slack.settle()
    assert await bookings_of(db) == []
    (refusal,) = slack.fake.ephemeral
    assert refusal["user"] == OTHER and "Only <@U0TRAVEL>, who asked for this booking" in refusal["text"]

    scripted_model.script(say("Booked! Have a good trip."))
    press = await slack.send.action(
        TEAM, TRAVELLER, request, button(request, "Confirm booking"), trigger_id="77.press"
    )
    assert press.status_code == 200
    await slack.settle()
    assert [(b.booking_type, b.booking_details["amount"]) for b in await bookings_of(db)] == [
        ("flight", "189.00"),
        ("hotel", "300.00"),
        ("train", "139.90"),
    ]
    assert slack.fake.thread(TRAVELLER_DM, thread_ts)[-1].text == "Booked! Have a good trip."
    updated = slack.fake.message(TRAVELLER_DM, request.ts)
    assert updated.buttons() == []  # no stale button stays live
    assert outcome(updated).startswith(":white_check_mark: Booked by <@U0TRAVEL> · <!date^")
    assert "Booked: 3 items, 628.90 EUR; reminders on " in outcome(updated)
    # The product states the result itself, before the model's words.
    assert slack.fake.thread(TRAVELLER_DM, thread_ts)[-2].text.startswith("Booked: 3 items, 628.90 EUR")
    assert "Confirmed itinerary" in json.dumps(updated.blocks)

    # The same press replayed, and a later press of the old button, book nothing more.
    requests_before = len(scripted_model.requests)
    await slack.send.action(
        TEAM, TRAVELLER, request, button(request, "Confirm booking"), trigger_id="77.press"
    )
    await slack.send.action(TEAM, TRAVELLER, request, button(request, "Confirm booking"))
    await slack.settle()
    assert len(await bookings_of(db)) == 3
    assert len(scripted_model.requests) == requests_before
    assert [e["text"] for e in slack.fake.ephemeral[1:]] == [
        "This request is no longer waiting for a decision; nothing more was done."
    ]
    assert slack.fake.thread(TRAVELLER_DM, thread_ts)[-1].text == "Booked! Have a good trip."


async def test_a_question_keeps_the_request_open_and_a_new_plan_lapses_it(
    slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    thread_ts, _ = await plan_and_ask_to_book(slack, db, scripted_model)
    first_request = request_message(slack, thread_ts)
    scripted_model.script(say("Noted."), say("Berlin will be around 3 °C."))
    await slack.send.dm(TEAM, TRAVELLER, "what's the weather there?", thread_ts=thread_ts)
    await slack.settle()
    assert slack.fake.thread(TRAVELLER_DM, thread_ts)[-1].text == "Berlin will be around 3 °C."
    assert slack.fake.message(TRAVELLER_DM, first_request.ts).buttons() != []  # still open

    munich = berlin_days()
    munich["destinations"] = ["Munich"]
    scripted_model.script(say("Noted."), call("create_draft_itinerary", munich), say("Here is Munich."))
    await slack.send.dm(TEAM, TRAVELLER, "plan Munich instead", thread_ts=thread_ts)
    await slack.settle()
    lapsed = slack.fake.message(TRAVELLER_DM, first_request.ts)
    assert lapsed.buttons() == [] and "lapsed" in outcome(lapsed)
    await slack.send.action(TEAM, TRAVELLER, first_request, button(first_request, "Confirm booking"))
    await slack.settle()
    assert await bookings_of(db) == []


async def test_a_model_failure_after_confirm_shows_the_booking_and_the_decided_card(
    slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    thread_ts, _ = await plan_and_ask_to_book(slack, db, scripted_model)
    request = request_message(slack, thread_ts)
    scripted_model.script(fail(500))
    await slack.send.action(TEAM, TRAVELLER, request, button(request, "Confirm booking"))
    await slack.settle()

    assert len(await bookings_of(db)) == 3
    said = [m.text for m in slack.fake.thread(TRAVELLER_DM, thread_ts)]
    assert not any("Nothing was changed" in text for text in said)
    assert said[-1].startswith("Booked: 3 items, 628.90 EUR") and "The booking stands" in said[-1]
    decided = slack.fake.message(TRAVELLER_DM, request.ts)
    assert decided.buttons() == [] and outcome(decided).startswith(":white_check_mark: Booked by <@U0TRAVEL>")


async def test_an_out_of_policy_trip_is_approved_by_an_admin_from_the_dm_and_the_thread_continues(
    slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    await slack.send.command(
        TEAM, ADMIN, 'prefs set policy.hotel.max_nightly_rate {"amount":100,"currency":"EUR"}'
    )
    await slack.send.command(TEAM, ADMIN, 'prefs set policy.actions {"hotel_cap":"approve"}')
    await slack.settle()
    thread_ts, itinerary_id = await plan_and_ask_to_book(slack, db, scripted_model)

    request = request_message(slack, thread_ts)
    assert [b["text"]["text"] for b in request.buttons()] == ["Cancel request"]
    assert "hotel cap: 100.00 EUR a night; this stay is 150.00 EUR a night" in request.all_text()
    assert "I asked <@U0ADMIN> to approve it" in request.all_text()
    (ask,) = slack.fake.in_channel(ADMIN_DM)
    assert "*Tom Traveller* asks to book an out-of-policy trip" in ask.all_text()
    assert [b["text"]["text"] for b in ask.buttons()] == ["Approve", "Reject"]

    # A traveller cannot approve, even with the button's payload.
    await slack.send.action(TEAM, TRAVELLER, ask, button(ask, "Approve"))
    await slack.settle()
    assert await bookings_of(db) == []
    assert (
        slack.fake.ephemeral[-1]["text"]
        == "Only an admin of your company can approve or reject out-of-policy trips."
    )

    scripted_model.script(say("Your Berlin trip is booked."))
    await slack.send.action(TEAM, ADMIN, ask, button(ask, "Approve"))
    await slack.settle()
    bookings = await bookings_of(db)
    admin = await resolve_identity(db, channel="slack", workspace_id=TEAM, external_user_id=ADMIN)
    assert admin is not None
    assert len(bookings) == 3 and {b.booking_details["approved_by"] for b in bookings} == {str(admin.user_id)}
    # The traveller's thread continues with who decided and the agent's answer.
    lead, answer = [m.text for m in slack.fake.thread(TRAVELLER_DM, thread_ts)][-2:]
    assert lead.startswith("Ada Admin approved your out-of-policy trip. Booked: 3 items, ")
    assert answer == "Your Berlin trip is booked."
    for message in (slack.fake.message(ADMIN_DM, ask.ts), slack.fake.message(TRAVELLER_DM, request.ts)):
        assert message.buttons() == []
        assert outcome(message).startswith(":white_check_mark: Approved by <@U0ADMIN>")

    # A second press (or a second admin) changes nothing.
    await slack.send.action(TEAM, ADMIN, ask, button(ask, "Approve"))
    await slack.settle()
    assert len(await bookings_of(db)) == 3
    assert (
        slack.fake.ephemeral[-1]["text"]
        == "This request is no longer waiting for a decision; nothing more was done."
    )
    assert str(bookings[0].itinerary_id) == itinerary_id


async def test_a_rejected_trip_books_nothing_and_the_traveller_is_told(
    slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    # A bare amount is in the company's currency (EUR by default).
    await slack.send.command(TEAM, ADMIN, "prefs set policy.hotel.max_nightly_rate 100")
    await slack.settle()
    assert slack.fake.responses[-1]["text"] == (
        'policy.hotel.max_nightly_rate is now {"amount": "100.00", "currency": "EUR"}.'
    )
    await slack.send.command(TEAM, ADMIN, 'prefs set policy.actions {"hotel_cap":"approve"}')
    await slack.settle()
    thread_ts, _ = await plan_and_ask_to_book(slack, db, scripted_model)
    (ask,) = slack.fake.in_channel(ADMIN_DM)
    scripted_model.script(say("Sorry, your admin did not approve the trip."))
    await slack.send.action(TEAM, ADMIN, ask, button(ask, "Reject"))
    await slack.settle()
    assert await bookings_of(db) == []
    assert [m.text for m in slack.fake.thread(TRAVELLER_DM, thread_ts)][-2:] == [
        "Ada Admin rejected your out-of-policy trip.",
        "Sorry, your admin did not approve the trip.",
    ]
    assert outcome(slack.fake.message(ADMIN_DM, ask.ts)).startswith(":no_entry: Rejected by <@U0ADMIN>")
    identity = await resolve_identity(db, channel="slack", workspace_id=TEAM, external_user_id=TRAVELLER)
    assert identity is not None
    async with db.tenant(identity.tenant_id) as session:
        assert await session.scalar(select(Itinerary.status)) == "draft"


async def test_a_top_level_dm_continues_the_conversation_planned_in_a_thread(
    slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    scripted_model.script(call("create_draft_itinerary", berlin_days()), say("Here is your Berlin draft."))
    _, first = await slack.send.dm(TEAM, TRAVELLER, "plan Berlin 3-5 Dec")
    await slack.settle()
    scripted_model.script(say("Shall I add a dinner?"))
    await slack.send.dm(TEAM, TRAVELLER, "looks good", thread_ts=first["ts"])
    await slack.settle()
    async with db.tenant((await traveller_identity(db)).tenant_id) as session:
        itinerary_id = str((await session.scalars(select(Itinerary.itinerary_id))).one())
    scripted_model.script(call("confirm_booking", itinerary_id=itinerary_id))

    _, top_level = await slack.send.dm(TEAM, TRAVELLER, "book it")  # not in the thread
    await slack.settle()

    # The model saw the whole DM conversation, and the request for that draft is answered in place.
    sent = [m.get("content") for m in scripted_model.messages() if m["role"] == "user"]
    assert sent == ["plan Berlin 3-5 Dec", "looks good", "book it"]
    request = request_message(slack, top_level["ts"])
    assert json.loads(str(button(request, "Confirm booking")["value"]))["i"] == itinerary_id
    scripted_model.script(say("Booked!"))
    await slack.send.action(TEAM, TRAVELLER, request, button(request, "Confirm booking"))
    await slack.settle()
    assert len(await bookings_of(db)) == 3
    assert slack.fake.thread(TRAVELLER_DM, top_level["ts"])[-1].text == "Booked!"


async def traveller_identity(db: Database) -> Identity:
    identity = await resolve_identity(db, channel="slack", workspace_id=TEAM, external_user_id=TRAVELLER)
    assert identity is not None
    return identity
