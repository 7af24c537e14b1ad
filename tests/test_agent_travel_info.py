"""The agent's get_travel_info tool: live weather and flight status for the caller's own trip."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from agent.checkpoints import checkpoint_saver
from agent.conversation import ConversationService
from agent.graph import build_graph
from agent.tools import AgentServices
from agent.travel_info.service import TravelInfo
from storage.database import Database
from storage.embedded import EmbeddedUrls
from tests.conftest import NOW, Company, chat_model, traveller
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.fakes.travel_providers import FakeTravelProviders
from tests.test_agent_booking import plan_berlin

TRIP_DAY = dt.date(2026, 12, 3)


@pytest.fixture
async def informed(
    db: Database, embedded: EmbeddedUrls, scripted_model: ScriptedModel
) -> AsyncIterator[tuple[ConversationService, FakeTravelProviders]]:
    with FakeTravelProviders(today=NOW.date()) as providers:
        async with TravelInfo.open(providers.settings(), redis_url=None, clock=lambda: NOW) as info:
            services = AgentServices(db=db, clock=lambda: NOW, travel_info=info)
            async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
                graph = build_graph(model=chat_model(scripted_model), services=services, checkpointer=saver)
                yield ConversationService(services=services, graph=graph), providers


async def test_the_tool_reports_weather_and_flight_status_for_the_trip(
    informed: tuple[ConversationService, FakeTravelProviders], scripted_model: ScriptedModel, acme: Company
) -> None:
    conversation, providers = informed
    providers.set_weather("Berlin", TRIP_DAY, code=63, high=3.2, low=0.4, precipitation=6.1, probability=90)
    itinerary_id = await plan_berlin(conversation, scripted_model, acme)
    scripted_model.script(call("get_travel_info", itinerary_id=itinerary_id), say("Pack an umbrella."))
    reply = await conversation.handle_message(traveller(acme), "c1", "What's the weather for my Berlin trip?")
    assert reply.text == "Pack an umbrella."
    note = scripted_model.messages()[-2]["content"]
    assert "3 °C" in note and "Berlin" in note and "rain" in note


async def test_a_provider_outage_reads_as_unavailable(
    informed: tuple[ConversationService, FakeTravelProviders], scripted_model: ScriptedModel, acme: Company
) -> None:
    conversation, providers = informed
    itinerary_id = await plan_berlin(conversation, scripted_model, acme)
    providers.fail("forecast", status=500, times=None)
    scripted_model.script(call("get_travel_info", itinerary_id=itinerary_id), say("No forecast right now."))
    reply = await conversation.handle_message(traveller(acme), "c1", "Weather?")
    assert reply.text == "No forecast right now."
    assert "unavailable" in scripted_model.messages()[-2]["content"].lower()
