"""The approval chain of a trip: manager, then finance above a threshold.

The company either lets the trip be booked now and approved later, or holds it as a draft until its last
approver says yes; the chain is the same. Each approver answers with /approvals in whichever channel they use (the commands are shared); a step left
unanswered past the timeout escalates to any admin; a second answer or a stale one changes nothing; the
audit records every step.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import select

from agent.checkpoints import checkpoint_saver
from agent.commands import CommandRunner
from agent.context import Context
from agent.conversation import ConversationService
from agent.tools import Decision
from storage.audit import OPERATOR
from storage.console_outbox import console_messages
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.models import AuditEntry, Booking
from storage.tenants import add_user
from tests.conftest import NOW, Company, traveller
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.test_policy_decisions import munich_trip
from tests.test_policy_scenarios import set_policy

CHAIN = {
    "policy.hotel.max_nightly_rate": {"amount": 150, "currency": "EUR"},
    "policy.actions": {"hotel_cap": "approve"},
    "policy.approve_later": True,
    "policy.approval.finance_threshold": {"amount": 300, "currency": "EUR"},
    "policy.approval.finance_approvers": ["cfo@acme.test"],
    "policy.approval.timeout_hours": 24,
}


async def colleague(db: Database, company: Company, name: str) -> Context:
    async with db.tenant(company.tenant_id) as session:
        user = await add_user(
            session,
            actor=OPERATOR,
            display_name=name.title(),
            email=f"{name}@acme.test",
            timezone="Europe/Berlin",
        )
    return Context(
        tenant_id=company.tenant_id,
        user_id=user.user_id,
        role="traveler",
        channel="slack",
        timezone="Europe/Berlin",
        locale="en",  # type: ignore[arg-type]
        display_name=name.title(),
    )


# Booked now and approved later, or held until approved: the chain is the same in both.
MODES = ["later", "held"]


def chain_for(mode: str, **changes: object) -> dict[str, object]:
    return {**CHAIN, "policy.approve_later": mode == "later", **changes}


async def book_now(
    db: Database, conversation: ConversationService, model: ScriptedModel, company: Company, *, hotel: str
) -> str:
    """A trip over the cap, confirmed by the traveller (booked, or sent for approval, as the company's
    policy says); returns the short id approvers type."""
    model.script(call("create_draft_itinerary", munich_trip(hotel_cost=hotel)), say("Drafted."))
    (card,) = (await conversation.handle_message(traveller(company), "t", "Plan")).cards
    model.script(call("confirm_booking", itinerary_id=str(card.itinerary_id)))
    await conversation.handle_message(traveller(company), "t", "Book it")
    model.script(say("Done; approval follows."))
    await conversation.resume(traveller(company), "t", Decision(approved=True))
    return str(card.itinerary_id)[:8]


def requested(mode: str) -> str:
    """The audit entry of the traveller's confirmation."""
    return "policy.approve_later" if mode == "later" else "policy.request"


def booked_before_approval(mode: str) -> set[str | None]:
    """The trip's bookings while its approval is owed: booked already, or none yet."""
    return {"confirmed"} if mode == "later" else set()


async def steps(db: Database, company: Company) -> list[tuple[str, uuid.UUID | None, str | None]]:
    async with db.tenant(company.tenant_id) as session:
        rows = await session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("policy.%")).order_by(AuditEntry.occurred_at)
        )
        return [(e.action, e.actor_user_id, (e.details or {}).get("step")) for e in rows]


async def told(db: Database, company: Company) -> list[str]:
    """What the traveller finds in their console outbox."""
    async with db.tenant(company.tenant_id) as session:
        return [m.body for m in await console_messages(session, user_id=company.traveler_id)]


async def trip_status(db: Database, company: Company) -> set[str | None]:
    async with db.tenant(company.tenant_id) as session:
        return {b.status for b in (await session.scalars(select(Booking))).all()}


