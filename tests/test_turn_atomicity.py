"""A turn is all or nothing: a failed yes is never replayed, a crashing tool does not brick the conversation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Literal

import pytest
from langchain.tools import tool
from sqlalchemy import func, select, text

from agent.checkpoints import checkpoint_saver
from agent.conversation import ConversationService
from agent.graph import build_graph
from agent.tools import AgentServices, Decision
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.models import Booking, Itinerary
from tests.conftest import NOW, Company, chat_model, traveller
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.plans import berlin_days

BERLIN_BOOKINGS = 3  # flight, hotel and train in tests.plans.berlin_days


async def bookings(db: Database, company: Company) -> int:
    async with db.tenant(company.tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(Booking)) or 0


@pytest.fixture
async def failing_once(owner_db: Database) -> AsyncIterator[None]:
    """The next booking row written raises once inside PostgreSQL, as a transient storage fault would."""
    statements = [
        "CREATE SEQUENCE booking_fault_once",
        """CREATE FUNCTION booking_fault_once() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
           BEGIN
             IF nextval('booking_fault_once') = 1 THEN RAISE EXCEPTION 'injected storage fault'; END IF;
             RETURN NEW;
           END $$""",
        "CREATE TRIGGER booking_fault_once BEFORE INSERT ON bookings FOR EACH ROW "
        "EXECUTE FUNCTION booking_fault_once()",
    ]
    async with owner_db.unscoped() as session:
        for statement in statements:
            await session.execute(text(statement))
    try:
        yield
    finally:
        async with owner_db.unscoped() as session:
            await session.execute(text("DROP TRIGGER booking_fault_once ON bookings"))
            await session.execute(text("DROP FUNCTION booking_fault_once()"))
            await session.execute(text("DROP SEQUENCE booking_fault_once"))


async def open_request(conversation: ConversationService, model: ScriptedModel, acme: Company) -> str:
    model.script(call("create_draft_itinerary", berlin_days()), say("Here is your Berlin draft."))
    (card,) = (await conversation.handle_message(traveller(acme), "c1", "Berlin 3-5 Dec")).cards
    model.script(call("confirm_booking", itinerary_id=str(card.itinerary_id)))
    asked = await conversation.handle_message(traveller(acme), "c1", "Book it")
    assert asked.confirmation is not None
    return str(card.itinerary_id)


def refused_requests(model: ScriptedModel) -> list[dict[str, object]]:
    return [r for r in model.responses if r.get("status") == 400]


@pytest.mark.parametrize("then", ["no", "new request", "fresh yes"])
async def test_a_booking_that_fails_after_yes_is_never_replayed(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
    failing_once: None,
    then: Literal["no", "new request", "fresh yes"],
) -> None:
    itinerary_id = await open_request(conversation, scripted_model, acme)
    me = traveller(acme)

    failed = await conversation.resume(me, "c1", Decision(approved=True))

    assert "nothing was booked" in failed.text and failed.error_id and failed.error_id in failed.text
    assert failed.confirmation is not None, "the request stays open for a fresh answer"
    assert await bookings(db, acme) == 0
    if then == "no":
        scripted_model.script(say("Alright, nothing booked."))
        answered = await conversation.resume(me, "c1", Decision(approved=False))
        assert answered.text == "Alright, nothing booked."
        assert await bookings(db, acme) == 0
    elif then == "new request":
        munich = berlin_days()
        munich["destinations"] = ["Munich"]
        scripted_model.script(
            say("Understood."), call("create_draft_itinerary", munich), say("Munich it is.")
        )
        answered = await conversation.handle_message(me, "c1", "Plan Munich on the same dates instead")
        assert answered.text == "Munich it is." and str(answered.lapsed) == itinerary_id
        assert await bookings(db, acme) == 0
    else:
        scripted_model.script(say("Booked."))
        answered = await conversation.resume(me, "c1", Decision(approved=True))
        assert answered.text == "Booked."
        assert await bookings(db, acme) == BERLIN_BOOKINGS
    again = await conversation.resume(me, "c1", Decision(approved=True))
    assert "already answered" in again.text
    assert await bookings(db, acme) == (BERLIN_BOOKINGS if then == "fresh yes" else 0)
    assert refused_requests(scripted_model) == []


@tool("check_visa")
async def check_visa(country: str) -> str:
    """Whether a visa is needed for a country."""
    raise RuntimeError("the visa service client is broken")


@pytest.fixture
async def with_broken_tool(
    db: Database, embedded: EmbeddedUrls, scripted_model: ScriptedModel
) -> AsyncIterator[ConversationService]:
    services = AgentServices(db=db, clock=lambda: NOW, extra_tools=(check_visa,))
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        yield ConversationService(
            services=services,
            graph=build_graph(model=chat_model(scripted_model), services=services, checkpointer=saver),
        )


async def test_a_tool_raising_an_unexpected_error_leaves_the_conversation_usable(
    with_broken_tool: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    me = traveller(acme)
    scripted_model.script(say("Hello! Where to?"))
    await with_broken_tool.handle_message(me, "c1", "Hi")
    scripted_model.script(call("check_visa", country="India"))

    broken = await with_broken_tool.handle_message(me, "c1", "Do I need a visa for India?")

    assert broken.error_id is not None and f"error id {broken.error_id}" in broken.text
    assert "nothing was changed" in broken.text
    scripted_model.script(say("Berlin it is."))
    following = await with_broken_tool.handle_message(me, "c1", "Then Berlin instead")
    assert following.text == "Berlin it is."
    assert refused_requests(scripted_model) == []
    sent = [m.get("content") for m in scripted_model.messages() if m["role"] == "user"]
    assert sent == ["Hi", "Then Berlin instead"], "the failed turn left nothing behind"


@pytest.fixture
def far_future_checkout() -> Iterator[dict[str, object]]:
    plan = berlin_days()
    plan.update(start_date="9999-12-30", end_date="9999-12-31")
    plan["days"] = [
        {
            "day_number": 1,
            "date": "9999-12-30",
            "items": [
                {
                    "kind": "hotel",
                    "description": "Hotel Adlon",
                    "cost": "900.00",
                    "currency": "EUR",
                    "city": "Berlin",
                    "nights": 2,
                }
            ],
        },
        {"day_number": 2, "date": "9999-12-31", "items": []},
    ]
    yield plan


async def test_a_draft_checking_out_after_9999_is_refused_with_a_sentence(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
    far_future_checkout: dict[str, object],
) -> None:
    me = traveller(acme)
    scripted_model.script(
        call("create_draft_itinerary", far_future_checkout), say("Those dates cannot be booked.")
    )

    reply = await conversation.handle_message(me, "c1", "Book the Adlon from 30 Dec 9999")

    assert reply.text == "Those dates cannot be booked."
    (tool_answer,) = [m for m in scripted_model.messages() if m["role"] == "tool"]
    assert "is not a date I can book" in tool_answer["content"]
    async with db.tenant(acme.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(Itinerary)) == 0
    scripted_model.script(say("Where to, then?"))
    assert (await conversation.handle_message(me, "c1", "No")).text == "Where to, then?"
    assert refused_requests(scripted_model) == []
