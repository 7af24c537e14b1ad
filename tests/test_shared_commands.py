"""Commands every channel offers: privacy, audit and spend, answered in code without a model."""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from agent.checkpoints import checkpoint_saver
from agent.commands import CommandRunner
from agent.conversation import ConversationService
from agent.tools import Decision
from storage.audit import Actor
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.models import TenantUser
from storage.trips import record_trip
from tests.conftest import NOW, Company, traveller
from tests.fakes.scripted_model import ScriptedModel, say
from tests.test_agent_booking import ask_to_book, plan_berlin


@pytest.fixture
async def commands(db: Database, embedded: EmbeddedUrls) -> AsyncIterator[CommandRunner]:
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        yield CommandRunner(db, clock=lambda: NOW, saver=saver)


async def test_export_returns_a_bundle_of_the_callers_data(commands: CommandRunner, acme: Company) -> None:
    reply = await commands.run(traveller(acme), "/privacy export")
    (bundle,) = reply.attachments
    data = json.loads(zipfile.ZipFile(io.BytesIO(bundle.content)).read("export.json"))
    assert data["profile"][0]["email"] == "traveller@acme.test"
    refused = await commands.run(traveller(acme), "/privacy export admin@acme.test")
    assert refused.text == "Only an admin can act on another user's data." and not refused.attachments


async def test_forget_me_asks_first_then_erases(db: Database, commands: CommandRunner, acme: Company) -> None:
    asked = await commands.run(traveller(acme), "/privacy forget-me")
    # The hint is the exact text to type, slash included, and typing it erases.
    assert "To go ahead, send: /privacy forget-me confirm" in asked.text
    async with db.tenant(acme.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(TenantUser)) == 2
    done = await commands.run(traveller(acme), "/privacy forget-me confirm")
    assert done.text.startswith("Your personal data has been erased.")
    async with db.tenant(acme.tenant_id) as session:
        names = (await session.scalars(select(TenantUser.display_name))).all()
    assert "Acme Traveller" not in names


async def test_only_admins_erase_others_and_read_the_audit_log(
    commands: CommandRunner, acme: Company
) -> None:
    refused = await commands.run(traveller(acme), "/privacy erase admin@acme.test confirm")
    assert refused.text.startswith("Only an admin can erase another user")
    assert (
        await commands.run(traveller(acme), "/audit")
    ).text == "The audit log is for admins of your company."
    admin = traveller(acme, role="admin")
    assert (await commands.run(admin, "/privacy erase traveller@acme.test confirm")).text == (
        "traveller@acme.test has been erased."
    )
    log = (await commands.run(admin, "/audit 5")).text
    assert log.startswith("The latest") and "user.erase tenant_user" in log
    assert "traveller@acme.test" not in log


async def test_spend_commands_group_export_and_refuse(
    db: Database, commands: CommandRunner, acme: Company
) -> None:

    async with db.tenant(acme.tenant_id) as session:
        for month, spend in ((1, "400.00"), (2, "250.00"), (3, "100.00")):
            await record_trip(
                session,
                actor=Actor.user(acme.traveler_id),
                user_id=acme.traveler_id,
                trip={
                    "trip_id": uuid.uuid4(),
                    "destination": "Paris",
                    "start_date": f"2026-0{month}-10",
                    "end_date": f"2026-0{month}-12",
                    "total_spend": spend,
                    "spend_by_category": {"hotel": spend},
                },
            )
    by_month = await commands.run(traveller(acme), "/spend 2026 by month")
    assert "750.00" in by_month.text and len(by_month.attachments) == 1  # three rows: a chart comes along
    exported = await commands.run(traveller(acme), "/spend export 2026")
    (sheet,) = exported.attachments
    rows = list(csv.DictReader(io.StringIO(sheet.content.decode())))
    assert len(rows) == 3
    assert (await commands.run(traveller(acme), "/spend company 2026")).text.startswith(
        "Company-wide spend is for admins"
    )
    unknown = await commands.run(traveller(acme), "/spend 2026 by planet")
    assert "'planet' is not one of them" in unknown.text


async def test_reminders_are_listed_snoozed_and_muted_from_any_channel(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:

    itinerary_id = await plan_berlin(conversation, scripted_model, acme)
    await ask_to_book(conversation, scripted_model, acme, itinerary_id)
    scripted_model.script(say("Booked."))
    await conversation.resume(traveller(acme), "c1", Decision(approved=True))
    queued: list[object] = []

    async def queue(reminders: object) -> None:
        queued.extend(reminders)  # type: ignore[call-overload]

    commands = CommandRunner(db, clock=lambda: NOW, reminders_scheduled=queue)
    listing = (await commands.run(traveller(acme), "/reminders")).text
    short = itinerary_id.replace("-", "")[:8]
    assert listing.startswith("Upcoming reminders") and listing.count(short) == 6
    assert "Thu 26 Nov 09:00" in listing  # 7 days before 3 Dec, at 09:00 Berlin time

    snoozed = await commands.run(traveller(acme), f"/reminders snooze {short} 2d")
    # The flight and hotel reminders of 26 Nov move; the train's (28 Nov) is after the snooze anyway.
    assert snoozed.text == "Snoozed 2 reminders until Fri 27 Nov 11:00." and len(queued) == 2
    assert (
        await commands.run(traveller(acme), f"/reminders mute {short}")
    ).text == "Reminders for that trip are muted."
    assert "(muted)" in (await commands.run(traveller(acme), "/reminders")).text
    wrong = await commands.run(traveller(acme), "/reminders snooze ffffffff 2d")
    assert wrong.text.startswith("No single booked trip of yours has the id ffffffff")
    assert (
        "is not a duration" in (await commands.run(traveller(acme), f"/reminders snooze {short} soon")).text
    )
