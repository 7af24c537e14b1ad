"""What a broken rule needs, as the company set it (warn, justify, approve, block), in every channel alike.

The gate lives in the conversation service's booking tool, so the console, Slack and Telegram contexts get
the same answer for the same trip; every justification, approval and rejection is an audit entry.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from agent.checkpoints import checkpoint_saver
from agent.commands import CommandRunner
from agent.conversation import ConversationService
from agent.tools import Decision
from storage.audit import Actor
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.models import AuditEntry, Booking
from storage.privacy import erase_user
from tests.conftest import NOW, Company, traveller
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.test_policy_decisions import munich_trip
from tests.test_policy_scenarios import set_policy


async def over_the_cap(
    db: Database, conversation: ConversationService, model: ScriptedModel, company: Company, channel: str
) -> uuid.UUID:
    """A 190 EUR hotel against a 150 EUR cap, drafted and put up for confirmation in `channel`."""
    await set_policy(db, company, {"policy.hotel.max_nightly_rate": {"amount": 150, "currency": "EUR"}})
    model.script(call("create_draft_itinerary", munich_trip()), say("Drafted."))
    (card,) = (await conversation.handle_message(traveller(company, channel=channel), "t", "Plan")).cards
    model.script(call("confirm_booking", itinerary_id=str(card.itinerary_id)))
    asked = await conversation.handle_message(traveller(company, channel=channel), "t", "Book it")
    assert asked.confirmation is not None and asked.confirmation.violations
    return card.itinerary_id


async def audit(db: Database, company: Company) -> list[tuple[str, uuid.UUID | None, dict[str, Any]]]:
    async with db.tenant(company.tenant_id) as session:
        rows = await session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("policy.%")).order_by(AuditEntry.occurred_at)
        )
        return [(row.action, row.actor_user_id, row.details or {}) for row in rows]


async def booked(db: Database, company: Company) -> int:
    async with db.tenant(company.tenant_id) as session:
        return len((await session.scalars(select(Booking))).all())


@pytest.mark.parametrize("channel", ["console", "slack", "telegram"])
async def test_a_justification_books_the_same_trip_in_every_channel_and_is_audited(
    channel: str,
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
) -> None:
    await over_the_cap(db, conversation, scripted_model, acme, channel)
    scripted_model.script(say("A reason is needed."))
    await conversation.resume(traveller(acme, channel=channel), "t", Decision(approved=True))
    assert "A justification is needed to book it" in str(scripted_model.messages()[-2]["content"])
    assert await booked(db, acme) == 0

    await over_the_cap(db, conversation, scripted_model, acme, channel)
    scripted_model.script(say("Booked."))
    await conversation.resume(
        traveller(acme, channel=channel), "t", Decision(approved=True, justification="Trade fair week")
    )
    assert await booked(db, acme) == 2
    ((action, actor, details),) = await audit(db, acme)
    assert (action, actor, details["justification"]) == (
        "policy.justify",
        acme.traveler_id,
        "Trade fair week",
    )
    assert "40.00 EUR above the cap" in " ".join(details["reasons"]) and details["action"] == "justify"


@pytest.mark.parametrize("channel", ["console", "slack", "telegram"])
async def test_an_approval_rule_refuses_the_travellers_own_justification_in_every_channel(
    channel: str,
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
) -> None:
    await set_policy(db, acme, {"policy.actions": {"hotel_cap": "approve"}})
    await over_the_cap(db, conversation, scripted_model, acme, channel)
    pending = await conversation.pending_confirmation(traveller(acme, channel=channel), "t")
    assert pending is not None and pending.needs_approval and not pending.needs_justification
    scripted_model.script(say("An admin must approve."))
    await conversation.resume(
        traveller(acme, channel=channel), "t", Decision(approved=True, justification="I am sure")
    )
    assert "An admin must approve it before it is booked" in str(scripted_model.messages()[-2]["content"])
    assert await booked(db, acme) == 0


async def test_an_admin_approves_or_rejects_and_each_step_is_audited(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    await set_policy(db, acme, {"policy.actions": {"hotel_cap": "approve"}})
    for approved, expected_bookings in ((False, 0), (True, 2)):
        trip = await over_the_cap(db, conversation, scripted_model, acme, "slack")
        scripted_model.script(say("Decided."))
        await conversation.approve(
            traveller(acme, role="admin", channel="slack"),
            traveller(acme, channel="slack"),
            "t",
            Decision(approved=approved),
            itinerary_id=trip,
        )
        assert await booked(db, acme) == expected_bookings
    steps = await audit(db, acme)
    assert [(action, actor) for action, actor, _ in steps] == [
        ("policy.reject", acme.admin_id),
        ("policy.approve", acme.admin_id),
    ]
    assert all("40.00 EUR above the cap" in " ".join(details["reasons"]) for _, _, details in steps)


async def test_a_warning_rule_books_without_a_justification_and_a_blocked_supplier_never_books(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    await set_policy(db, acme, {"policy.actions": {"hotel_cap": "warn"}})
    await over_the_cap(db, conversation, scripted_model, acme, "telegram")
    scripted_model.script(say("Booked."))
    await conversation.resume(traveller(acme, channel="telegram"), "t", Decision(approved=True))
    assert await booked(db, acme) == 2
    assert [action for action, _, _ in await audit(db, acme)] == ["policy.warn"]

    await set_policy(db, acme, {"policy.blocked_suppliers": ["Motel One"]})
    await over_the_cap(db, conversation, scripted_model, acme, "console")
    scripted_model.script(say("Cannot."))
    await conversation.resume(
        traveller(acme), "t", Decision(approved=True, justification="It is the only hotel nearby")
    )
    result = str(scripted_model.messages()[-2]["content"])
    assert "cannot be booked under the company's policy" in result and "Motel One" in result
    assert await booked(db, acme) == 2  # only the first trip's


async def test_erasure_keeps_that_a_justification_was_given_but_not_its_words_or_whose(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    await over_the_cap(db, conversation, scripted_model, acme, "console")
    scripted_model.script(say("Booked."))
    await conversation.resume(
        traveller(acme), "t", Decision(approved=True, justification="My knee needs the lift")
    )
    async with db.tenant(acme.tenant_id) as session:
        await erase_user(session, actor=Actor.user(acme.admin_id), user_id=acme.traveler_id)
    ((action, actor, details),) = await audit(db, acme)
    assert (action, actor, details["justification"]) == ("policy.justify", None, "(erased)")
    assert "40.00 EUR above the cap" in " ".join(details["reasons"])


async def test_admins_read_each_policy_decision_in_the_audit_log(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    embedded: EmbeddedUrls,
    acme: Company,
) -> None:
    trip = await over_the_cap(db, conversation, scripted_model, acme, "telegram")
    scripted_model.script(say("Booked."))
    await conversation.resume(
        traveller(acme, channel="telegram"), "t", Decision(approved=True, justification="Trade fair week")
    )
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        commands = CommandRunner(db, clock=lambda: NOW, saver=saver)
        log = (await commands.run(traveller(acme, role="admin"), "/audit 5")).text
    assert f'policy.justify itinerary {trip} (1 reason out of policy: "Trade fair week")' in log


async def test_booked_now_approved_later_waits_in_approvals_until_an_admin_answers_once(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    embedded: EmbeddedUrls,
    acme: Company,
) -> None:
    await set_policy(db, acme, {"policy.actions": {"hotel_cap": "approve"}, "policy.approve_later": True})
    kept = await over_the_cap(db, conversation, scripted_model, acme, "telegram")
    pending = await conversation.pending_confirmation(traveller(acme, channel="telegram"), "t")
    assert pending is not None and not pending.needs_approval and not pending.needs_justification
    scripted_model.script(say("Booked; approval follows."))
    await conversation.resume(traveller(acme, channel="telegram"), "t", Decision(approved=True))
    dropped = await over_the_cap(db, conversation, scripted_model, acme, "console")
    scripted_model.script(say("Booked; approval follows."))
    await conversation.resume(traveller(acme), "t", Decision(approved=True))
    assert await booked(db, acme) == 4
    admin = traveller(acme, role="admin")
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        commands = CommandRunner(db, clock=lambda: NOW, saver=saver)
        nothing = (await commands.run(traveller(acme), "/approvals")).text
        assert nothing == "No trip is waiting for your approval."  # a traveller approves no one's trip
        report = (await commands.run(admin, "/spend company 2027")).text
        assert "Open approvals: 2 trips booked now, awaiting an admin (/approvals)." in report
        listed = (await commands.run(admin, "/approvals")).text
        assert listed.startswith("2 trips wait for your approval:") and str(kept)[:8] in listed
        assert "40.00 EUR above the cap" in listed
        assert (await commands.run(admin, f"/approvals approve {str(kept)[:8]}")).text == (
            f"Trip {str(kept)[:8]} approved."
        )
        assert (
            "may have been answered already"
            in (await commands.run(admin, f"/approvals approve {str(kept)[:8]}")).text
        )  # a double click or a stale button changes nothing
        assert (await commands.run(admin, f"/approvals reject {str(dropped)[:8]}")).text == (
            f"Trip {str(dropped)[:8]} rejected and cancelled."
        )
        assert (await commands.run(admin, "/approvals")).text == "No trip is waiting for your approval."
    async with db.tenant(acme.tenant_id) as session:
        statuses = {(b.itinerary_id, b.status) for b in (await session.scalars(select(Booking))).all()}
    assert statuses == {(kept, "confirmed"), (dropped, "cancelled")}
    assert [action for action, _, _ in await audit(db, acme)] == [
        "policy.approve_later",
        "policy.approve_later",
        "policy.approve",
        "policy.reject",
    ]
