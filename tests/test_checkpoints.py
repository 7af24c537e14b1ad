"""Conversation checkpoints in tenant tables: isolated by PostgreSQL, owned by their user, one per thread."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import func, select, text

from agent.checkpoints import checkpoint_saver
from agent.conversation import ConversationService, thread_id
from agent.graph import build_graph
from agent.tools import AgentServices, Decision
from storage.audit import Actor
from storage.database import Database, Statement
from storage.embedded import EmbeddedUrls
from storage.models import Booking
from storage.privacy import erase_user
from tests.conftest import Company, chat_model, traveller
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.test_agent_booking import ask_to_book, plan_berlin

COUNT_CHECKPOINTS = "SELECT count(*) FROM conversation_checkpoints"
COUNT_WRITES = "SELECT count(*) FROM conversation_checkpoint_writes"


async def rows(db: Database, company: Company, sql: str) -> int:
    ((found,),) = (await db.statements.run(company.tenant_id, Statement(sql)))[0]
    return int(found)


async def waiting_for_confirmation(
    conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> str:
    """A Berlin trip planned and asked to be booked: the thread waits for the traveller's yes or no."""
    itinerary_id = await plan_berlin(conversation, scripted_model, acme)
    await ask_to_book(conversation, scripted_model, acme, itinerary_id)
    return itinerary_id


async def test_a_tenant_cannot_read_or_plant_another_tenants_conversation(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
    globex: Company,
) -> None:
    scripted_model.script(say("Noted your window seat."))
    await conversation.handle_message(traveller(acme), "c1", "I like window seats")
    acme_thread = thread_id(traveller(acme), "c1")

    assert await rows(db, acme, COUNT_CHECKPOINTS) == 1
    assert await rows(db, globex, COUNT_CHECKPOINTS) == 0
    # Bound to Globex, a row claiming to be Acme's is refused by the policy's WITH CHECK.
    plant = Statement(
        "INSERT INTO conversation_checkpoints (tenant_id, thread_id, user_id, checkpoint_id, type, checkpoint, "
        "metadata_type, metadata) VALUES (%s, %s, %s, 'x', 'msgpack', '', 'msgpack', '')",
        [acme.tenant_id, acme_thread + "-planted", acme.traveler_id],
    )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        await db.statements.run(globex.tenant_id, plant)
    # Globex's own thread of the same name is a different conversation: it starts empty.
    globex_reply = await conversation.pending_confirmation(traveller(globex), "c1")
    assert globex_reply is None
    assert await rows(db, acme, COUNT_CHECKPOINTS) == 1


async def test_an_open_confirmation_outlives_the_process_and_is_answered_once(
    db: Database,
    embedded: EmbeddedUrls,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
) -> None:
    itinerary_id = await waiting_for_confirmation(conversation, scripted_model, acme)
    assert await rows(db, acme, COUNT_WRITES) >= 1  # the interrupt waits in the pending writes

    # Another process (its own pool and graph) picks the confirmation up from PostgreSQL.
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        restarted = ConversationService(
            services=conversation.services,
            graph=build_graph(
                model=chat_model(scripted_model), services=conversation.services, checkpointer=saver
            ),
        )
        pending = await restarted.pending_confirmation(traveller(acme), "c1")
        assert pending is not None and str(pending.itinerary_id) == itinerary_id
        scripted_model.script(say("Booked."))
        reply = await restarted.resume(traveller(acme), "c1", Decision(approved=True))
    assert reply.text == "Booked."
    async with db.tenant(acme.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(Booking)) == 3
    # Answered: the next checkpoint replaced the one that waited, and its writes went with it.
    assert (await rows(db, acme, COUNT_CHECKPOINTS), await rows(db, acme, COUNT_WRITES)) == (1, 0)
    assert await conversation.pending_confirmation(traveller(acme), "c1") is None


async def test_erasing_a_user_removes_their_conversations_in_the_same_transaction(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
) -> None:
    await waiting_for_confirmation(conversation, scripted_model, acme)
    scripted_model.script(say("Hello admin."))
    await conversation.handle_message(traveller(acme, role="admin"), "c2", "Hello")

    async with db.tenant(acme.tenant_id) as session:
        await erase_user(session, actor=Actor.user(acme.traveler_id), user_id=acme.traveler_id)
        owners = await session.execute(text("SELECT DISTINCT user_id FROM conversation_checkpoints"))
        assert owners.scalars().all() == [acme.admin_id]
    assert await rows(db, acme, COUNT_WRITES) == 0


async def test_a_thread_must_name_its_tenant_and_a_saved_checkpoint_its_user(
    embedded: EmbeddedUrls, acme: Company, scripted_model: ScriptedModel, db: Database
) -> None:
    async with checkpoint_saver(embedded.app_database_url, max_size=1) as saver:
        with pytest.raises(ValueError, match="starts with its tenant id"):
            await saver.aget_tuple({"configurable": {"thread_id": "console:c1"}})
        scripted_model.script(call("list_itineraries"), say("No trips yet."))
        agent = build_graph(
            model=chat_model(scripted_model), services=AgentServices(db=db), checkpointer=saver
        )
        with pytest.raises(ValueError, match="pass user_id"):
            await agent.ainvoke(
                {"messages": [("user", "What trips do I have?")]},
                {"configurable": {"thread_id": f"{acme.tenant_id}:console:c9"}},
                context=traveller(acme),
                durability="exit",
            )
    assert await rows(db, acme, COUNT_CHECKPOINTS) == 0
