"""Abuse limits: message rates and the daily token budget answer clearly and lose nothing accepted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from agent.checkpoints import checkpoint_saver
from agent.commands import CommandRunner
from agent.conversation import ConversationService
from agent.graph import build_graph
from agent.tools import AgentServices
from storage.audit import Actor
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.preferences import set_tenant_preference
from storage.quotas import MessageLimits, Quotas
from storage.settings import Settings
from tests.conftest import NOW, Company, chat_model, traveller
from tests.fakes.scripted_model import ScriptedModel, say


@pytest.fixture
async def redis(embedded: EmbeddedUrls) -> AsyncIterator[Redis]:
    client = Redis.from_url(embedded.redis_url)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def limited(
    db: Database, embedded: EmbeddedUrls, redis: Redis, scripted_model: ScriptedModel
) -> AsyncIterator[ConversationService]:
    services = AgentServices(
        db=db, clock=lambda: NOW, quotas=Quotas(redis, MessageLimits(per_user_per_minute=3))
    )
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        yield ConversationService(
            services=services,
            graph=build_graph(model=chat_model(scripted_model), services=services, checkpointer=saver),
        )


async def test_a_user_over_the_message_rate_is_told_to_wait_and_nothing_is_lost(
    limited: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    scripted_model.responder = lambda request: say(f"Answer to: {request['messages'][-2]['content']}")
    answers = [
        (await limited.handle_message(traveller(acme), "c1", f"message {n}")).text for n in range(1, 5)
    ]
    assert answers[:3] == ["Answer to: message 1", "Answer to: message 2", "Answer to: message 3"]
    assert answers[3] == "You are sending messages faster than I can answer them. Please wait 60 seconds."
    assert len(scripted_model.requests) == 3
    # Another traveller of the same company is not held back by the first.
    admin = traveller(acme, role="admin")
    assert (await limited.handle_message(admin, "c2", "hello")).text == "Answer to: hello"


async def test_an_exhausted_token_budget_stops_the_model_but_not_slash_commands(
    db: Database, limited: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    async with db.tenant(acme.tenant_id) as session:
        await set_tenant_preference(
            session, actor=Actor.user(acme.admin_id), key="llm.daily_token_budget", value=100
        )
    scripted_model.responder = lambda _request: say("Sure.")
    assert (await limited.handle_message(traveller(acme), "c1", "first")).text == "Sure."  # uses > 100 tokens
    refused = await limited.handle_message(traveller(acme), "c1", "second")
    assert refused.text.startswith("Your company's daily AI budget is used up; it renews at midnight UTC.")
    assert len(scripted_model.requests) == 1
    drafts = await CommandRunner(db, clock=lambda: NOW).run(traveller(acme), "/drafts")
    assert drafts.text == "You have no draft itineraries."


async def test_thirty_concurrent_turns_against_a_two_turn_budget_reach_the_model_at_most_twice(
    db: Database, embedded: EmbeddedUrls, redis: Redis, scripted_model: ScriptedModel, acme: Company
) -> None:
    quotas = Quotas(redis, MessageLimits(per_user_per_minute=100))
    services = AgentServices(db=db, clock=lambda: NOW, quotas=quotas)
    scripted_model.responder = lambda _request: say("Sure.")
    async with checkpoint_saver(embedded.app_database_url, max_size=4) as saver:
        service = ConversationService(
            services=services,
            graph=build_graph(model=chat_model(scripted_model), services=services, checkpointer=saver),
        )
        # One turn shows what a turn costs; the budget then leaves room for exactly two more.
        assert (await service.handle_message(traveller(acme), "warm-up", "hello")).text == "Sure."
        one_turn = await quotas.tokens_used_today(tenant_id=acme.tenant_id, now=NOW)
        assert one_turn > 0
        async with db.tenant(acme.tenant_id) as session:
            await set_tenant_preference(
                session, actor=Actor.user(acme.admin_id), key="llm.daily_token_budget", value=3 * one_turn
            )
        before = len(scripted_model.requests)
        replies = await asyncio.gather(
            *(service.handle_message(traveller(acme), f"c{n}", f"question {n}") for n in range(30))
        )
    answered = [r for r in replies if r.text == "Sure."]
    refused = [r for r in replies if r.text.startswith("Your company's daily AI budget is used up")]
    assert 1 <= len(answered) <= 2 and len(scripted_model.requests) - before == len(answered)
    assert len(answered) + len(refused) == 30
    assert int(await redis.get(f"tokens:reserved:{acme.tenant_id}:{NOW:%Y%m%d}") or 0) == 0  # all released


async def test_the_company_message_limit_is_a_setting_and_counts_everyone_of_the_company(
    db: Database, embedded: EmbeddedUrls, redis: Redis, scripted_model: ScriptedModel, acme: Company
) -> None:
    settings = Settings(TRAVELMATE_MESSAGES_PER_TENANT_PER_MINUTE=3)
    assert MessageLimits.of(settings) == MessageLimits(per_user_per_minute=20, per_tenant_per_minute=3)
    services = AgentServices(db=db, clock=lambda: NOW, quotas=Quotas(redis, MessageLimits.of(settings)))
    scripted_model.responder = lambda _request: say("Sure.")
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        service = ConversationService(
            services=services,
            graph=build_graph(model=chat_model(scripted_model), services=services, checkpointer=saver),
        )
        people = [traveller(acme), traveller(acme, role="admin"), traveller(acme)]
        answered = [(await service.handle_message(p, f"c{n}", "hello")).text for n, p in enumerate(people)]
        refused = await service.handle_message(traveller(acme, role="admin"), "c9", "one more")
    assert answered == ["Sure."] * 3
    assert refused.text.startswith("Your company is sending more messages than its limit allows.")
    assert len(scripted_model.requests) == 3
