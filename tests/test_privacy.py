"""GDPR: an export holds everything about a user and nothing of others; erasure leaves no trace of them."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import uuid
import zipfile
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select, text, update

from agent.checkpoints import checkpoint_saver
from agent.conversation import ConversationService, thread_id
from agent.privacy import apply_retention, export_bundle, forget_user
from agent.tools import Decision
from bot.reminder_queue import enqueue_reminders
from storage.audit import Actor
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.identities import link_identity
from storage.models import (
    AuditEntry,
    ConversationThread,
    Itinerary,
    ReminderSchedule,
    TenantUser,
    TravelAnalytics,
    UserTravelHistory,
)
from storage.preferences import set_tenant_preference
from storage.quotas import Quotas
from storage.trips import record_trip
from tests.conftest import NOW, Company, traveller
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.test_agent_booking import ask_to_book, berlin_days, plan_berlin

PHRASE = "purple-elephant-workshop-7731"


async def places_holding(owner: Database, needle: str) -> list[str]:
    """Every table (and bytea column, decoded as UTF-8 bytes) whose rows contain `needle`."""
    async with owner.unscoped() as session:
        tables = (
            (
                await session.execute(
                    text(
                        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname IN ('public', 'users')"
                    )
                )
            )
            .scalars()
            .all()
        )
        found = []
        for table in tables:
            if await session.scalar(
                text(f"SELECT count(*) FROM {table} t WHERE position(:n in t::text) > 0"), {"n": needle}
            ):
                found.append(table)
            binary = (
                (
                    await session.execute(
                        text(
                            "SELECT column_name FROM information_schema.columns WHERE format('%I.%I', table_schema, table_name) = :t "
                            "AND data_type = 'bytea'"
                        ),
                        {"t": table},
                    )
                )
                .scalars()
                .all()
            )
            for column in binary:
                hits = await session.scalar(
                    text(
                        f"SELECT count(*) FROM {table} WHERE position(convert_to(:n, 'UTF8') in {column}) > 0"
                    ),
                    {"n": needle},
                )
                if hits:
                    found.append(f"{table}.{column}")
    return found


async def a_trip_with_words(
    conversation: ConversationService, model: ScriptedModel, company: Company, words: str
) -> None:
    model.script(call("create_draft_itinerary", berlin_days()), say(f"Draft ready for {words}."))
    await conversation.handle_message(
        traveller(company), f"chat-{company.traveler_id}", f"Plan Berlin for the {words}"
    )


async def test_export_has_every_row_and_message_of_the_user_and_nothing_of_others(
    db: Database,
    embedded: EmbeddedUrls,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
) -> None:
    await a_trip_with_words(conversation, scripted_model, acme, PHRASE)
    other = Company(acme.tenant_id, acme.admin_id, acme.admin_id, acme.name)  # the admin plans their own trip
    await a_trip_with_words(conversation, scripted_model, other, "admin-only-offsite")
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        bundle = await export_bundle(db, saver, tenant_id=acme.tenant_id, user_id=acme.traveler_id)
    archive = zipfile.ZipFile(io.BytesIO(bundle.content))
    data = json.loads(archive.read("export.json"))
    assert data["profile"][0]["email"] == "traveller@acme.test"
    assert len(data["itineraries"]) == 1 and len(data["itinerary_details"]) == 4  # one row per activity
    assert any(PHRASE in m["text"] and m["from"] == "you" for m in data["messages"])
    assert {"export.json", "profile.csv", "itineraries.csv", "messages.csv"} <= set(archive.namelist())
    everything = archive.read("export.json").decode()
    assert "admin-only-offsite" not in everything and "admin@acme.test" not in everything


async def test_erasure_leaves_no_trace_and_keeps_others_and_anonymous_spend(
    db: Database,
    owner_db: Database,
    embedded: EmbeddedUrls,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
    globex: Company,
) -> None:
    await a_trip_with_words(conversation, scripted_model, acme, PHRASE)
    await a_trip_with_words(conversation, scripted_model, globex, "globex-summit")
    async with db.tenant(acme.tenant_id) as session:
        await record_trip(
            session,
            actor=Actor.user(acme.traveler_id),
            user_id=acme.traveler_id,
            trip={
                "trip_id": uuid.uuid4(),
                "destination": "Lisbon",
                "start_date": "2026-10-01",
                "end_date": "2026-10-03",
                "total_spend": "900.00",
                "spend_by_category": {"flight": "300.00", "hotel": "600.00"},
            },
        )
    assert await places_holding(owner_db, PHRASE)  # the check can see the phrase where it is

    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        erasure = await forget_user(
            db, saver, tenant_id=acme.tenant_id, actor=Actor.user(acme.traveler_id), user_id=acme.traveler_id
        )
    assert len(erasure.threads) == 1 and erasure.anonymised_trips == 1
    for needle in (PHRASE, "traveller@acme.test", "Acme Traveller", str(acme.traveler_id)):
        assert await places_holding(owner_db, needle) == [], needle
    assert await places_holding(owner_db, "globex-summit")  # another tenant's conversation is intact
    async with db.tenant(acme.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(TenantUser)) == 2  # admin + the stand-in
        spend = (await session.scalars(select(TravelAnalytics))).one()
        erased = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "user.erase"))).one()
        assert await session.scalar(select(func.count()).select_from(Itinerary)) == 0
    assert str(spend.total_spend) == "900.00" and spend.categories_spend == {
        "flight": "300.00",
        "hotel": "600.00",
    }
    assert erased.actor == "system" and erased.actor_user_id is None and erased.entity_id is None


async def test_retention_removes_exactly_what_is_older_than_the_limit(
    db: Database,
    embedded: EmbeddedUrls,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
) -> None:

    scripted_model.responder = lambda _request: say("Noted.")
    await conversation.handle_message(traveller(acme), "old-chat", "an old conversation")
    await conversation.handle_message(traveller(acme), "new-chat", "a recent conversation")
    async with db.tenant(acme.tenant_id) as session:
        await set_tenant_preference(
            session, actor=Actor.user(acme.admin_id), key="data_retention_days", value=30
        )
        await session.execute(
            update(ConversationThread)
            .where(ConversationThread.thread_id == thread_id(traveller(acme), "old-chat"))
            .values(last_active_at=NOW - dt.timedelta(days=31))
        )
        for destination, ended in (
            ("Oslo", NOW.date() - dt.timedelta(days=31)),
            ("Rome", NOW.date() - dt.timedelta(days=29)),
        ):
            await record_trip(
                session,
                actor=Actor.user(acme.traveler_id),
                user_id=acme.traveler_id,
                trip={
                    "trip_id": uuid.uuid4(),
                    "destination": destination,
                    "start_date": ended - dt.timedelta(days=2),
                    "end_date": ended,
                    "total_spend": "100.00",
                },
            )
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        expired = await apply_retention(db, saver, tenant_id=acme.tenant_id, now=NOW)
        old = thread_id(traveller(acme), "old-chat")
        assert expired.threads == [old] and expired.trips == 1
        assert await saver.aget_tuple({"configurable": {"thread_id": expired.threads[0]}}) is None
        recent = thread_id(traveller(acme), "new-chat")
        assert await saver.aget_tuple({"configurable": {"thread_id": recent}}) is not None
        again = await apply_retention(db, saver, tenant_id=acme.tenant_id, now=NOW)
    assert again.threads == [] and again.trips == 0
    async with db.tenant(acme.tenant_id) as session:
        assert (await session.scalars(select(UserTravelHistory.destination))).all() == ["Rome"]


async def test_a_turn_that_races_the_erasure_leaves_no_checkpoint(
    db: Database,
    owner_db: Database,
    embedded: EmbeddedUrls,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
) -> None:

    scripted_model.script(say(f"Noted the {PHRASE}.").delayed(1.0))
    turn = asyncio.create_task(conversation.handle_message(traveller(acme), "race", f"Remember {PHRASE}"))
    await asyncio.sleep(0.5)  # the turn is waiting for the model
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        await forget_user(
            db, saver, tenant_id=acme.tenant_id, actor=Actor.user(acme.traveler_id), user_id=acme.traveler_id
        )
    reply = await turn
    assert reply.text == "Your data has been erased; this conversation was not kept."
    assert await places_holding(owner_db, PHRASE) == []


async def redis_holding(redis: Any, needle: str) -> list[str]:
    """Every Redis key whose name or value (strings, lists, sets, hashes, sorted sets) contains `needle`."""
    found = []
    async for raw_key in redis.scan_iter(count=1000):
        key = raw_key.decode(errors="replace")
        kind = (await redis.type(raw_key)).decode()
        values: list[Any] = []
        if kind == "string":
            values = [await redis.get(raw_key)]
        elif kind == "list":
            values = await redis.lrange(raw_key, 0, -1)
        elif kind == "set":
            values = list(await redis.smembers(raw_key))
        elif kind == "zset":
            values = await redis.zrange(raw_key, 0, -1)
        elif kind == "hash":
            values = [v for pair in (await redis.hgetall(raw_key)).items() for v in pair]
        text_values = [v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in values]
        if needle in key or any(needle in v for v in text_values):
            found.append(key)
    return found


async def test_erasure_also_clears_redis_and_the_slack_identity(
    db: Database,
    owner_db: Database,
    embedded: EmbeddedUrls,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
) -> None:

    redis = Redis.from_url(embedded.redis_url)
    await redis.flushdb()
    slack_id = "U0ERASEME42"
    async with db.tenant(acme.tenant_id) as session:
        await link_identity(
            session,
            actor=Actor.user(acme.traveler_id),
            channel="slack",
            workspace_id="T0ACME",
            external_user_id=slack_id,
            user_id=acme.traveler_id,
        )
    itinerary_id = await plan_berlin(conversation, scripted_model, acme)
    await ask_to_book(conversation, scripted_model, acme, itinerary_id)
    scripted_model.script(say(f"Booked for the {PHRASE}."))
    await conversation.resume(traveller(acme), "c1", Decision(approved=True))
    async with db.tenant(acme.tenant_id) as session:
        reminders = (await session.scalars(select(ReminderSchedule))).all()
    assert await enqueue_reminders(embedded.redis_url, reminders) == len(reminders) > 0
    await Quotas(redis).admit_message(tenant_id=acme.tenant_id, user_id=acme.traveler_id, now=NOW)
    assert await redis_holding(redis, str(acme.traveler_id))  # the check sees the counter
    assert await places_holding(owner_db, slack_id) and await places_holding(owner_db, PHRASE)

    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        await forget_user(
            db,
            saver,
            tenant_id=acme.tenant_id,
            actor=Actor.user(acme.traveler_id),
            user_id=acme.traveler_id,
            redis=redis,
        )
    for needle in (PHRASE, "traveller@acme.test", "Acme Traveller", slack_id, str(acme.traveler_id)):
        assert await places_holding(owner_db, needle) == [], needle
        assert await redis_holding(redis, needle) == [], needle
    assert await redis.zcard("arq:queue") == 0  # the erased user's reminder jobs are withdrawn
    async with db.tenant(acme.tenant_id) as session:
        admin = await session.get(TenantUser, (acme.tenant_id, acme.admin_id))
    assert admin is not None and admin.email == "admin@acme.test"  # others are intact
    await redis.flushdb()
    await redis.aclose()


async def exported_messages(
    db: Database, embedded: EmbeddedUrls, company: Company, user_id: uuid.UUID
) -> list[tuple[str, str]]:
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        bundle = await export_bundle(db, saver, tenant_id=company.tenant_id, user_id=user_id)
    data = json.loads(zipfile.ZipFile(io.BytesIO(bundle.content)).read("export.json"))
    return [(m["from"], m["text"]) for m in data["messages"]]


async def test_a_group_chat_is_exported_and_erased_per_person(
    db: Database,
    owner_db: Database,
    embedded: EmbeddedUrls,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
) -> None:
    alice, bob = traveller(acme, channel="telegram"), traveller(acme, role="admin", channel="telegram")
    group = "group-100555"
    for person, words, answer in (
        (alice, "Alice needs Oslo on the 4th", "Oslo noted for Alice."),
        (bob, "Bob needs Rome on the 9th", "Rome noted for Bob."),
        (alice, "Alice prefers aisle seats", "Aisle seats for Alice."),
    ):
        scripted_model.script(say(answer))
        await conversation.handle_message(person, group, words)
    assert await places_holding(owner_db, group) == []  # thread ids keep a digest, not the platform's chat id

    assert await exported_messages(db, embedded, acme, acme.traveler_id) == [
        ("you", "Alice needs Oslo on the 4th"),
        ("assistant", "Oslo noted for Alice."),
        ("you", "Alice prefers aisle seats"),
        ("assistant", "Aisle seats for Alice."),
    ]
    bobs = [("you", "Bob needs Rome on the 9th"), ("assistant", "Rome noted for Bob.")]
    assert await exported_messages(db, embedded, acme, acme.admin_id) == bobs

    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        await forget_user(
            db, saver, tenant_id=acme.tenant_id, actor=Actor.user(acme.traveler_id), user_id=acme.traveler_id
        )
    assert await exported_messages(db, embedded, acme, acme.admin_id) == bobs
    for needle in ("Alice needs Oslo", "Oslo noted", "aisle seats", str(acme.traveler_id)):
        assert await places_holding(owner_db, needle) == [], needle

    # The group goes on for Bob with his own history, and the model is sent nothing of Alice's.
    scripted_model.script(say("Rome is booked soon, Bob."))
    reply = await conversation.handle_message(bob, group, "Bob again")
    assert reply.text == "Rome is booked soon, Bob."
    sent = json.dumps(scripted_model.requests[-1])
    assert "Bob needs Rome on the 9th" in sent and "Oslo" not in sent
    assert "Alice prefers aisle seats" not in sent and "Aisle seats for Alice" not in sent