@pytest.mark.parametrize("mode", MODES)
async def test_manager_then_finance_above_the_threshold_with_double_clicks_and_a_stale_answer(
    mode: str,
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    embedded: EmbeddedUrls,
    acme: Company,
) -> None:
    await set_policy(db, acme, chain_for(mode))
    manager, cfo = await colleague(db, acme, "manager"), await colleague(db, acme, "cfo")
    clock: list[dt.datetime] = [NOW]
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        commands = CommandRunner(db, clock=lambda: clock[0], saver=saver)
        admin = traveller(acme, role="admin")
        named = await commands.run(admin, "/approvals manager traveller@acme.test manager@acme.test")
        assert named.text == "Manager now approves the trips of Acme Traveller first."
        trip = await book_now(db, conversation, scripted_model, acme, hotel="400.00")  # 520 EUR: finance too
        assert await trip_status(db, acme) == booked_before_approval(mode)

        assert (await commands.run(cfo, "/approvals")).text == "No trip is waiting for your approval."
        listed = (await commands.run(manager, "/approvals")).text
        assert f"{trip} from 11 Jan 2027 (asked: the traveller's manager), Acme Traveller's trip, " in listed
        assert ("booked: " if mode == "later" else "held until approved: ") in listed
        first = await commands.run(manager, f"/approvals approve {trip}")
        assert first.text == f"Trip {trip} approved; finance approves next."
        again = await commands.run(manager, f"/approvals approve {trip}")  # a double click
        assert "is waiting for your approval; it may have been answered already" in again.text
        assert await trip_status(db, acme) == booked_before_approval(mode)
        last = (await commands.run(cfo, f"/approvals approve {trip}")).text
        booked = "Booked: 2 items, 520.00 EUR; reminders on 4 Jan and 10 Jan."
        assert last == (
            f"Trip {trip} approved."
            if mode == "later"
            else f"Trip {trip} approved and booked for the traveller. {booked}"
        )
        stale = await commands.run(cfo, f"/approvals reject {trip}")  # a button pressed after the decision
        assert "may have been answered already" in stale.text and await trip_status(db, acme) == {"confirmed"}
    assert await told(db, acme) == [
        f"Your trip of 11 Jan 2027 ({trip}) was approved by the traveller's manager; finance approves next.",
        f"Your trip of 11 Jan 2027 ({trip}) is approved."
        if mode == "later"
        else f"Your trip of 11 Jan 2027 ({trip}) is approved and booked. {booked}",
    ]
    assert await steps(db, acme) == [
        (requested(mode), acme.traveler_id, None),
        ("policy.approve", manager.user_id, "manager"),
        ("policy.approve", cfo.user_id, "finance"),
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_below_the_threshold_the_manager_decides_and_a_rejection_cancels(
    mode: str,
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    embedded: EmbeddedUrls,
    acme: Company,
) -> None:
    await set_policy(
        db,
        acme,
        chain_for(mode, **{"policy.approval.finance_threshold": {"amount": 5000, "currency": "EUR"}}),
    )
    manager = await colleague(db, acme, "manager")
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        commands = CommandRunner(db, clock=lambda: NOW, saver=saver)
        await commands.run(
            traveller(acme, role="admin"), "/approvals manager traveller@acme.test manager@acme.test"
        )
        trip = await book_now(db, conversation, scripted_model, acme, hotel="190.00")
        rejected = (await commands.run(manager, f"/approvals reject {trip}")).text
    if mode == "later":
        assert rejected == f"Trip {trip} rejected and cancelled."
        assert await trip_status(db, acme) == {"cancelled"}
        assert await told(db, acme) == [
            f"Your trip of 11 Jan 2027 ({trip}) was rejected by the traveller's manager and is cancelled."
        ]
    else:
        assert rejected == f"Trip {trip} rejected; nothing was booked."
        assert await trip_status(db, acme) == set()
        assert await told(db, acme) == [
            f"Your trip of 11 Jan 2027 ({trip}) was rejected by the traveller's manager; nothing was booked. "
            "The draft is kept: change it and ask me to book it again."
        ]
    assert [(a, s) for a, _, s in await steps(db, acme)] == [
        (requested(mode), None),
        ("policy.reject", "manager"),
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_a_step_unanswered_past_the_timeout_escalates_to_an_admin(
    mode: str,
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    embedded: EmbeddedUrls,
    acme: Company,
) -> None:
    await set_policy(db, acme, chain_for(mode))
    await colleague(db, acme, "manager")
    clock: list[dt.datetime] = [NOW]
    now: Callable[[], dt.datetime] = lambda: clock[0]  # noqa: E731 (the injectable clock)
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        commands = CommandRunner(db, clock=now, saver=saver)
        admin = traveller(acme, role="admin")
        await commands.run(admin, "/approvals manager traveller@acme.test manager@acme.test")
        trip = await book_now(db, conversation, scripted_model, acme, hotel="190.00")
        assert (await commands.run(admin, "/approvals")).text == "No trip is waiting for your approval."
        clock[0] = NOW + dt.timedelta(hours=25)
        listed = (await commands.run(admin, "/approvals")).text
        assert "(asked: the traveller's manager, escalated after the timeout)" in listed and trip in listed
        moved = (await commands.run(admin, f"/approvals approve {trip}")).text
        assert (
            moved == f"Trip {trip} approved; finance approves next."
        )  # 310 EUR reaches the 300 EUR threshold
    assert [(a, s) for a, _, s in await steps(db, acme)][-1] == ("policy.approve", "manager")
