"""Bookings made elsewhere are recorded on the right trip, once; cancelling stops their reminders."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from agent.conversation import ConversationService
from storage.database import Database
from storage.models import Booking, BookingReminder
from tests.conftest import Company, traveller
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.test_agent_booking import plan_berlin

PASTED = {
    "booking_type": "flight",
    "service_date": "2026-12-03",
    "amount": "245",
    "currency": "eur",
    "number": "LH 1234",
    "vendor": "Lufthansa",
    "reference": "ABC123",
    "origin": "MUC",
    "destination": "BER",
}


async def test_a_pasted_confirmation_is_recorded_on_the_trip_that_covers_its_date_once(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    itinerary_id = await plan_berlin(conversation, scripted_model, acme)
    for _ in range(2):  # the traveller pastes the same confirmation twice
        scripted_model.script(call("record_booking", PASTED), say("Recorded."))
        await conversation.handle_message(traveller(acme), "c1", "LH 1234 3 Dec 245 EUR locator ABC123")
    results = [
        m["content"]
        for request in scripted_model.requests
        for m in request["messages"]
        if m["role"] == "tool"
    ]
    assert any(r.startswith("Recorded: ") for r in results) and any(
        r.startswith("Already recorded: ") for r in results
    )
    async with db.tenant(acme.tenant_id) as session:
        (booking,) = (await session.scalars(select(Booking))).all()
        reminders = (await session.scalars(select(BookingReminder))).all()
    assert str(booking.itinerary_id) == itinerary_id
    assert booking.booking_details["amount"] == "245.00" and booking.booking_details["currency"] == "EUR"
    assert (
        booking.booking_details["reference"] == "ABC123" and booking.booking_details["source"] == "recorded"
    )
    assert len(reminders) == 2


async def test_a_confirmation_for_a_date_no_trip_covers_is_refused(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    scripted_model.script(
        call("record_booking", {**PASTED, "service_date": "2027-03-01"}), say("No trip then.")
    )
    await conversation.handle_message(traveller(acme), "c1", "LH 1234 1 Mar 245 EUR")
    assert scripted_model.messages()[-2]["content"] == (
        "Refused: None of your trips covers 01 Mar 2027. Plan that trip first, or tell me which trip it belongs to."
    )
    async with db.tenant(acme.tenant_id) as session:
        assert (await session.scalars(select(Booking))).all() == []


async def test_a_negative_pasted_amount_is_refused_by_validation(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    await plan_berlin(conversation, scripted_model, acme)
    scripted_model.script(call("record_booking", {**PASTED, "amount": "-245"}), say("That amount is wrong."))
    await conversation.handle_message(traveller(acme), "c1", "LH 1234 3 Dec -245 EUR")
    assert "an amount cannot be negative" in scripted_model.messages()[-2]["content"]
    async with db.tenant(acme.tenant_id) as session:
        assert (await session.scalars(select(Booking))).all() == []


async def a_recorded_flight(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> uuid.UUID:
    """The traveller's Berlin trip with the pasted Lufthansa flight recorded on it."""
    await plan_berlin(conversation, scripted_model, acme)
    scripted_model.script(call("record_booking", PASTED), say("Recorded."))
    await conversation.handle_message(traveller(acme), "c1", "LH 1234 3 Dec 245 EUR locator ABC123")
    async with db.tenant(acme.tenant_id) as session:
        return (await session.scalars(select(Booking.booking_id))).one()


async def test_cancelling_a_booking_cancels_its_pending_reminders(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    booking_id = await a_recorded_flight(db, conversation, scripted_model, acme)
    scripted_model.script(call("cancel_booking", booking_id=str(booking_id)), say("Cancelled."))
    await conversation.handle_message(traveller(acme), "c1", "Cancel my flight")
    scripted_model.script(
        call("cancel_booking", booking_id=str(booking_id)), say("It was already cancelled.")
    )
    await conversation.handle_message(traveller(acme), "c1", "Cancel it again")
    assert scripted_model.messages()[-2]["content"] == "Refused: That booking is already cancelled."
    async with db.tenant(acme.tenant_id) as session:
        assert (await session.scalars(select(Booking.status))).one() == "cancelled"
        assert (await session.scalars(select(BookingReminder))).all() == []


async def test_another_travellers_booking_cannot_be_cancelled(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    booking_id = await a_recorded_flight(db, conversation, scripted_model, acme)
    scripted_model.script(call("cancel_booking", booking_id=str(booking_id)), say("Not yours."))
    await conversation.handle_message(traveller(acme, role="admin"), "c2", "Cancel that booking")
    assert scripted_model.messages()[-2]["content"] == "Refused: I could not find that booking among yours."
    async with db.tenant(acme.tenant_id) as session:
        assert (await session.scalars(select(Booking.status))).one() == "confirmed"
