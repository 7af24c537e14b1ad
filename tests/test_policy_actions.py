"""What a broken rule needs, as the company set it (warn, justify, approve, block), in every channel alike.

The gate lives in the conversation service's booking tool, so the console, Slack and Telegram contexts get
the same answer for the same trip; every justification, approval and rejection is an audit entry.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from agent.checkpoints import checkpoint_saver
from agent.commands import CommandRunner
from agent.context import Context
from agent.conversation import ConversationService
from agent.privacy import export_bundle
from agent.tools import Decision
from storage.audit import Actor
from storage.console_outbox import console_messages
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.errors import Conflict
from storage.itineraries import update_draft
from storage.models import AuditEntry, Booking
from storage.policy_verdicts import booking_verdicts
from storage.privacy import erase_user
from storage.tenants import get_user
from storage.trip_approvals import open_approvals
from tests.conftest import NOW, Company, traveller
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.test_approval_chain import colleague
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


async def sent_for_approval(
    db: Database,
    conversation: ConversationService,
    model: ScriptedModel,
    company: Company,
    channel: str,
    *,
    justification: str | None = None,
) -> uuid.UUID:
    """The over-the-cap trip under an `approve` rule, confirmed by the traveller: held for its approvers."""
    await set_policy(db, company, {"policy.actions": {"hotel_cap": "approve"}})
    trip = await over_the_cap(db, conversation, model, company, channel)
    model.script(say("Sent for approval."))
    await conversation.resume(
        traveller(company, channel=channel), "t", Decision(approved=True, justification=justification)
    )
    return trip


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
async def test_an_approval_rule_holds_the_trip_for_its_approvers_in_every_channel(
    channel: str,
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
) -> None:
    await set_policy(db, acme, {"policy.actions": {"hotel_cap": "approve"}})
    trip = await over_the_cap(db, conversation, scripted_model, acme, channel)
    pending = await conversation.pending_confirmation(traveller(acme, channel=channel), "t")
    assert pending is not None and pending.needs_approval and not pending.needs_justification
    assert pending.approval_note.startswith("It goes to an admin of your company for approval")
    scripted_model.script(say("Sent for approval."))
    reply = await conversation.resume(
        traveller(acme, channel=channel), "t", Decision(approved=True, justification="Trade fair week")
    )
    assert reply.outcome is not None and reply.outcome.held and not reply.outcome.booked
    assert reply.outcome.summary.startswith("Sent for approval to an admin; nothing is booked until")
    assert await booked(db, acme) == 0
    async with db.tenant(acme.tenant_id) as session:
        (waiting,) = await open_approvals(session)
    assert (waiting.itinerary_id, waiting.booked, waiting.step) == (trip, False, "admin")
    assert waiting.justification == "Trade fair week"
    ((action, actor, details),) = await audit(db, acme)
    assert (action, actor, details["justification"]) == (
        "policy.request",
        acme.traveler_id,
        "Trade fair week",
    )


async def run_command(db: Database, embedded: EmbeddedUrls, ctx: Context, line: str) -> str:
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        return (await CommandRunner(db, clock=lambda: NOW, saver=saver).run(ctx, line)).text


async def test_a_held_trip_is_booked_for_the_traveller_by_its_last_approval_and_a_rejection_keeps_the_draft(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    embedded: EmbeddedUrls,
    acme: Company,
) -> None:
    admin = traveller(acme, role="admin")
    trip = await sent_for_approval(db, conversation, scripted_model, acme, "console")
    short = str(trip)[:8]
    assert await run_command(db, embedded, traveller(acme), f"/approvals approve {short}") == (
        f"No trip {short} is waiting for your approval; it may have been answered already."
    )  # a traveller approves no trip, not even their own
    rejected = await run_command(db, embedded, admin, f"/approvals reject {short}")
    assert rejected == f"Trip {short} rejected; nothing was booked."
    assert await booked(db, acme) == 0

    # The draft is kept: the traveller asks again, and this time the admin approves.
    scripted_model.script(call("confirm_booking", itinerary_id=str(trip)))
    again = await conversation.handle_message(traveller(acme), "t", "Please book it again")
    assert again.confirmation is not None and again.confirmation.needs_approval
    scripted_model.script(say("Sent again."))
    await conversation.resume(traveller(acme), "t", Decision(approved=True))
    approved = await run_command(db, embedded, admin, f"/approvals approve {short}")
    assert approved.startswith(
        f"Trip {short} approved and booked for the traveller. Booked: 2 items, 310.00 EUR"
    )
    async with db.tenant(acme.tenant_id) as session:
        bookings = (await session.scalars(select(Booking))).all()
        verdicts = await booking_verdicts(session, booking_ids=[b.booking_id for b in bookings])
    assert {b.user_id for b in bookings} == {acme.traveler_id}  # the traveller's trip, approved by the admin
    assert {b.booking_details["approved_by"] for b in bookings} == {str(acme.admin_id)}
    assert {(v.status, v.approved_by) for v in verdicts.values()} == {
        ("violation", acme.admin_id),
        ("ok", acme.admin_id),
    }
    assert [(action, actor) for action, actor, _ in await audit(db, acme)] == [
        ("policy.request", acme.traveler_id),
        ("policy.reject", acme.admin_id),
        ("policy.request", acme.traveler_id),
        ("policy.approve", acme.admin_id),
    ]
    async with db.tenant(acme.tenant_id) as session:
        told = [m.body for m in await console_messages(session, user_id=acme.traveler_id)]
    assert told[0] == (
        f"Your trip of 11 Jan 2027 ({short}) was rejected by an admin; nothing was booked. "
        "The draft is kept: change it and ask me to book it again."
    )
    assert told[1].startswith(f"Your trip of 11 Jan 2027 ({short}) is approved and booked. Booked: 2 items")


async def test_a_held_trip_changed_or_confirmed_again_is_not_approved_behind_the_travellers_back(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    embedded: EmbeddedUrls,
    acme: Company,
) -> None:
    trip = await sent_for_approval(db, conversation, scripted_model, acme, "telegram")

    scripted_model.script(call("confirm_booking", itinerary_id=str(trip)), say("It already waits."))
    await conversation.handle_message(traveller(acme, channel="telegram"), "t", "Book it now")
    result = str(scripted_model.messages()[-2]["content"])
    assert "That trip already waits for approval (asked: an admin)" in result

    # A cheaper hotel: the approvers were asked about the trip as it was, so the request is withdrawn.
    revised = munich_trip(hotel_cost="180.00")
    scripted_model.script(call("update_draft_itinerary", itinerary_id=str(trip), **revised), say("Revised."))
    await conversation.handle_message(traveller(acme, channel="telegram"), "t", "Take a cheaper hotel")
    admin = traveller(acme, role="admin")
    answer = await run_command(db, embedded, admin, f"/approvals approve {str(trip)[:8]}")
    assert "may have been answered already" in answer and await booked(db, acme) == 0
    assert [action for action, _, _ in await audit(db, acme)] == ["policy.request", "policy.withdraw"]


async def test_a_held_trip_blocked_by_the_policy_at_its_last_approval_is_not_booked(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    embedded: EmbeddedUrls,
    acme: Company,
) -> None:
    trip = await sent_for_approval(db, conversation, scripted_model, acme, "slack")
    await set_policy(db, acme, {"policy.actions": {"hotel_cap": "block"}})  # tightened while it waited
    admin = traveller(acme, role="admin")
    answer = await run_command(db, embedded, admin, f"/approvals approve {str(trip)[:8]}")
    assert answer.startswith(
        f"Trip {str(trip)[:8]} approved, but it could not be booked: This trip cannot be booked under the "
        "company's policy (Motel One München-City: hotel cap: 150.00 EUR a night"
    )
    assert await booked(db, acme) == 0


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
        assert "Open approvals: 2 booked now and awaiting approval (/approvals)." in report
        assert f"  Acme Traveller, trip of 11 Jan 2027 ({str(kept)[:8]}), booked, asked: an admin: " in report
        assert "(approval pending)." in report  # each of their bookings, among the out-of-policy ones
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


async def test_a_travellers_export_holds_their_verdicts_and_approvals_and_an_approvers_erasure_unnames_them(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    embedded: EmbeddedUrls,
    acme: Company,
) -> None:
    trip = await sent_for_approval(
        db, conversation, scripted_model, acme, "console", justification="Trade fair week"
    )
    approver = await colleague(db, acme, "approver")
    async with db.tenant(acme.tenant_id) as session:  # the approver is an admin too
        (await get_user(session, user_id=approver.user_id)).role = "admin"
    await run_command(db, embedded, approver, f"/approvals approve {str(trip)[:8]}")

    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        bundle = await export_bundle(db, saver, tenant_id=acme.tenant_id, user_id=acme.traveler_id)
    data = json.loads(zipfile.ZipFile(io.BytesIO(bundle.content)).read("export.json"))
    (approval,) = data["trip_approvals"]
    assert (approval["status"], approval["justification"]) == ("approved", "Trade fair week")
    assert approval["decided_by"] == str(approver.user_id)
    assert sorted(v["status"] for v in data["policy_verdicts"]) == ["ok", "violation"]

    async with db.tenant(acme.tenant_id) as session:
        await erase_user(session, actor=Actor.user(acme.admin_id), user_id=approver.user_id)
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        bundle = await export_bundle(db, saver, tenant_id=acme.tenant_id, user_id=acme.traveler_id)
    data = json.loads(zipfile.ZipFile(io.BytesIO(bundle.content)).read("export.json"))
    assert (
        data["trip_approvals"][0]["status"] == "approved" and data["trip_approvals"][0]["decided_by"] is None
    )
    assert {v["approved_by"] for v in data["policy_verdicts"]} == {None}


async def test_a_trip_no_one_else_could_approve_is_refused_before_it_waits_for_ever(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    embedded: EmbeddedUrls,
    acme: Company,
) -> None:
    # The company's only admin plans their own trip: no one else may answer any step of its chain.
    await set_policy(
        db,
        acme,
        {
            "policy.actions": {"hotel_cap": "approve"},
            "policy.hotel.max_nightly_rate": {"amount": 150, "currency": "EUR"},
        },
    )
    admin = traveller(acme, role="admin")
    scripted_model.script(call("create_draft_itinerary", munich_trip()), say("Drafted."))
    (card,) = (await conversation.handle_message(admin, "own", "Plan Munich")).cards
    scripted_model.script(call("confirm_booking", itinerary_id=str(card.itinerary_id)), say("Cannot yet."))
    asked = await conversation.handle_message(admin, "own", "Book it")
    assert asked.confirmation is None and await booked(db, acme) == 0
    result = str(scripted_model.messages()[-2]["content"])
    assert "no one in your company but you can give it (asked: an admin)" in result
    assert "/approvals manager YOUR_EMAIL MANAGER_EMAIL" in result

    # Once a manager is named, the same trip goes to them.
    manager = await colleague(db, acme, "manager")
    named = await run_command(db, embedded, admin, "/approvals manager admin@acme.test manager@acme.test")
    assert named == "Manager now approves the trips of Acme Admin first."
    scripted_model.script(call("confirm_booking", itinerary_id=str(card.itinerary_id)))
    again = await conversation.handle_message(admin, "own", "Book it now")
    assert again.confirmation is not None and again.confirmation.approvers == ("manager",)
    scripted_model.script(say("Sent."))
    await conversation.resume(admin, "own", Decision(approved=True))
    answer = await run_command(db, embedded, manager, f"/approvals approve {str(card.itinerary_id)[:8]}")
    assert answer.startswith(f"Trip {str(card.itinerary_id)[:8]} approved and booked for the traveller.")


@pytest.mark.parametrize(
    ("approver_waits", "traveller_waits"), [(0, 0), (0.2, 0), (0, 0.2), (0.05, 0), (0, 0.05)]
)
async def test_a_last_approval_racing_a_change_to_the_held_draft_lets_exactly_one_win(
    approver_waits: float,
    traveller_waits: float,
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    embedded: EmbeddedUrls,
    acme: Company,
) -> None:
    trip = await sent_for_approval(db, conversation, scripted_model, acme, "console")
    admin = traveller(acme, role="admin")

    async def approve() -> str:
        await asyncio.sleep(approver_waits)
        return await run_command(db, embedded, admin, f"/approvals approve {str(trip)[:8]}")

    async def revise() -> str:
        await asyncio.sleep(traveller_waits)
        try:
            async with db.tenant(acme.tenant_id) as session:
                await update_draft(
                    session,
                    actor=Actor.user(acme.traveler_id),
                    user_id=acme.traveler_id,
                    itinerary_id=trip,
                    plan=munich_trip(hotel_cost="180.00"),
                )
        except Conflict as refused:
            return refused.message
        return "revised"

    # The approver's answer and the traveller's change meet at the trip's row, one before the other; with
    # these head starts each side wins in some round.
    approved, revised = await asyncio.gather(approve(), revise())
    async with db.tenant(acme.tenant_id) as session:
        bookings = (await session.scalars(select(Booking))).all()
        hotel = [b.booking_details["amount"] for b in bookings if b.booking_type == "hotel"]
    if bookings:  # the approval won: the trip it approved is booked, and the change is refused
        assert approved.startswith(f"Trip {str(trip)[:8]} approved and booked for the traveller.")
        assert revised == "That itinerary is confirmed; only drafts can be revised." and hotel == ["190.00"]
    else:  # the change won: the request was withdrawn, so the answer finds nothing to approve
        assert revised == "revised"
        assert "may have been answered already" in approved or "answered a moment ago" in approved
        async with db.tenant(acme.tenant_id) as session:
            assert await open_approvals(session) == []


async def test_two_admins_approving_a_held_trip_at_once_book_it_once(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    embedded: EmbeddedUrls,
    acme: Company,
) -> None:
    trip = await sent_for_approval(db, conversation, scripted_model, acme, "console")
    second = await colleague(db, acme, "second")
    async with db.tenant(acme.tenant_id) as session:
        (await get_user(session, user_id=second.user_id)).role = "admin"
    admins = [traveller(acme, role="admin"), replace(second, role="admin")]
    answers = await asyncio.gather(
        *(run_command(db, embedded, admin, f"/approvals approve {str(trip)[:8]}") for admin in admins)
    )
    booked_for = [a for a in answers if a.startswith(f"Trip {str(trip)[:8]} approved and booked")]
    (other,) = [
        a for a in answers if a not in booked_for
    ]  # one books it; the other is told, and changes nothing
    assert "answered a moment ago" in other or "may have been answered already" in other
    assert await booked(db, acme) == 2  # one set of bookings, not two
    assert [action for action, _, _ in await audit(db, acme)].count("policy.approve") == 1
