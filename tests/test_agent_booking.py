"""Plan, then book: drafts, revisions, confirmation by interrupt, and exactly one set of bookings."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import func, select

from agent.conversation import ConversationService
from agent.tools import Decision
from storage.database import Database
from storage.models import Booking, BookingReminder, Itinerary, ItineraryDetail, ReminderSchedule
from tests.conftest import Company, traveller
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.plans import berlin_days


async def count(db: Database, company: Company, model: type) -> int:
    async with db.tenant(company.tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def plan_berlin(conversation: ConversationService, model: ScriptedModel, acme: Company) -> str:
    model.script(call("create_draft_itinerary", berlin_days()), say("Here is your Berlin draft."))
    reply = await conversation.handle_message(
        traveller(acme), "c1", "I need to be in Berlin 3-5 Dec for a workshop"
    )
    assert reply.text == "Here is your Berlin draft."
    (card,) = reply.cards
    return str(card.itinerary_id)


async def ask_to_book(
    conversation: ConversationService, model: ScriptedModel, acme: Company, itinerary_id: str
) -> None:
    model.script(call("confirm_booking", itinerary_id=itinerary_id))
    reply = await conversation.handle_message(traveller(acme), "c1", "Book it")
    assert reply.confirmation is not None
    assert str(reply.confirmation.itinerary_id) == itinerary_id


async def test_planning_creates_a_draft_with_details_and_revising_updates_it(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    itinerary_id = await plan_berlin(conversation, scripted_model, acme)
    async with db.tenant(acme.tenant_id) as session:
        trip = (await session.scalars(select(Itinerary))).one()
        activities = (
            await session.scalars(
                select(ItineraryDetail).order_by(ItineraryDetail.date, ItineraryDetail.position)
            )
        ).all()
    assert (str(trip.itinerary_id), trip.status, trip.is_draft, trip.destinations) == (
        itinerary_id,
        "draft",
        True,
        ["Berlin"],
    )
    # One row per activity, dated, typed and in the planned order.
    assert [(a.date - trip.start_date).days + 1 for a in activities] == [1, 1, 2, 3]
    assert [a.activity_type for a in activities] == ["flight", "hotel", "meeting", "train"]
    assert activities[0].activity_details["cost"] == "189.00"
    assert activities[0].activity_details["policy"]["status"] == "ok"

    revised = berlin_days()
    revised["days"][2]["items"][0]["cost"] = "99.00"
    scripted_model.script(
        call("update_draft_itinerary", {**revised, "itinerary_id": itinerary_id}), say("Cheaper train.")
    )
    reply = await conversation.handle_message(traveller(acme), "c1", "Find a cheaper train back")
    assert reply.text == "Cheaper train." and reply.cards[0].totals == {
        "EUR": __import__("decimal").Decimal("588.00")
    }
    async with db.tenant(acme.tenant_id) as session:
        day3 = (
            await session.scalars(
                select(ItineraryDetail).where(ItineraryDetail.date == trip.start_date + dt.timedelta(days=2))
            )
        ).all()
    assert [(a.activity_type, a.activity_details["cost"]) for a in day3] == [("train", "99.00")]
    assert await count(db, acme, Itinerary) == 1


async def test_approving_books_one_row_per_component_with_reminders(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    itinerary_id = await plan_berlin(conversation, scripted_model, acme)
    await ask_to_book(conversation, scripted_model, acme, itinerary_id)
    assert await count(db, acme, Booking) == 0  # nothing before the traveller says yes

    scripted_model.script(say("Booked! Have a good trip."))
    reply = await conversation.resume(traveller(acme), "c1", Decision(approved=True))
    assert reply.text == "Booked! Have a good trip."
    tool_result = scripted_model.messages()[-2]  # the facts come last
    assert tool_result["role"] == "tool" and tool_result["content"].startswith(
        "Booked: 3 items, 628.90 EUR; reminders on "
    )
    async with db.tenant(acme.tenant_id) as session:
        trip = (await session.scalars(select(Itinerary))).one()
        bookings = (await session.scalars(select(Booking).order_by(Booking.booking_type))).all()
        reminders = (await session.scalars(select(BookingReminder))).all()
        schedules = (await session.scalars(select(ReminderSchedule))).all()
    assert (trip.status, trip.is_draft) == ("confirmed", False)
    assert [(b.booking_type, b.booking_details["amount"], b.status) for b in bookings] == [
        ("flight", "189.00", "confirmed"),
        ("hotel", "300.00", "confirmed"),
        ("train", "139.90", "confirmed"),
    ]
    # 7 and 1 days before each component, at 09:00 Berlin time (08:00 UTC).
    assert len(reminders) == len(schedules) == 6 and {s.due_at.hour for s in schedules} == {8}
    assert {r.user_id for r in reminders} == {acme.traveler_id} and all(r.message for r in reminders)


async def test_declining_books_nothing(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    itinerary_id = await plan_berlin(conversation, scripted_model, acme)
    await ask_to_book(conversation, scripted_model, acme, itinerary_id)
    scripted_model.script(say("OK, not booked."))
    reply = await conversation.resume(traveller(acme), "c1", Decision(approved=False))
    assert reply.text == "OK, not booked."
    assert scripted_model.messages()[-2]["content"] == "The traveller declined; nothing was booked."
    assert (await count(db, acme, Booking), await count(db, acme, BookingReminder)) == (0, 0)
    async with db.tenant(acme.tenant_id) as session:
        assert (await session.scalars(select(Itinerary.status))).one() == "draft"


async def test_resuming_twice_or_concurrently_books_exactly_once(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    itinerary_id = await plan_berlin(conversation, scripted_model, acme)
    await ask_to_book(conversation, scripted_model, acme, itinerary_id)
    scripted_model.responder = lambda _request: say("Booked.")
    first, second = await asyncio.gather(
        conversation.resume(traveller(acme), "c1", Decision(approved=True)),
        conversation.resume(traveller(acme), "c1", Decision(approved=True)),
    )
    again = await conversation.resume(traveller(acme), "c1", Decision(approved=True))
    assert sorted([first.text, second.text]) == [
        "Booked.",
        "Nothing is waiting for your confirmation here; it was already answered.",
    ]
    assert again.text == "Nothing is waiting for your confirmation here; it was already answered."
    assert (await count(db, acme, Booking), await count(db, acme, BookingReminder)) == (3, 6)


async def test_two_service_instances_resuming_at_once_still_book_once(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    """Two processes (here two services sharing the checkpoints) race on the same click."""
    other = ConversationService(services=conversation.services, graph=conversation.graph)
    itinerary_id = await plan_berlin(conversation, scripted_model, acme)
    await ask_to_book(conversation, scripted_model, acme, itinerary_id)
    scripted_model.responder = lambda _request: say("Booked.")
    await asyncio.gather(
        conversation.resume(traveller(acme), "c1", Decision(approved=True)),
        other.resume(traveller(acme), "c1", Decision(approved=True)),
    )
    assert (await count(db, acme, Booking), await count(db, acme, BookingReminder)) == (3, 6)
