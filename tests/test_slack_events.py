"""Slack events end to end: signed requests into the real Bolt app, a fake Web API, real Postgres."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text

from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.identities import resolve_identity
from storage.models import Itinerary, TenantUser
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.fakes.slack_api import (
    ACME,
    ADMIN,
    SIGNING_SECRET,
    TRAVELLER,
    FakeSlack,
    SlackHarness,
    acme_slack,
    acme_workspace,
    blocks_refusal,
    new_ts,
    sign,
    slack_harness,
)
from tests.test_agent_booking import berlin_days

TEAM = ACME


@pytest.fixture
async def slack(
    db: Database, embedded: EmbeddedUrls, scripted_model: ScriptedModel, fake_slack: FakeSlack
) -> AsyncIterator[SlackHarness]:
    async with acme_slack(
        db=db, embedded=embedded, model=scripted_model, fake=fake_slack, traveller_tz="America/New_York"
    ) as h:
        yield h


async def count_everywhere(owner_db: Database, table: str) -> int:
    """Rows in all tenants at once (the owner role bypasses RLS): used only to prove "no effect"."""
    return int(await owner_db.scalar(f"SELECT count(*) FROM {table}"))


async def test_url_verification_echoes_the_challenge(slack: SlackHarness) -> None:
    body = json.dumps(
        {
            "token": "legacy",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    response = await slack.send.post("/slack/events", body, "application/json")
    assert response.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in response.text


async def test_bad_or_stale_signatures_get_401_and_change_nothing(
    slack: SlackHarness, owner_db: Database, scripted_model: ScriptedModel
) -> None:
    scripted_model.responder = lambda _request: say("should never be asked")
    body = slack.send.event_body(
        TEAM,
        {
            "type": "message",
            "channel_type": "im",
            "channel": "D1",
            "user": TRAVELLER,
            "text": "plan Berlin",
            "ts": new_ts(),
        },
    )
    forged = await slack.send.http.post(
        "/slack/events",
        content=body,
        headers={**sign("not-the-secret", body), "Content-Type": "application/json"},
    )
    stale = await slack.send.http.post(
        "/slack/events",
        content=body,
        headers={
            **sign(SIGNING_SECRET, body, timestamp=int(time.time()) - 600),
            "Content-Type": "application/json",
        },
    )
    unsigned = await slack.send.http.post(
        "/slack/events", content=body, headers={"Content-Type": "application/json"}
    )
    await slack.settle()
    assert [forged.status_code, stale.status_code, unsigned.status_code] == [401, 401, 401]
    assert slack.fake.called() == []
    assert scripted_model.requests == []
    for table in ("tenants", "users.tenant_users", "processed_events", "itineraries"):
        assert await count_everywhere(owner_db, table) == 0, table


async def traveller_user(db: Database, slack_user: str = TRAVELLER) -> TenantUser:
    identity = await resolve_identity(db, channel="slack", workspace_id=TEAM, external_user_id=slack_user)
    assert identity is not None
    async with db.tenant(identity.tenant_id) as session:
        user = await session.get(TenantUser, (identity.tenant_id, identity.user_id))
    assert user is not None
    return user


async def test_a_dm_plans_a_draft_and_answers_with_block_kit_in_the_same_thread(
    slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    scripted_model.script(
        call("create_draft_itinerary", berlin_days()), say("Here is your **Berlin** draft.")
    )
    response, event = await slack.send.dm(TEAM, TRAVELLER, "plan Berlin 3-5 Dec")
    assert response.status_code == 200
    await slack.settle()

    (reply,) = slack.fake.thread("D" + TRAVELLER, event["ts"])
    blocks = reply.blocks
    # The model's Markdown goes in a markdown block, which Slack renders itself.
    assert blocks[0] == {"type": "markdown", "text": "Here is your **Berlin** draft."}
    assert {
        "type": "header",
        "text": {"type": "plain_text", "text": "Berlin, 03 Dec – 05 Dec 2026", "emoji": True},
    } in blocks
    days = [
        b["text"]["text"] for b in blocks if b["type"] == "section" and b["text"]["text"].startswith("*Day")
    ]
    assert [d.split("\n")[0] for d in days] == [
        "*Day 1 · Thu 03 Dec*",
        "*Day 2 · Fri 04 Dec*",
        "*Day 3 · Sat 05 Dec*",
    ]
    assert ":airplane: *Flight* MUC → BER LH 1234 — 189.00 EUR" in days[0]
    assert any("*Estimated total:* 628.90 EUR" in json.dumps(b, ensure_ascii=False) for b in blocks)

    user = await traveller_user(db)
    assert (user.display_name, user.email, user.timezone, user.locale, user.role) == (
        "Tom Traveller",
        "tom@acme.test",
        "America/New_York",
        "en-GB",
        "admin",  # the first person of a new single-workspace tenant administers it
    )
    async with db.tenant(user.tenant_id) as session:
        trip = (await session.scalars(select(Itinerary))).one()
    assert (trip.status, trip.user_id, trip.destinations) == ("draft", user.user_id, ["Berlin"])


async def test_the_same_event_delivered_four_times_has_one_reply_and_one_effect(
    slack: SlackHarness, db: Database, owner_db: Database, scripted_model: ScriptedModel
) -> None:
    scripted_model.script(call("create_draft_itinerary", berlin_days()), say("Here is your Berlin draft."))
    event = {
        "type": "message",
        "channel": "D" + TRAVELLER,
        "channel_type": "im",
        "user": TRAVELLER,
        "text": "plan Berlin 3-5 Dec",
        "ts": new_ts(),
    }
    body = slack.send.event_body(TEAM, event)
    responses = await asyncio.gather(
        *(slack.send.event(TEAM, event, body=body, retry=retry or None) for retry in range(4))
    )
    await slack.settle()
    assert [r.status_code for r in responses] == [200, 200, 200, 200]
    assert len(slack.fake.thread("D" + TRAVELLER, event["ts"])) == 1
    assert len(scripted_model.requests) == 2  # the tool call and the answer, once
    user = await traveller_user(db)
    async with db.tenant(user.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(Itinerary)) == 1
    assert await count_everywhere(owner_db, "processed_events") == 1
    assert len(slack.fake.called("users.info")) == 1  # provisioned once, too


@pytest.fixture
async def slow_slack(
    db: Database, embedded: EmbeddedUrls, scripted_model: ScriptedModel, fake_slack: FakeSlack
) -> AsyncIterator[SlackHarness]:
    token = acme_workspace(fake_slack, traveller_tz="America/New_York")
    async with slack_harness(
        db=db, embedded=embedded, model=scripted_model, fake=fake_slack, bot_token=token, model_timeout=30
    ) as h:
        yield h


async def test_every_event_is_acknowledged_in_under_3_seconds_while_the_model_takes_10(
    slow_slack: SlackHarness, scripted_model: ScriptedModel
) -> None:
    scripted_model.responder = lambda _request: say("Here you are, slowly.", delay=10)
    send = slow_slack.send
    started = time.monotonic()
    dm, event = await send.dm(TEAM, TRAVELLER, "plan Berlin 3-5 Dec")
    dm_seconds = time.monotonic() - started
    mention = {
        "type": "app_mention",
        "channel": "C0TRIPS",
        "user": ADMIN,
        "text": "<@UBT0ACME> plan Rome",
        "ts": new_ts(),
    }
    started = time.monotonic()
    mentioned = await send.event(TEAM, mention)
    mention_seconds = time.monotonic() - started
    started = time.monotonic()
    command = await send.command(TEAM, TRAVELLER, "help")
    command_seconds = time.monotonic() - started
    assert [dm.status_code, mentioned.status_code, command.status_code] == [200, 200, 200]
    assert max(dm_seconds, mention_seconds, command_seconds) < 3.0, (
        dm_seconds,
        mention_seconds,
        command_seconds,
    )

    # Progress shows at once, and the answer replaces it when the model is done.
    await asyncio.sleep(0.5)
    (placeholder,) = slow_slack.fake.thread("D" + TRAVELLER, event["ts"])
    assert placeholder.text == "_Working on it…_"
    await slow_slack.settle()
    (answer,) = slow_slack.fake.thread("D" + TRAVELLER, event["ts"])
    assert answer.text == "Here you are, slowly." and answer.ts == placeholder.ts
    # The mention is answered in the asker's DM; the channel gets a note only.
    (in_channel,) = slow_slack.fake.thread("C0TRIPS", mention["ts"])
    assert in_channel.text.startswith("I answered <@U0ADMIN> in a direct message")
    assert [m.text for m in slow_slack.fake.in_channel("D" + ADMIN)] == ["Here you are, slowly."]


async def test_a_mention_in_a_channel_is_answered_in_a_dm_and_continues_there(
    slack: SlackHarness, scripted_model: ScriptedModel
) -> None:
    root = new_ts()
    mention = {
        "type": "app_mention",
        "channel": "C0TRIPS",
        "user": TRAVELLER,
        "text": "<@UBT0ACME> hi there",
        "ts": root,
    }
    # Slack sends both an app_mention and a message event for a mention; only one answer comes back.
    as_message = {**mention, "type": "message", "channel_type": "channel"}
    scripted_model.script(say("Hello! Where to?"), say("Berlin it is."))
    await slack.send.event(TEAM, mention)
    await slack.send.event(TEAM, as_message)
    await slack.settle()
    # Replies in the channel's thread without a mention are colleagues talking, not the assistant's business.
    reply = {
        "type": "message",
        "channel": "C0TRIPS",
        "channel_type": "channel",
        "user": TRAVELLER,
        "text": "Berlin please",
        "ts": new_ts(),
        "thread_ts": root,
    }
    await slack.send.event(TEAM, reply)
    await slack.settle()
    assert [m.text for m in slack.fake.thread("C0TRIPS", root)] == [
        "I answered <@U0TRAVEL> in a direct message, since my answers use your own trips and preferences."
    ]
    # The conversation goes on in the DM, where the answer was.
    await slack.send.dm(TEAM, TRAVELLER, "Berlin please")
    await slack.settle()
    in_dm = [m.text for m in slack.fake.in_channel("D" + TRAVELLER)]
    assert (in_dm[0], in_dm[-1]) == ("Hello! Where to?", "Berlin it is.")
    first_request = scripted_model.requests[0]["messages"]
    assert any(m["role"] == "user" and m["content"] == "hi there" for m in first_request)
    assert len(scripted_model.requests) == 2


async def test_an_assistant_thread_is_greeted_with_prompts_and_shows_a_status_while_working(
    slack: SlackHarness, scripted_model: ScriptedModel
) -> None:
    thread_ts = new_ts()
    started = {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": TRAVELLER,
            "context": {},
            "channel_id": "D" + TRAVELLER,
            "thread_ts": thread_ts,
        },
        "event_ts": new_ts(),
    }
    await slack.send.event(TEAM, started)
    await slack.settle()
    (greeting,) = slack.fake.thread("D" + TRAVELLER, thread_ts)
    assert greeting.text.startswith("Hi, Tom Traveller!")
    (prompts,) = slack.fake.called("assistant.threads.setSuggestedPrompts")
    assert prompts.params["prompts"][0]["title"] == "Plan a trip"

    scripted_model.script(say("Where would you like to go?"))
    await slack.send.dm(TEAM, TRAVELLER, "I need a trip", thread_ts=thread_ts)
    await slack.settle()
    (status,) = slack.fake.called("assistant.threads.setStatus")
    assert status.params["status"] == "is planning…" and status.params["thread_ts"] == thread_ts
    assert [m.text for m in slack.fake.thread("D" + TRAVELLER, thread_ts)][
        -1
    ] == "Where would you like to go?"


async def test_user_text_cannot_inject_mentions_or_markup(
    slack: SlackHarness, scripted_model: ScriptedModel
) -> None:
    scripted_model.script(say("Sure <!channel> & <@U0ADMIN>, see <https://evil.test|here>"))
    _, event = await slack.send.dm(TEAM, TRAVELLER, "say <!channel>")
    await slack.settle()
    (reply,) = slack.fake.thread("D" + TRAVELLER, event["ts"])
    assert "<!channel>" not in reply.all_text() and "<@U0ADMIN>" not in reply.all_text()
    assert (
        reply.blocks[0]["text"]
        == "Sure &lt;!channel&gt; &amp; &lt;@U0ADMIN&gt;, see &lt;https://evil.test|here&gt;"
    )


async def test_rate_limited_calls_wait_for_retry_after_and_post_once(
    slack: SlackHarness, scripted_model: ScriptedModel
) -> None:
    slack.fake.fail_next("chat.postMessage", status=429, retry_after=1)
    scripted_model.script(say("Hello!"))
    started = time.monotonic()
    _, event = await slack.send.dm(TEAM, TRAVELLER, "hi")
    await slack.settle()
    assert time.monotonic() - started >= 1.0
    assert [m.text for m in slack.fake.thread("D" + TRAVELLER, event["ts"])] == ["Hello!"]
    assert len(slack.fake.called("chat.postMessage")) == 2  # the 429, then the retry


async def test_an_unexpected_failure_becomes_one_message_with_an_error_id_that_is_logged(
    slack: SlackHarness, scripted_model: ScriptedModel, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fake.fail_next("chat.update", error="invalid_blocks")
    scripted_model.script(say("Hello!"))
    with caplog.at_level(logging.ERROR, logger="bot.slack.faults"):
        _, event = await slack.send.dm(TEAM, TRAVELLER, "hi")
        await slack.settle()
    # The placeholder becomes the one error message: no "working on it" is left behind.
    (message,) = slack.fake.thread("D" + TRAVELLER, event["ts"])
    assert message.text.startswith("Sorry, something went wrong on my side and nothing more was done.")
    error_id = re.search(r"error id: `([0-9a-f]{12})`", message.text)
    assert error_id is not None
    assert any(error_id.group(1) in record.getMessage() for record in caplog.records)


async def test_processed_events_hold_no_tenant_data(
    owner_db: Database, slack: SlackHarness, scripted_model: ScriptedModel
) -> None:
    scripted_model.script(say("Hello!"))
    await slack.send.dm(TEAM, TRAVELLER, "hi")
    await slack.settle()
    async with owner_db.unscoped() as session:
        columns = (
            (
                await session.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns WHERE table_name = 'processed_events' ORDER BY 1"
                    )
                )
            )
            .scalars()
            .all()
        )
        rows = (await session.execute(text("SELECT source, request FROM processed_events"))).all()
    assert list(columns) == [
        "claimed_by",
        "claimed_until",
        "event_id",
        "handled_at",
        "received_at",
        "request",
        "request_at",
        "source",
    ]
    # The request (the traveller's words) is kept only until the delivery is handled.
    assert [tuple(row) for row in rows] == [("slack", None)]


async def test_socket_mode_runs_when_an_app_token_is_set(
    db: Database, embedded: EmbeddedUrls, scripted_model: ScriptedModel, fake_slack: FakeSlack
) -> None:
    token = acme_workspace(fake_slack, traveller_tz="America/New_York")
    async with slack_harness(
        db=db,
        embedded=embedded,
        model=scripted_model,
        fake=fake_slack,
        bot_token=token,
        app_token="xapp-1-A0-test",
    ) as slack:
        for _ in range(100):  # connected at start-up, before any event, without blocking the server
            if fake_slack.socket_connected:
                break
            await asyncio.sleep(0.05)
        assert fake_slack.socket_connected
        (opened,) = fake_slack.called("apps.connections.open")
        assert opened.token == "xapp-1-A0-test"
        scripted_model.script(say("Hello over the socket."))
        event = {
            "type": "message",
            "channel": "D" + TRAVELLER,
            "channel_type": "im",
            "user": TRAVELLER,
            "text": "hi",
            "ts": new_ts(),
        }
        envelope = fake_slack.push(json.loads(slack.send.event_body(TEAM, event)))
        for _ in range(100):
            if any(ack.get("envelope_id") == envelope for ack in fake_slack.socket_acks):
                break
            await asyncio.sleep(0.05)
        await slack.settle()
        assert [ack["envelope_id"] for ack in fake_slack.socket_acks] == [envelope]
        assert [m.text for m in fake_slack.thread("D" + TRAVELLER, event["ts"])] == ["Hello over the socket."]
    for _ in range(100):
        if not fake_slack.socket_connected:
            break
        await asyncio.sleep(0.05)
    assert not fake_slack.socket_connected  # closed at shutdown


async def test_a_delivery_that_failed_before_its_ack_is_handled_when_slack_retries_it(
    slack: SlackHarness, scripted_model: ScriptedModel, caplog: pytest.LogCaptureFixture
) -> None:
    # Any event authorises the app once (auth.test is then cached by Bolt).
    await slack.send.event(
        TEAM, {"type": "reaction_added", "user": TRAVELLER, "reaction": "+1", "event_ts": "1"}
    )
    # The next auth.test, which names the workspace for its new tenant, fails: the caller is unknown.
    slack.fake.fail_next("auth.test", status=500, error="internal_error")
    scripted_model.script(say("Hello!"))
    event = {
        "type": "message",
        "channel": "D" + TRAVELLER,
        "channel_type": "im",
        "user": TRAVELLER,
        "text": "hi",
        "ts": new_ts(),
    }
    body = slack.send.event_body(TEAM, event)
    with caplog.at_level(logging.ERROR, logger="bot.slack.app"):
        first = await slack.send.event(TEAM, event, body=body)
    retried = await slack.send.event(TEAM, event, body=body, retry=1)
    await slack.settle()
    assert (first.status_code, retried.status_code) == (500, 200)
    error_id = re.search(r"error id ([0-9a-f]{12})", first.text)
    assert error_id is not None and any(error_id.group(1) in r.getMessage() for r in caplog.records)
    assert [m.text for m in slack.fake.thread("D" + TRAVELLER, event["ts"])] == ["Hello!"]
    assert len(scripted_model.requests) == 1


async def test_model_markdown_goes_in_markdown_blocks_and_the_fake_refuses_oversized_ones(
    slack: SlackHarness, scripted_model: ScriptedModel
) -> None:
    answer = (
        "**Bold** and `LH 1234`, [Lufthansa](https://www.lufthansa.com)\n\n- one\n- two\n\n" + "x " * 9000
    )
    scripted_model.script(say(answer))
    _, event = await slack.send.dm(TEAM, TRAVELLER, "tell me everything")
    await slack.settle()
    (reply,) = slack.fake.thread("D" + TRAVELLER, event["ts"])
    assert [b["type"] for b in reply.blocks] == ["markdown", "markdown"]  # 18,000 characters, two blocks
    assert reply.blocks[0]["text"].startswith(
        "**Bold** and `LH 1234`, [Lufthansa](https://www.lufthansa.com)"
    )
    refused = blocks_refusal([{"type": "markdown", "text": "x" * 12001}])
    assert refused is not None and "12001" in refused
