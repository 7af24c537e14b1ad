"""The agent's guard rails: hidden identity, role checks in code, server-built threads, model faults."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlalchemy import func, select

from agent.conversation import ConversationService, thread_id
from agent.tools import AgentServices, Decision
from storage.database import Database
from storage.errors import InvalidInput
from storage.models import Itinerary, TenantPreference
from tests.conftest import Company, traveller
from tests.fakes.scripted_model import ScriptedModel, call, fail, hang, malformed_call, say
from tests.test_agent_booking import berlin_days, plan_berlin

IDENTITY_WORDS = ("tenant", "user_id", "role", "runtime")


async def test_no_tool_schema_offers_tenant_user_or_role(
    conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    scripted_model.script(say("Hello"), say("Hello"))
    await conversation.handle_message(traveller(acme), "c1", "hi")
    assert "set_tenant_preference" not in scripted_model.tool_names()  # allow-listed by role
    await conversation.handle_message(traveller(acme, role="admin"), "c2", "hi")
    schemas = scripted_model.tool_schemas()
    assert {"create_draft_itinerary", "confirm_booking", "query_spend", "set_tenant_preference"} <= set(
        schemas
    )
    for name, schema in schemas.items():
        fields = property_names(schema["parameters"])
        assert not [f for f in fields if any(word in f.lower() for word in IDENTITY_WORDS)], (name, fields)


def property_names(schema: object) -> set[str]:
    """Every property name anywhere in a JSON schema, nested models and $defs included."""
    names: set[str] = set()
    if isinstance(schema, dict):
        names.update(schema.get("properties", {}))
        for value in schema.values():
            names |= property_names(value)
    elif isinstance(schema, list):
        for value in schema:
            names |= property_names(value)
    return names


async def test_a_traveller_cannot_change_policy_even_when_the_model_tries(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    scripted_model.script(
        call(
            "set_tenant_preference",
            key="policy.hotel.max_nightly_rate",
            value={"amount": 999, "currency": "EUR"},
        ),
        say("I could not change that."),
    )
    reply = await conversation.handle_message(traveller(acme), "c1", "Raise the hotel cap to 999")
    assert reply.text == "I could not change that."
    assert (
        scripted_model.messages()[-2]["content"]
        == "Refused: Only an admin of your company can change travel policy."
    )
    async with db.tenant(acme.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(TenantPreference)) == 0


async def test_a_traveller_cannot_see_tenant_wide_spend_even_when_the_model_tries(
    conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    scripted_model.script(
        call("query_spend", scope="tenant", period="this year"), say("Only admins can see that.")
    )
    await conversation.handle_message(traveller(acme), "c1", "What did the whole company spend?")
    assert scripted_model.messages()[-2]["content"] == (
        "Refused: Company-wide spend is for admins; I can show you your own spend instead."
    )


async def test_an_admin_may_change_policy(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    scripted_model.script(
        call(
            "set_tenant_preference",
            key="policy.hotel.max_nightly_rate",
            value={"amount": 180, "currency": "EUR"},
        ),
        say("Done."),
    )
    await conversation.handle_message(traveller(acme, role="admin"), "c1", "Cap hotels at 180 EUR")
    async with db.tenant(acme.tenant_id) as session:
        stored = (
            await session.scalars(
                select(TenantPreference).where(
                    TenantPreference.preference_key == "policy.hotel.max_nightly_rate"
                )
            )
        ).one_or_none()
    assert stored is not None and stored.preference_value == {"amount": "180.00", "currency": "EUR"}


async def test_a_crafted_conversation_id_cannot_reach_another_tenants_thread(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
    globex: Company,
) -> None:
    itinerary_id = await plan_berlin(conversation, scripted_model, acme)
    scripted_model.script(call("confirm_booking", itinerary_id=itinerary_id))
    await conversation.handle_message(traveller(acme), "c1", "Book it")
    acme_thread = thread_id(traveller(acme), "c1")
    # Globex names Acme's thread as its conversation: it lands in its own namespace and finds nothing.
    crafted = await conversation.resume(traveller(globex), acme_thread, Decision(approved=True))
    assert crafted.text == "Nothing is waiting for your confirmation here; it was already answered."
    assert thread_id(traveller(globex), acme_thread).startswith(f"{globex.tenant_id}:")
    with pytest.raises(InvalidInput):
        await conversation.resume(traveller(globex), "../c1 OR 1=1", Decision(approved=True))
    assert await conversation.pending_confirmation(traveller(acme), "c1") is not None
    async with db.tenant(acme.tenant_id) as session:
        assert (await session.scalars(select(Itinerary.status))).one() == "draft"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (fail(500), "The AI model is unavailable right now. Nothing was changed; please try again shortly."),
        (fail(429, retry_after=0), "The AI model is busy right now (rate limited)."),
        (hang(3), "The AI model took too long to answer. Nothing was changed; please try again."),
    ],
    ids=["http-500", "http-429", "timeout"],
)
async def test_model_faults_give_a_clear_message_and_leave_the_conversation_usable(
    db: Database, embedded: object, scripted_model: ScriptedModel, acme: Company, fault: object, expected: str
) -> None:
    from agent.checkpoints import checkpoint_saver
    from agent.graph import build_graph
    from tests.conftest import NOW, chat_model

    services = AgentServices(db=db, clock=lambda: NOW)
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:  # type: ignore[attr-defined]
        service = ConversationService(
            services=services,
            graph=build_graph(
                model=chat_model(scripted_model, timeout=1.0), services=services, checkpointer=saver
            ),
        )
        scripted_model.script(call("create_draft_itinerary", berlin_days()), fault)  # type: ignore[arg-type]
        reply = await service.handle_message(traveller(acme), "c1", "Berlin 3-5 Dec please")
        assert reply.text.startswith(expected) and reply.error_id and reply.error_id in reply.text
        # The draft tool finished as a whole before the fault; nothing half-written exists.
        async with db.tenant(acme.tenant_id) as session:
            assert await session.scalar(select(func.count()).select_from(Itinerary)) == 1
        scripted_model.script(say("I'm back."))
        again = await service.handle_message(traveller(acme), "c1", "Are you there?")
        assert again.text == "I'm back."
        roles = [message["role"] for message in scripted_model.messages()]
        assert roles == ["system", "user", "system"]  # the failed turn left nothing behind


async def test_one_malformed_answer_is_retried_like_a_500(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    scripted_model.script(
        malformed_call("create_draft_itinerary", '{"start_date": 2026-12-03, oops'),
        say("Where would you like to stay in Berlin?"),
    )
    reply = await conversation.handle_message(traveller(acme), "c1", "Berlin 3-5 Dec")
    assert reply.text == "Where would you like to stay in Berlin?" and reply.error_id is None
    assert len(scripted_model.requests) == 2
    scripted_model.script(say("Noted."))
    await conversation.handle_message(traveller(acme), "c1", "Near the centre")
    # The malformed answer left nothing in the conversation: the next request is well formed.
    assert [m["role"] for m in scripted_model.messages()] == ["system", "user", "assistant", "user", "system"]


async def test_malformed_tool_arguments_twice_change_nothing(
    db: Database, conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    scripted_model.script(
        malformed_call("create_draft_itinerary", '{"start_date": 2026-12-03, oops'),
        malformed_call("create_draft_itinerary", '{"start_date": 2026-12-03, oops'),
    )
    reply = await conversation.handle_message(traveller(acme), "c1", "Berlin 3-5 Dec")
    assert reply.text.startswith("The AI model sent a request I could not read. Nothing was changed")
    async with db.tenant(acme.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(Itinerary)) == 0
    scripted_model.script(say("Let's try again."))
    assert (
        await conversation.handle_message(traveller(acme), "c1", "Berlin 3-5 Dec")
    ).text == "Let's try again."


async def test_two_tenants_share_a_byte_identical_prompt_prefix(
    conversation: ConversationService, scripted_model: ScriptedModel, acme: Company, globex: Company
) -> None:
    scripted_model.responder = lambda _request: say("Hi")
    await conversation.handle_message(traveller(acme), "c1", "hello")
    await conversation.handle_message(traveller(globex), "c1", "hello")
    first, second = scripted_model.requests[-2:]
    prefix = {key: first[key] for key in ("model", "tools")}
    assert prefix == {key: second[key] for key in ("model", "tools")}
    assert json.dumps(first["messages"][0]) == json.dumps(second["messages"][0])  # the instructions
    assert first["messages"][-1] != second["messages"][-1]  # the tenant facts, last
    assert "Acme" in first["messages"][-1]["content"] and "Globex" in second["messages"][-1]["content"]


async def test_request_size_stays_bounded_over_fifty_turns(
    conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    scripted_model.responder = lambda _request: say("Noted. " + "x" * 200)
    for turn in range(1, 51):
        await conversation.handle_message(traveller(acme), "long", f"turn {turn}: " + "y" * 200)
    sizes = scripted_model.request_sizes
    assert len(sizes) == 50
    assert sizes[49] <= 1.5 * sizes[9], (sizes[9], sizes[49])


async def test_an_over_long_message_is_refused_before_the_model(
    conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    reply = await conversation.handle_message(traveller(acme), "c1", "a" * 10_000)
    assert reply.text.startswith("That message is 10,000 characters long; the limit is 4,000.")
    assert scripted_model.requests == []


async def test_no_model_configured_explains_how_to_configure_one(db: Database, acme: Company) -> None:
    service = ConversationService(services=AgentServices(db=db), graph=None)
    reply = await service.handle_message(traveller(acme), "c1", "Plan Berlin")
    assert "set TRAVELMATE_MODEL" in reply.text and "OPENAI_BASE_URL" in reply.text


async def test_only_the_requester_can_answer_a_confirmation(
    conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    itinerary_id = await plan_berlin(conversation, scripted_model, acme)
    scripted_model.script(call("confirm_booking", itinerary_id=itinerary_id))
    await conversation.handle_message(traveller(acme), "c1", "Book it")
    from storage.errors import Forbidden

    admin_in_same_thread = traveller(acme, role="admin")
    with pytest.raises(Forbidden):
        await conversation.resume(admin_in_same_thread, "c1", Decision(approved=True))
    stale = await conversation.resume(
        traveller(acme), "c1", Decision(approved=True), itinerary_id=uuid.uuid4()
    )
    assert stale.text.startswith("Nothing is waiting")
    await asyncio.sleep(0)
