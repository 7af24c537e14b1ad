"""Outcomes stated by the product: a booking stands when the model fails, and a question keeps a request open."""

from __future__ import annotations

from sqlalchemy import func, select

from agent.conversation import ConversationService
from agent.tools import Decision
from storage.database import Database
from storage.models import Booking
from tests.conftest import Company, traveller
from tests.fakes.scripted_model import ScriptedModel, call, fail, say
from tests.plans import berlin_days
from tests.test_turn_atomicity import open_request

BERLIN_BOOKINGS = 3


async def bookings(db: Database, company: Company) -> int:
    async with db.tenant(company.tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(Booking)) or 0


async def test_a_model_failure_after_confirm_says_the_booking_stands(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    itinerary_id = await open_request(conversation, scripted_model, acme)
    scripted_model.script(fail(500))

    reply = await conversation.resume(traveller(acme), "c1", Decision(approved=True))

    assert await bookings(db, acme) == BERLIN_BOOKINGS
    assert "Nothing was changed" not in reply.text and "nothing was booked" not in reply.text
    assert reply.text.startswith("Booked: 3 items, 628.90 EUR; reminders on ")
    assert "The booking stands" in reply.text
    assert (
        reply.outcome is not None and reply.outcome.booked and str(reply.outcome.itinerary_id) == itinerary_id
    )
    assert reply.confirmation is None
    # The request is closed: a second press books nothing, and the conversation goes on normally.
    again = await conversation.resume(traveller(acme), "c1", Decision(approved=True))
    assert "already answered" in again.text
    scripted_model.script(say("Have a good trip."))
    following = await conversation.handle_message(traveller(acme), "c1", "Thanks")
    assert following.text == "Have a good trip." and following.lapsed is None
    assert await bookings(db, acme) == BERLIN_BOOKINGS
    assert [r for r in scripted_model.responses if r.get("status") == 400] == []


async def test_the_outcome_comes_from_the_booking_whatever_the_model_says(
    conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    await open_request(conversation, scripted_model, acme)
    scripted_model.script(say("All sorted!"))

    reply = await conversation.resume(traveller(acme), "c1", Decision(approved=True))

    assert reply.text == "All sorted!"
    assert reply.outcome is not None and reply.outcome.summary.startswith("Booked: 3 items, 628.90 EUR")


async def test_a_question_while_a_request_waits_is_answered_and_confirm_still_books_once(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    itinerary_id = await open_request(conversation, scripted_model, acme)
    scripted_model.script(say("Noted."), say("Berlin will be cold, around 3 °C."))

    answered = await conversation.handle_message(traveller(acme), "c1", "What's the weather there?")

    assert answered.text == "Berlin will be cold, around 3 °C."
    assert answered.lapsed is None and answered.confirmation is None
    pending = await conversation.pending_confirmation(traveller(acme), "c1")
    assert pending is not None and str(pending.itinerary_id) == itinerary_id
    scripted_model.script(say("Booked, have a good trip."))
    booked = await conversation.resume(traveller(acme), "c1", Decision(approved=True))
    assert booked.outcome is not None and booked.outcome.booked
    assert await bookings(db, acme) == BERLIN_BOOKINGS
    again = await conversation.resume(traveller(acme), "c1", Decision(approved=True))
    assert "already answered" in again.text
    assert await bookings(db, acme) == BERLIN_BOOKINGS
    assert [r for r in scripted_model.responses if r.get("status") == 400] == []


async def test_typing_cancel_closes_the_request(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    await open_request(conversation, scripted_model, acme)
    scripted_model.script(say("Alright, I did not book it."))

    reply = await conversation.handle_message(traveller(acme), "c1", "Cancel")

    assert reply.outcome is not None and not reply.outcome.booked
    assert await conversation.pending_confirmation(traveller(acme), "c1") is None
    assert await bookings(db, acme) == 0


async def test_a_new_booking_request_closes_the_open_one(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    itinerary_id = await open_request(conversation, scripted_model, acme)
    munich = berlin_days()
    munich["destinations"] = ["Munich"]
    scripted_model.script(say("Noted."), call("create_draft_itinerary", munich), say("Here is Munich."))

    reply = await conversation.handle_message(traveller(acme), "c1", "Actually plan Munich instead")

    assert str(reply.lapsed) == itinerary_id
    assert await conversation.pending_confirmation(traveller(acme), "c1") is None
    assert await bookings(db, acme) == 0
