"""The approval chain in Slack: the manager, then finance, each asked by DM with Approve / Reject.

A press decides once; a double click or a stale button answers with a sentence and changes nothing; the
traveller is told of each outcome in their Slack DM; a step past the timeout goes to the admins; /audit
shows every step.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from agent.approval_steps import ASKED
from bot.approval_escalation import escalate_every_company
from bot.reminder_delivery import ReminderChannels, SlackDirectMessages
from storage.audit import Actor
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.identities import resolve_identity
from storage.models import Booking
from storage.preferences import set_tenant_preference
from tests.conftest import NOW
from tests.fakes.scripted_model import ScriptedModel, say
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
from tests.test_approval_chain import CHAIN as CONSOLE_CHAIN
from tests.test_slack_buttons import button, plan_and_ask_to_book, request_message
from tests.test_slack_commands import run

CFO = "U0CFO"
MANAGER = OTHER  # Olga manages Tom
CHAIN = {**CONSOLE_CHAIN, "policy.hotel.max_nightly_rate": {"amount": 100, "currency": "EUR"}}


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
    manager_in_profile: bool = False,
) -> AsyncIterator[SlackHarness]:
    """Acme's workspace with Carl (finance) too, everyone introduced, and the company's approval chain."""
    token = acme_workspace(fake)
    fake.add_user(ACME, CFO, "Carl Finance", email="cfo@acme.test")
    if manager_in_profile:
        fake.set_profile_field(ACME, TRAVELLER, "Manager", MANAGER)
    async with slack_harness(
        db=db, embedded=embedded, model=model, fake=fake, bot_token=token, clock=lambda: clock[0]
    ) as harness:
        for user in (ADMIN, MANAGER, CFO, TRAVELLER):
            await harness.send.command(ACME, user, "help")
        await harness.settle()
        admin = await resolve_identity(db, channel="slack", workspace_id=ACME, external_user_id=ADMIN)
        assert admin is not None
        async with db.tenant(admin.tenant_id) as session:
            for key, value in CHAIN.items():
                await set_tenant_preference(session, actor=Actor.user(admin.user_id), key=key, value=value)
        harness.token = token  # type: ignore[attr-defined]
        yield harness


@pytest.fixture
async def slack(
    db: Database,
    embedded: EmbeddedUrls,
    scripted_model: ScriptedModel,
    fake_slack: FakeSlack,
    clock: list[dt.datetime],
) -> AsyncIterator[SlackHarness]:
    async with acme_with_a_chain(db, embedded, scripted_model, fake_slack, clock) as harness:
        named = await run(harness, ADMIN, "approvals manager tom@acme.test olga@acme.test")
        assert named == "Olga Other now approves the trips of Tom Traveller first."
        yield harness


async def book_for_later(slack: SlackHarness, db: Database, model: ScriptedModel) -> str:
    """Tom books an over-the-cap Berlin trip (628.90 EUR: finance too) now, for approval later."""
    thread_ts, itinerary_id = await plan_and_ask_to_book(slack, db, model)
    request = request_message(slack, thread_ts)
    model.script(say("Booked; your manager approves it later."))
    await slack.send.action(ACME, TRAVELLER, request, button(request, "Confirm booking"))
    await slack.settle()
    return itinerary_id


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


async def statuses(db: Database) -> set[str | None]:
    identity = await resolve_identity(db, channel="slack", workspace_id=ACME, external_user_id=TRAVELLER)
    assert identity is not None
    async with db.tenant(identity.tenant_id) as session:
        return {b.status for b in (await session.scalars(select(Booking))).all()}


async def press(slack: SlackHarness, user: str, message: Posted, label: str) -> None:
    await slack.send.action(ACME, user, message, button(message, label))
    await slack.settle()


async def audit_lines(slack: SlackHarness) -> str:
    return await run(slack, ADMIN, "audit 10")


async def test_manager_then_finance_approve_from_their_dms_once_each(
    slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    itinerary_id = await book_for_later(slack, db, scripted_model)
    trip = itinerary_id[:8]
    assert await statuses(db) == {"confirmed"}
    (ask,) = asked(slack, MANAGER)
    assert f"Tom Traveller's trip of 03 Dec 2026 ({trip}) was booked" in ask.all_text()
    assert "hotel cap: 100.00 EUR a night; this stay is 150.00 EUR a night" in ask.all_text()
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

    (finance,) = asked(slack, CFO)
    await press(slack, CFO, finance, "Approve")
    await press(slack, CFO, finance, "Reject")  # a stale button after the decision
    assert "nothing changed" in slack.fake.ephemeral[-1]["text"] and await statuses(db) == {"confirmed"}
    assert told(slack) == [
        f"Your trip of 03 Dec 2026 ({trip}) was approved by the traveller's manager; finance approves next.",
        f"Your trip of 03 Dec 2026 ({trip}) is approved.",
    ]
    log = await audit_lines(slack)
    assert f"policy.approve itinerary {itinerary_id} (manager step; finance next)" in log
    assert f"policy.approve itinerary {itinerary_id} (finance step)" in log
    assert f"policy.approve_later itinerary {itinerary_id} (1 reason out of policy)" in log


@pytest.mark.parametrize("step", ["manager", "finance"])
async def test_a_rejection_at_either_step_cancels_the_trip_and_tom_is_told(
    step: str, slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    itinerary_id = await book_for_later(slack, db, scripted_model)
    trip = itinerary_id[:8]
    (ask,) = asked(slack, MANAGER)
    if step == "finance":
        await press(slack, MANAGER, ask, "Approve")
        (ask,) = asked(slack, CFO)
    await press(slack, CFO if step == "finance" else MANAGER, ask, "Reject")
    assert await statuses(db) == {"cancelled"}
    assert (
        told(slack)[-1]
        == f"Your trip of 03 Dec 2026 ({trip}) was rejected by {ASKED[step]} and is cancelled."
    )
    assert "Rejected by" in slack.fake.message(ask.channel, ask.ts).all_text()
    assert f"policy.reject itinerary {itinerary_id} ({step} step)" in await audit_lines(slack)


async def test_a_step_past_the_timeout_goes_to_the_admins_and_the_managers_button_goes_stale(
    slack: SlackHarness,
    db: Database,
    worker_db: Database,
    scripted_model: ScriptedModel,
    clock: list[dt.datetime],
) -> None:
    await book_for_later(slack, db, scripted_model)
    (manager_ask,) = asked(slack, MANAGER)
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
    log = await audit_lines(slack)
    assert (
        "policy.approve itinerary" in log
        and "(manager step, escalated after the timeout; finance next)" in log
    )


async def test_the_manager_comes_from_the_slack_profile_when_no_admin_named_one(
    db: Database,
    embedded: EmbeddedUrls,
    scripted_model: ScriptedModel,
    fake_slack: FakeSlack,
    clock: list[dt.datetime],
) -> None:
    async with acme_with_a_chain(
        db, embedded, scripted_model, fake_slack, clock, manager_in_profile=True
    ) as slack:
        await book_for_later(slack, db, scripted_model)
        (ask,) = asked(slack, MANAGER)  # Olga, Tom's manager in his Slack profile, is asked first
        assert "(asked: the traveller's manager)" in ask.all_text() and asked(slack, CFO) == []
        assert "user.manager user" in await audit_lines(slack)
