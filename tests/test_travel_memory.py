"""A traveller's memory: kept after they agree, used in a later conversation elsewhere, gone when forgotten."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from agent.commands import CommandRunner
from agent.conversation import ConversationService
from bot.worker import complete_trip_job
from storage.database import Database
from tests.conftest import NOW, Company, traveller
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.reminder_trips import book_trip
from tests.test_policy_agent import tool_results

FACT = "Prefers aisle seats on flights longer than two hours"


async def remember_aisle_seats(
    conversation: ConversationService, model: ScriptedModel, company: Company
) -> None:
    model.script(say("Noted. Shall I remember that you prefer aisle seats on longer flights?"))
    await conversation.handle_message(
        traveller(company), "console", "I always want an aisle seat on long flights"
    )
    model.script(call("remember", fact=FACT), say("I will remember that."))
    await conversation.handle_message(traveller(company), "console", "yes please")


async def test_a_remembered_fact_is_used_in_another_channel_until_it_is_forgotten(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    await remember_aisle_seats(conversation, scripted_model, acme)
    assert any(r.startswith("Remembered (id ") for r in tool_results(scripted_model))

    scripted_model.reset()
    scripted_model.script(call("get_preferences"), say("Planning with an aisle seat."))
    in_slack = traveller(acme, channel="slack")
    await conversation.handle_message(in_slack, "D1-1763000000.000100", "Plan my flight to Lisbon next week")
    (preferences,) = tool_results(scripted_model)
    assert FACT in preferences

    commands = CommandRunner(db, clock=lambda: NOW)
    listed = (await commands.run(in_slack, "/me memory")).text
    assert FACT in listed
    memory_id = listed.splitlines()[1].split()[0]
    assert (
        "no memory with the id"
        in (await commands.run(traveller(acme, role="admin"), f"/me forget {memory_id}")).text
    )
    forgotten = await commands.run(in_slack, f"/me forget {memory_id}")
    assert forgotten.text == f"Forgotten: {FACT}"
    async with db.tenant(acme.tenant_id) as session:
        assert await session.scalar(text("SELECT count(*) FROM travel_memories")) == 0

    scripted_model.reset()
    scripted_model.script(call("get_preferences"), say("Planning."))
    await conversation.handle_message(in_slack, "D1-1763000000.000100", "And the flight back?")
    preferences = tool_results(scripted_model)[-1]
    assert "aisle" not in preferences
    assert "I remember nothing about you yet" in (await commands.run(in_slack, "/me memory")).text


async def test_memories_stay_with_their_traveller(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
    globex: Company,
) -> None:
    await remember_aisle_seats(conversation, scripted_model, acme)
    commands = CommandRunner(db, clock=lambda: NOW)
    assert FACT not in (await commands.run(traveller(acme, role="admin"), "/me memory")).text
    assert FACT not in (await commands.run(traveller(globex), "/me memory")).text
    scripted_model.reset()
    scripted_model.script(call("get_preferences"), say("Planning."))
    await conversation.handle_message(traveller(globex), "console", "Plan a flight to Rome")
    assert "aisle" not in tool_results(scripted_model)[0]
    async with db.tenant(globex.tenant_id) as session:
        assert await session.scalar(text("SELECT count(*) FROM travel_memories")) == 0
    assert "Usage: /me forget ID" in (await commands.run(traveller(acme), "/me forget aisle")).text
    assert "Usage: /me set KEY VALUE" in (await commands.run(traveller(acme), "/me")).text


async def test_an_ended_trip_leaves_a_note_in_the_travellers_memory_once(db: Database, acme: Company) -> None:
    now = dt.datetime.now(dt.UTC)
    ended = await book_trip(
        db, acme, start=now.date() - dt.timedelta(days=6), now=now - dt.timedelta(days=30)
    )
    for _ in range(2):  # arq may run a job twice
        assert await complete_trip_job({"db": db}, str(acme.tenant_id), str(ended.itinerary_id)) in (
            True,
            False,
        )
    listed = (await CommandRunner(db, clock=lambda: NOW).run(traveller(acme), "/me memory")).text
    (note,) = [line for line in listed.splitlines() if "(from a trip)" in line]
    assert "Travelled to Berlin" in note and "stayed at Motel One Berlin-Mitte" in note
