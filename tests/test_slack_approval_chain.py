"""The approval chain in Slack: the manager, then finance, each asked by DM with Approve / Reject.

Whether the company books the trip now and has it approved later, or holds it as a draft until its last
approver says yes, the chain is the same: a press decides once; a double click or a stale button answers with
a sentence and changes nothing; the traveller is told of each outcome in their Slack DM; a step past the
timeout goes to the admins; /audit shows every step. Only what differs by mode branches: the traveller's
button, the bookings before the last approval, the final notice, and what a rejection does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import func, select

from agent.approval_steps import ASKED
from agent.context import user_context
from bot.approval_escalation import escalate_every_company
from bot.reminder_delivery import ReminderChannels, SlackDirectMessages
from bot.slack.approval_requests import CLOSED
from storage.audit import Actor
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.identities import resolve_identity
from storage.models import Booking, BookingReminder, Itinerary
from storage.preferences import set_tenant_preference
from storage.tenants import get_user
from tests.conftest import NOW
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.fakes.slack_api import (
    ACME,
    ADMIN,
    OTHER,
    TRAVELLER,
    FakeSlack,
    Posted,
    SlackHarness,
    acme_workspace,
    slack_harness,
)
from tests.plans import berlin_days
from tests.test_approval_chain import MODES, booked_before_approval, chain_for, requested
from tests.test_slack_buttons import button, outcome, plan_and_ask_to_book, request_message
from tests.test_slack_commands import run

CFO = "U0CFO"
MANAGER = OTHER  # Olga manages Tom
CAP = {"policy.hotel.max_nightly_rate": {"amount": 100, "currency": "EUR"}}
# The Berlin trip as the last approval of a held trip books it.
BOOKED = "Booked: 3 items, 628.90 EUR; reminders on 26 Nov, 28 Nov, 2 Dec and 4 Dec."


@pytest.fixture
async def clock() -> list[dt.datetime]:
    return [NOW]


@contextlib.asynccontextmanager
async def acme_with_a_chain(
    db: Database,
    embedded: EmbeddedUrls,
    model: ScriptedModel,
    fake: FakeSlack,
    clock: list[dt.datetime],
    *,
    mode: str,
    manager_in_profile: bool = False,
    policy: dict[str, object] | None = None,
) -> AsyncIterator[SlackHarness]:
    """Acme's workspace with Carl (finance) too, everyone introduced, and the company's approval chain:
    booked now and approved later, or held until approved, as `mode` says (with `policy`'s changes)."""
    token = acme_workspace(fake)
    fake.add_user(ACME, CFO, "Carl Finance", email="cfo@acme.test")
    if manager_in_profile:
        fake.set_profile_field(ACME, TRAVELLER, "Manager", MANAGER)
    async with slack_harness(
        db=db, embedded=embedded, model=model, fake=fake, bot_token=token, clock=lambda: clock[0]
    ) as harness:
        for user in (ADMIN, MANAGER, CFO, TRAVELLER):  # one after the other: the first becomes the admin
            await harness.send.command(ACME, user, "help")
            await harness.settle()
        admin = await resolve_identity(db, channel="slack", workspace_id=ACME, external_user_id=ADMIN)
        assert admin is not None
        async with db.tenant(admin.tenant_id) as session:
            for key, value in chain_for(mode, **CAP, **(policy or {})).items():
                await set_tenant_preference(session, actor=Actor.user(admin.user_id), key=key, value=value)
        harness.token = token  # type: ignore[attr-defined]
        yield harness


OpenAcme = Callable[..., contextlib.AbstractAsyncContextManager[SlackHarness]]


@pytest.fixture
def open_acme(
    db: Database,
    embedded: EmbeddedUrls,
    scripted_model: ScriptedModel,
    fake_slack: FakeSlack,
    clock: list[dt.datetime],
) -> OpenAcme:
    """`acme_with_a_chain` on this test's servers: call it with the mode (and manager_in_profile)."""
    return functools.partial(acme_with_a_chain, db, embedded, scripted_model, fake_slack, clock)


@pytest.fixture
async def slack(mode: str, open_acme: OpenAcme) -> AsyncIterator[SlackHarness]:
    async with open_acme(mode=mode) as harness:
        named = await run(harness, ADMIN, "approvals manager tom@acme.test olga@acme.test")
        assert named == "Olga Other now approves the trips of Tom Traveller first."
        yield harness


def confirm_label(mode: str) -> str:
    """The traveller's button on the request: a trip held until approved is sent, not booked."""
    return "Confirm booking" if mode == "later" else "Send for approval"


async def confirm(slack: SlackHarness, db: Database, model: ScriptedModel, mode: str) -> tuple[str, Posted]:
    """Tom confirms an over-the-cap Berlin trip (628.90 EUR: finance too) with the request's button;
    returns the itinerary id and the request message."""
    thread_ts, itinerary_id = await plan_and_ask_to_book(slack, db, model)
    request = request_message(slack, thread_ts)
    model.script(say("Done; your manager is asked."))
    await slack.send.action(ACME, TRAVELLER, request, button(request, confirm_label(mode)))
    await slack.settle()
    return itinerary_id, request


async def put_to_olga(
    slack: SlackHarness, db: Database, model: ScriptedModel, mode: str
) -> tuple[str, Posted]:
    """Tom confirms the trip; returns its itinerary id and the one request in Olga's (his manager's) DM."""
    itinerary_id, _ = await confirm(slack, db, model, mode)
    (ask,) = asked(slack, MANAGER)
    return itinerary_id, ask


def asked(slack: SlackHarness, user: str) -> list[Posted]:
    """The chain's requests in a person's DM, as they read now."""
    return [m for m in slack.fake.in_channel("D" + user) if "waits for approval" in m.all_text()]


def told(slack: SlackHarness) -> list[str]:
    """What Tom was told in his DM outside any thread."""
    return [
        m.text
        for m in slack.fake.in_channel("D" + TRAVELLER)
        if m.thread_ts is None and m.text.startswith("Your trip")
    ]


async def acme_id(db: Database) -> uuid.UUID:
    identity = await resolve_identity(db, channel="slack", workspace_id=ACME, external_user_id=TRAVELLER)
    assert identity is not None
    return identity.tenant_id


async def statuses(db: Database) -> set[str | None]:
    async with db.tenant(await acme_id(db)) as session:
        return {b.status for b in (await session.scalars(select(Booking))).all()}


async def reminders(db: Database) -> int:
    async with db.tenant(await acme_id(db)) as session:
        return int(await session.scalar(select(func.count()).select_from(BookingReminder)) or 0)


async def trip_state(db: Database) -> str | None:
    async with db.tenant(await acme_id(db)) as session:
        return await session.scalar(select(Itinerary.status))


async def press(slack: SlackHarness, user: str, message: Posted, label: str) -> None:
    await slack.send.action(ACME, user, message, button(message, label))
    await slack.settle()


async def audit_lines(slack: SlackHarness) -> str:
    return await run(slack, ADMIN, "audit 20")


@pytest.mark.parametrize("mode", MODES)
async def test_manager_then_finance_approve_from_their_dms_once_each(
    mode: str, slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    itinerary_id, request = await confirm(slack, db, scripted_model, mode)
    trip = itinerary_id[:8]
    assert await statuses(db) == booked_before_approval(mode)
    # What Tom read before he pressed: where the trip goes, and when it is booked.
    assert request.text == (
        "Please confirm this booking. Berlin, 03 Dec – 05 Dec 2026"
        if mode == "later"
        else "Send this trip for approval? Berlin, 03 Dec – 05 Dec 2026"
    )
    assert (
        "Confirming books it now; your manager, then your company's finance approvers approve it afterwards, "
        "a rejection cancels it, and you will be told each answer."
        if mode == "later"
        else "It goes to your manager, then your company's finance approvers for approval and is "
        "booked once approved; nothing is booked until then."
    ) in request.all_text()
    settled = outcome(slack.fake.message("D" + TRAVELLER, request.ts))
    if mode == "held":  # Tom's request shows it went to the chain, and so does his thread
        assert settled.startswith(":white_check_mark: Sent for approval by <@U0TRAVEL> · <!date^")
        sent = (
            "Sent for approval to your manager; nothing is booked until the last approver says yes, "
            "and you will be told each answer."
        )
        assert settled.endswith(f"— {sent}")
        assert [m.text for m in slack.fake.thread("D" + TRAVELLER, str(request.thread_ts))][-2] == sent
    else:
        assert settled.startswith(":white_check_mark: Booked by <@U0TRAVEL>")
    (ask,) = asked(slack, MANAGER)
    state = (
        "was booked and waits for approval" if mode == "later" else "waits for approval before it is booked"
    )
    assert f"Tom Traveller's trip of 03 Dec 2026 ({trip}) {state}" in ask.all_text()
    assert "hotel cap: 100.00 EUR a night; this stay is 150.00 EUR a night" in ask.all_text()
    # The trip itself, as the approver decides on it: its items and its total.
    assert "Motel One Berlin-Mitte — 300.00 EUR" in ask.all_text()
    assert "*Estimated total:* 628.90 EUR" in ask.all_text()
    assert [b["text"]["text"] for b in ask.buttons()] == ["Approve", "Reject"]
    assert asked(slack, CFO) == [] and asked(slack, ADMIN) == []

    await press(slack, TRAVELLER, ask, "Approve")  # Tom cannot approve his own trip
    assert slack.fake.ephemeral[-1]["text"].startswith("This trip is no longer waiting for your answer")
    await press(slack, MANAGER, ask, "Approve")
    decided = slack.fake.message("D" + MANAGER, ask.ts)
    assert decided.buttons() == []
    assert "Approved by Olga Other (the traveller's manager); finance approves next." in decided.all_text()
    await press(slack, MANAGER, ask, "Approve")  # a double click
    assert "nothing changed" in slack.fake.ephemeral[-1]["text"]
    assert await statuses(db) == booked_before_approval(mode)

    (finance,) = asked(slack, CFO)
    await press(slack, CFO, finance, "Approve")
    last = slack.fake.message("D" + CFO, finance.ts).all_text()
    then = "." if mode == "later" else "; booked for the traveller."
    assert f"Approved by Carl Finance (finance){then}" in last
    await press(slack, CFO, finance, "Reject")  # a stale button after the decision
    assert "nothing changed" in slack.fake.ephemeral[-1]["text"] and await statuses(db) == {"confirmed"}
    assert await reminders(db) > 0
    assert told(slack) == [
        f"Your trip of 03 Dec 2026 ({trip}) was approved by the traveller's manager; finance approves next.",
        f"Your trip of 03 Dec 2026 ({trip}) is approved."
        if mode == "later"
        else f"Your trip of 03 Dec 2026 ({trip}) is approved and booked. {BOOKED}",
    ]
    log = await audit_lines(slack)
    assert f"{requested(mode)} itinerary {itinerary_id} (1 reason out of policy)" in log
    assert f"policy.approve itinerary {itinerary_id} (manager step; finance next)" in log
    assert f"policy.approve itinerary {itinerary_id} (finance step)" in log


async def test_a_trip_sent_for_approval_twice_is_sent_once_and_its_request_shows_it(
    open_acme: OpenAcme, db: Database, scripted_model: ScriptedModel
) -> None:
    async with open_acme(mode="held") as slack:
        thread_ts, itinerary_id = await plan_and_ask_to_book(slack, db, scripted_model)
        request = request_message(slack, thread_ts)
        assert [b["text"]["text"] for b in request.buttons()] == ["Send for approval", "Cancel"]
        # No manager is named: Carl (finance, above the threshold) is asked first.
        assert (
            "It goes to your company's finance approvers for approval and is booked once approved; "
            "nothing is booked until then." in request.all_text()
        )
        scripted_model.script(say("Sent; finance decides."))
        for _ in range(2):  # a double click
            await slack.send.action(ACME, TRAVELLER, request, button(request, "Send for approval"))
        await slack.settle()
        settled = slack.fake.message("D" + TRAVELLER, request.ts)
        assert settled.buttons() == []
        assert outcome(settled).startswith(":white_check_mark: Sent for approval by <@U0TRAVEL> · <!date^")
        assert outcome(settled).endswith(
            "— Sent for approval to finance; nothing is booked until the last approver says yes, "
            "and you will be told each answer."
        )
        said = [m.text for m in slack.fake.thread("D" + TRAVELLER, thread_ts)]
        assert said[-2].startswith("Sent for approval to finance") and said[-1] == "Sent; finance decides."
        assert [e["text"] for e in slack.fake.ephemeral] == [
            "This request is no longer waiting for a decision; nothing more was done."
        ]
        (ask,) = asked(slack, CFO)
        assert (
            f"({itinerary_id[:8]}) waits for approval before it is booked (asked: finance)" in ask.all_text()
        )
        assert asked(slack, MANAGER) == [] and await statuses(db) == set()
        await press(slack, TRAVELLER, request, "Send for approval")  # the settled request, pressed again
        assert slack.fake.ephemeral[-1]["text"].startswith("This request is no longer waiting")
        assert len(asked(slack, CFO)) == 1
        log = await audit_lines(slack)
        assert log.count(f"policy.request itinerary {itinerary_id}") == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("step", ["manager", "finance"])
async def test_a_rejection_at_either_step_ends_the_chain_and_tom_is_told(
    mode: str, step: str, slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    itinerary_id, ask = await put_to_olga(slack, db, scripted_model, mode)
    trip = itinerary_id[:8]
    if step == "finance":
        await press(slack, MANAGER, ask, "Approve")
        (ask,) = asked(slack, CFO)
    await press(slack, CFO if step == "finance" else MANAGER, ask, "Reject")
    which = f"Your trip of 03 Dec 2026 ({trip}) was rejected by {ASKED[step]}"
    if mode == "later":  # booked already: the rejection cancels it
        assert await statuses(db) == {"cancelled"}
        assert told(slack)[-1] == f"{which} and is cancelled."
    else:  # held: nothing was booked, and the draft stays for Tom to change
        assert await statuses(db) == set() and await trip_state(db) == "draft"
        assert told(slack)[-1] == (
            f"{which}; nothing was booked. The draft is kept: change it and ask me to book it again."
        )
    assert "Rejected by" in slack.fake.message(ask.channel, ask.ts).all_text()
    await press(slack, CFO if step == "finance" else MANAGER, ask, "Approve")  # stale after the rejection
    assert "nothing changed" in slack.fake.ephemeral[-1]["text"]
    assert await statuses(db) == ({"cancelled"} if mode == "later" else set())
    assert f"policy.reject itinerary {itinerary_id} ({step} step)" in await audit_lines(slack)


@pytest.mark.parametrize("mode", MODES)
async def test_a_step_past_the_timeout_goes_to_the_admins_and_the_managers_button_goes_stale(
    mode: str,
    slack: SlackHarness,
    db: Database,
    worker_db: Database,
    scripted_model: ScriptedModel,
    clock: list[dt.datetime],
) -> None:
    itinerary_id, manager_ask = await put_to_olga(slack, db, scripted_model, mode)
    token: str = slack.token  # type: ignore[attr-defined]

    async def installed(_tenant: uuid.UUID, workspace: str) -> str | None:
        return token if workspace == ACME else None

    channels = ReminderChannels({"slack": SlackDirectMessages(api_url=slack.fake.base_url, tokens=installed)})
    try:  # the worker's cron, with the worker's own Slack client
        assert await escalate_every_company(worker_db, channels, now=clock[0]) == 0
        clock[0] = NOW + dt.timedelta(hours=25)
        assert await escalate_every_company(worker_db, channels, now=clock[0]) == 1
        assert await escalate_every_company(worker_db, channels, now=clock[0]) == 0
    finally:
        await channels.close()
    assert told(slack)[-1].endswith(
        "waited past the timeout for the traveller's manager; an admin may answer it now."
    )
    (escalated,) = asked(slack, ADMIN)
    assert "escalated after the timeout" in escalated.all_text()
    await press(slack, ADMIN, escalated, "Approve")
    await press(slack, MANAGER, manager_ask, "Approve")  # the step has moved on to finance
    assert "nothing changed" in slack.fake.ephemeral[-1]["text"]
    assert len(asked(slack, CFO)) == 1
    assert "finance approves next" in told(slack)[-1]
    assert await statuses(db) == booked_before_approval(mode)
    log = await audit_lines(slack)
    assert f"policy.escalate itinerary {itinerary_id} (manager step, escalated after the timeout)" in log
    assert (
        f"policy.approve itinerary {itinerary_id} (manager step, escalated after the timeout; finance next)"
        in log
    )


@pytest.mark.parametrize("mode", MODES)
async def test_the_manager_comes_from_the_slack_profile_when_no_admin_named_one(
    mode: str, open_acme: OpenAcme, db: Database, scripted_model: ScriptedModel
) -> None:
    async with open_acme(mode=mode, manager_in_profile=True) as slack:
        await confirm(slack, db, scripted_model, mode)
        (ask,) = asked(slack, MANAGER)  # Olga, Tom's manager in his Slack profile, is asked first
        assert "(asked: the traveller's manager)" in ask.all_text() and asked(slack, CFO) == []
        assert "user.manager user" in await audit_lines(slack)


@pytest.mark.parametrize("mode", MODES)
async def test_an_answer_typed_as_a_command_does_what_the_button_does(
    mode: str, slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    itinerary_id, ask = await put_to_olga(slack, db, scripted_model, mode)
    trip = itinerary_id[:8]
    assert (
        await run(slack, MANAGER, f"approvals approve {trip}")
        == f"Trip {trip} approved; finance approves next."
    )
    decided = slack.fake.message("D" + MANAGER, ask.ts)  # the DM's buttons are gone too
    assert decided.buttons() == []
    assert "Approved by Olga Other (the traveller's manager); finance approves next." in decided.all_text()
    assert told(slack) == [
        f"Your trip of 03 Dec 2026 ({trip}) was approved by the traveller's manager; finance approves next."
    ]
    (finance,) = asked(slack, CFO)  # finance is asked in Slack at once
    assert "No trip" in await run(slack, MANAGER, f"approvals approve {trip}")  # typed twice
    await press(slack, CFO, finance, "Approve")
    assert await statuses(db) == {"confirmed"} and len(told(slack)) == 2


@pytest.mark.parametrize("mode", ["held"])
async def test_a_held_trip_tom_changes_leaves_the_approvers_dm_and_is_asked_for_afresh(
    mode: str, slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    itinerary_id, request = await confirm(slack, db, scripted_model, mode)
    (ask,) = asked(slack, MANAGER)
    thread_ts = str(request.thread_ts)
    cheaper = {**berlin_days("120.00"), "itinerary_id": itinerary_id}
    scripted_model.script(
        call("update_draft_itinerary", cheaper), say("A cheaper hotel, still over the cap.")
    )
    await slack.send.dm(ACME, TRAVELLER, "a cheaper hotel please", thread_ts=thread_ts)
    await slack.settle()
    withdrawn = slack.fake.message("D" + MANAGER, ask.ts)  # Olga has nothing left to answer
    assert withdrawn.buttons() == [] and outcome(withdrawn) == CLOSED
    await press(slack, MANAGER, ask, "Approve")
    assert "nothing changed" in slack.fake.ephemeral[-1]["text"] and await statuses(db) == set()
    assert f"policy.withdraw itinerary {itinerary_id}" in await audit_lines(slack)

    # Tom sends the changed trip: Olga is asked about it as it is now.
    scripted_model.script(call("confirm_booking", itinerary_id=itinerary_id))
    await slack.send.dm(ACME, TRAVELLER, "book it", thread_ts=thread_ts)
    await slack.settle()
    again = request_message(slack, thread_ts)
    scripted_model.script(say("Sent again."))
    await press(slack, TRAVELLER, again, "Send for approval")
    (fresh,) = asked(slack, MANAGER)
    assert fresh.ts != ask.ts and "this stay is 120.00 EUR a night" in fresh.all_text()
    await press(slack, MANAGER, fresh, "Approve")
    assert len(asked(slack, CFO)) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_a_traveller_who_is_an_admin_cannot_approve_their_own_escalated_trip(
    mode: str,
    slack: SlackHarness,
    db: Database,
    scripted_model: ScriptedModel,
    clock: list[dt.datetime],
) -> None:
    assert await run(slack, ADMIN, "admins add <@U0TRAVEL|tom>") == "Tom Traveller is now an admin."
    itinerary_id, _ = await confirm(slack, db, scripted_model, mode)
    trip = itinerary_id[:8]
    clock[0] = NOW + dt.timedelta(hours=25)  # past the timeout: any admin may answer the manager's step
    assert trip in await run(slack, ADMIN, "approvals")
    assert await run(slack, TRAVELLER, "approvals") == "No trip is waiting for your approval."
    refused = await run(slack, TRAVELLER, f"approvals approve {trip}")
    assert refused.startswith(f"No trip {trip} is waiting for your approval")
    (ask,) = asked(slack, MANAGER)
    await press(slack, TRAVELLER, ask, "Approve")  # nor with the manager's button's payload
    assert "nothing changed" in slack.fake.ephemeral[-1]["text"]
    assert await statuses(db) == booked_before_approval(mode) and len(told(slack)) == 0


@pytest.mark.parametrize("mode", MODES)
async def test_a_step_answered_in_another_channel_shows_in_slack_at_once(
    mode: str, slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    itinerary_id, ask = await put_to_olga(slack, db, scripted_model, mode)
    trip = itinerary_id[:8]
    olga = await resolve_identity(db, channel="slack", workspace_id=ACME, external_user_id=MANAGER)
    assert olga is not None
    async with db.tenant(olga.tenant_id) as session:
        manager = user_context(await get_user(session, user_id=olga.user_id), channel="console")
    answered = await slack.product.commands.run(manager, f"/approvals approve {trip}")  # in the console
    assert answered.text == f"Trip {trip} approved; finance approves next."

    # Her Slack request shows the answer, Tom is told in his DM and finance is asked in Slack, at once.
    decided = slack.fake.message("D" + MANAGER, ask.ts)
    assert decided.buttons() == []
    assert "Approved by Olga Other (the traveller's manager); finance approves next." in decided.all_text()
    assert told(slack)[-1].endswith("was approved by the traveller's manager; finance approves next.")
    (finance,) = asked(slack, CFO)
    await press(slack, MANAGER, ask, "Approve")  # her request, pressed afterwards
    assert "nothing changed" in slack.fake.ephemeral[-1]["text"] and len(asked(slack, CFO)) == 1
    await press(slack, CFO, finance, "Approve")
    assert await statuses(db) == {"confirmed"}


@pytest.mark.parametrize("mode", MODES)
async def test_below_the_finance_threshold_the_managers_yes_is_the_last(
    mode: str, open_acme: OpenAcme, db: Database, scripted_model: ScriptedModel
) -> None:
    higher = {"policy.approval.finance_threshold": {"amount": 5000, "currency": "EUR"}}
    async with open_acme(mode=mode, policy=higher) as slack:
        await run(slack, ADMIN, "approvals manager tom@acme.test olga@acme.test")
        itinerary_id, ask = await put_to_olga(slack, db, scripted_model, mode)
        await press(slack, MANAGER, ask, "Approve")
        then = "." if mode == "later" else "; booked for the traveller."
        assert f"Approved by Olga Other (the traveller's manager){then}" in outcome(
            slack.fake.message(ask.channel, ask.ts)
        )
        assert asked(slack, CFO) == [] and await statuses(db) == {"confirmed"}
        assert told(slack) == [
            f"Your trip of 03 Dec 2026 ({itinerary_id[:8]}) is approved"
            + ("." if mode == "later" else f" and booked. {BOOKED}")
        ]


@pytest.mark.parametrize("mode", ["held"])
async def test_an_answer_stands_when_slack_fails_to_show_it_and_the_stale_request_closes_when_pressed(
    mode: str, slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    itinerary_id, ask = await put_to_olga(slack, db, scripted_model, mode)
    trip = itinerary_id[:8]
    olga = await resolve_identity(db, channel="slack", workspace_id=ACME, external_user_id=MANAGER)
    assert olga is not None
    async with db.tenant(olga.tenant_id) as session:
        manager = user_context(await get_user(session, user_id=olga.user_id), channel="console")
    slack.fake.fail_next("chat.update", status=500)  # Slack is down just as her request would be rewritten
    answered = await slack.product.commands.run(manager, f"/approvals approve {trip}")  # in the console
    assert answered.text == f"Trip {trip} approved; finance approves next."  # the answer stands
    assert slack.fake.message("D" + MANAGER, ask.ts).buttons() != []  # her request still shows its buttons
    (finance,) = asked(slack, CFO)  # and the rest went on: finance is asked, Tom is told
    assert told(slack)[-1].endswith("was approved by the traveller's manager; finance approves next.")

    await press(slack, MANAGER, ask, "Approve")  # the stale request, pressed: nothing changes, it closes
    assert "nothing changed" in slack.fake.ephemeral[-1]["text"]
    closed = slack.fake.message("D" + MANAGER, ask.ts)
    assert closed.buttons() == [] and outcome(closed) == CLOSED
    assert len(asked(slack, CFO)) == 1 and await statuses(db) == set()
    await press(slack, CFO, finance, "Approve")
    assert await statuses(db) == {"confirmed"}
