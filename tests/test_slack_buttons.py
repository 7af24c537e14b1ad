"""Slack buttons: Confirm books once and only for the requester; a trip that needs approval is sent to its
approver, who is asked in their DM, and booked only on their yes."""

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


async def held_for_approval(slack: SlackHarness, *, cap: str = '{"amount":100,"currency":"EUR"}') -> None:
    """Acme's policy: a hotel over the cap needs approval before the trip is booked."""
    for setting in (f"policy.hotel.max_nightly_rate {cap}", 'policy.actions {"hotel_cap":"approve"}'):
        await slack.send.command(TEAM, ADMIN, f"prefs set {setting}")
        await slack.settle()


def approval_requests(slack: SlackHarness) -> list[Posted]:
    """The approval chain's requests in Ada's (the admin's) DM, as they read now."""
    return [m for m in slack.fake.in_channel(ADMIN_DM) if "waits for approval" in m.all_text()]


async def told_in_dm(slack: SlackHarness) -> list[str]:
    """What Tom was told in his DM outside any thread."""
    return [m.text for m in slack.fake.in_channel(TRAVELLER_DM) if m.thread_ts is None]


async def test_an_out_of_policy_trip_is_sent_for_approval_and_booked_when_the_approver_says_yes(
    slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    await held_for_approval(slack)
    thread_ts, itinerary_id = await plan_and_ask_to_book(slack, db, scripted_model)
    trip = itinerary_id[:8]

    request = request_message(slack, thread_ts)
    assert [b["text"]["text"] for b in request.buttons()] == ["Send for approval", "Cancel"]
    assert "hotel cap: 100.00 EUR a night; this stay is 150.00 EUR a night" in request.all_text()
    # Tom has no manager and Acme no finance approvers: an admin is asked.
    assert (
        "It goes to an admin of your company for approval and is booked once approved; "
        "nothing is booked until then." in request.all_text()
    )
    assert approval_requests(slack) == []  # nobody is asked before Tom sends it

    scripted_model.script(say("I sent it for approval."))
    await slack.send.action(TEAM, TRAVELLER, request, button(request, "Send for approval"))
    await slack.settle()
    assert await bookings_of(db) == []
    sent = (
        "Sent for approval to an admin; nothing is booked until the last approver says yes, "
        "and you will be told each answer."
    )
    settled = slack.fake.message(TRAVELLER_DM, request.ts)
    assert settled.buttons() == []
    assert outcome(settled).startswith(":white_check_mark: Sent for approval by <@U0TRAVEL> · <!date^")
    assert outcome(settled).endswith(f"— {sent}")
    assert [m.text for m in slack.fake.thread(TRAVELLER_DM, thread_ts)][-2:] == [
        sent,
        "I sent it for approval.",
    ]
    (ask,) = approval_requests(slack)
    assert (
        f"Tom Traveller's trip of 03 Dec 2026 ({trip}) waits for approval before it is booked (asked: an admin)."
        in ask.all_text()
    )
    assert [b["text"]["text"] for b in ask.buttons()] == ["Approve", "Reject"]

    # A traveller cannot approve their own trip, even with the button's payload.
    await slack.send.action(TEAM, TRAVELLER, ask, button(ask, "Approve"))
    await slack.settle()
    assert await bookings_of(db) == []
    assert slack.fake.ephemeral[-1] == {
        "channel": ADMIN_DM,
        "user": TRAVELLER,
        "text": "This trip is no longer waiting for your answer (it was answered or moved on); nothing changed.",
        "team_id": TEAM,
    }
    assert slack.fake.message(ADMIN_DM, ask.ts).buttons() != []  # still Ada's to answer

    await slack.send.action(TEAM, ADMIN, ask, button(ask, "Approve"))
    await slack.settle()
    bookings = await bookings_of(db)
    admin = await resolve_identity(db, channel="slack", workspace_id=TEAM, external_user_id=ADMIN)
    assert admin is not None
    assert [b.booking_type for b in bookings] == ["flight", "hotel", "train"]
    assert {b.booking_details["approved_by"] for b in bookings} == {str(admin.user_id)}
    assert {str(b.itinerary_id) for b in bookings} == {itinerary_id}
    decided = slack.fake.message(ADMIN_DM, ask.ts)
    assert decided.buttons() == []
    assert (
        outcome(decided) == ":white_check_mark: Approved by Ada Admin (an admin); booked for the traveller."
    )
    assert "Confirmed itinerary" in json.dumps(decided.blocks)
    (notice,) = await told_in_dm(slack)
    assert notice.startswith(
        f"Your trip of 03 Dec 2026 ({trip}) is approved and booked. Booked: 3 items, 628.90 EUR"
    )

    # A second press changes nothing.
    await slack.send.action(TEAM, ADMIN, ask, button(ask, "Approve"))
    await slack.settle()
    assert len(await bookings_of(db)) == 3 and len(await told_in_dm(slack)) == 1
    assert slack.fake.ephemeral[-1]["text"].startswith("This trip is no longer waiting for your answer")


async def test_a_rejected_trip_books_nothing_keeps_the_draft_and_the_traveller_is_told(
    slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    # A bare amount is in the company's currency (EUR by default).
    await held_for_approval(slack, cap="100")
    assert slack.fake.responses[-2]["text"] == (
        'policy.hotel.max_nightly_rate is now {"amount": "100.00", "currency": "EUR"}.'
    )
    thread_ts, itinerary_id = await plan_and_ask_to_book(slack, db, scripted_model)
    request = request_message(slack, thread_ts)
    scripted_model.script(say("Sent."))
    await slack.send.action(TEAM, TRAVELLER, request, button(request, "Send for approval"))
    await slack.settle()
    (ask,) = approval_requests(slack)
    await slack.send.action(TEAM, ADMIN, ask, button(ask, "Reject"))
    await slack.settle()
    assert await bookings_of(db) == []
    assert outcome(slack.fake.message(ADMIN_DM, ask.ts)) == ":no_entry: Rejected by Ada Admin (an admin)."
    assert await told_in_dm(slack) == [
        f"Your trip of 03 Dec 2026 ({itinerary_id[:8]}) was rejected by an admin; nothing was booked. "
        "The draft is kept: change it and ask me to book it again."
    ]
    async with db.tenant((await traveller_identity(db)).tenant_id) as session:
        assert await session.scalar(select(Itinerary.status)) == "draft"

    # The kept draft can be sent again, and the approver is asked afresh.
    scripted_model.script(call("confirm_booking", itinerary_id=itinerary_id))
    await slack.send.dm(TEAM, TRAVELLER, "book it after all", thread_ts=thread_ts)
    await slack.settle()
    again = request_message(slack, thread_ts)
    assert again.ts != request.ts and [b["text"]["text"] for b in again.buttons()] == [
        "Send for approval",
        "Cancel",
    ]
    scripted_model.script(say("Sent again."))
    await slack.send.action(TEAM, TRAVELLER, again, button(again, "Send for approval"))
    await slack.settle()
    first, second = slack.fake.in_channel(ADMIN_DM)
    assert first.ts == ask.ts and first.buttons() == []
    assert "waits for approval before it is booked" in second.all_text()
    assert [b["text"]["text"] for b in second.buttons()] == ["Approve", "Reject"]


async def test_an_approve_button_sent_to_admins_before_the_approval_chain_answers_as_stale(
    slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    await held_for_approval(slack)
    thread_ts, itinerary_id = await plan_and_ask_to_book(slack, db, scripted_model)
    request = request_message(slack, thread_ts)
    # What the app used to send every admin: Approve / Reject that resumed the traveller's conversation.
    value = json.dumps(
        {
            "i": itinerary_id,
            "c": f"{TRAVELLER_DM}:{thread_ts}:{TRAVELLER}",
            "t": str((await traveller_identity(db)).user_id),
        }
    )
    old = slack.fake.add_message(
        ADMIN_DM,
        "Tom Traveller asks to book an out-of-policy trip: Berlin",
        [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*Tom Traveller* asks to book an out-of-policy trip."},
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Approve"},
                        "action_id": "travel_approve",
                        "value": value,
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Reject"},
                        "action_id": "travel_reject",
                        "value": value,
                    },
                ],
            },
        ],
    )
    requests_before = len(scripted_model.requests)
    await slack.send.action(TEAM, ADMIN, old, button(old, "Approve"))
    await slack.settle()

    stale = "This trip is no longer waiting for your answer (it was answered or moved on); nothing changed."
    assert [e["text"] for e in slack.fake.ephemeral] == [stale]
    answered = slack.fake.message(ADMIN_DM, old.ts)
    assert answered.buttons() == [] and stale in answered.all_text()
    # Nothing changed: nothing booked or asked, and Tom's own request still waits for him.
    assert await bookings_of(db) == [] and approval_requests(slack) == []
    assert len(scripted_model.requests) == requests_before
    assert [b["text"]["text"] for b in slack.fake.message(TRAVELLER_DM, request.ts).buttons()] == [
        "Send for approval",
        "Cancel",
    ]
    assert await told_in_dm(slack) == []


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
