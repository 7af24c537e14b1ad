"""A Slack delivery's state across processes: claimed, renewed while its turn runs, handled once answered.

Slack resends an event it thinks was not delivered (X-Slack-Retry-Num). A process that claimed the event and
died before answering must not make the resend look like a repeat, and a resend while the first delivery is
still being answered must not bring a second answer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import text

from storage.database import Database
from storage.processed_events import DeliveryClaims
from tests.fakes.scripted_model import ScriptedModel, say
from tests.fakes.slack_api import ACME, TRAVELLER, SlackHarness, new_ts
from tests.test_slack_concurrency import slack

__all__ = ["slack"]  # a fixture used by name

DM = "D" + TRAVELLER


def message(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": DM,
        "channel_type": "im",
        "user": TRAVELLER,
        "text": text,
        "ts": new_ts(),
    }


def answers(slack: SlackHarness, event: dict[str, Any]) -> list[str]:
    return [p.text for p in slack.fake.thread(DM, event["ts"])]


async def delivery_state(owner_db: Database, event_id: str) -> tuple[bool, bool]:
    """(claimed by someone, handled) of a delivery, read as the owner."""
    async with owner_db.unscoped() as session:
        row = (
            await session.execute(
                text(
                    "SELECT claimed_by IS NOT NULL, handled_at IS NOT NULL FROM processed_events WHERE event_id = :e"
                ),
                {"e": event_id},
            )
        ).one()
    return bool(row[0]), bool(row[1])


async def test_a_resend_after_the_claiming_process_died_is_answered_once(
    slack: SlackHarness, scripted_model: ScriptedModel, owner_db: Database
) -> None:
    scripted_model.responder = lambda _request: say("Hello! Where to?")
    event = message("hi")
    body = slack.send.event_body(ACME, event)
    event_id = str(json.loads(body)["event_id"])
    # Another replica took the delivery and was killed before answering: its claim lapses on its own.
    dead_replica = DeliveryClaims(slack.product.db.statements, seconds=0.5)
    assert await dead_replica.claim(source="slack", event_id=event_id)

    early = await slack.send.event(ACME, event, body=body, retry=1)
    await slack.settle()
    assert early.status_code == 200  # acknowledged: the claim looked alive, so no second answer was started
    assert answers(slack, event) == [] and scripted_model.requests == []

    await asyncio.sleep(0.6)
    late = await slack.send.event(ACME, event, body=body, retry=2)
    await slack.settle()
    again = await slack.send.event(ACME, event, body=body, retry=3)
    await slack.settle()
    assert (late.status_code, again.status_code) == (200, 200)
    assert answers(slack, event) == ["Hello! Where to?"]
    assert len(scripted_model.requests) == 1
    assert await delivery_state(owner_db, event_id) == (True, True)


async def test_a_resend_during_a_long_turn_gets_no_second_answer_because_the_claim_is_renewed(
    slack: SlackHarness, scripted_model: ScriptedModel, owner_db: Database
) -> None:
    # Claims of this process stand 0.6 s unless renewed; the model takes 2 s.
    deliveries = slack.product.extras["slack"].deliveries
    deliveries.claims = DeliveryClaims(slack.product.db.statements, seconds=0.6)
    scripted_model.responder = lambda _request: say("Here is your plan.", delay=2)
    event = message("plan Berlin next week")
    body = slack.send.event_body(ACME, event)
    event_id = str(json.loads(body)["event_id"])

    first = await slack.send.event(ACME, event, body=body)
    await asyncio.sleep(1.3)  # two claim lengths: without renewal the claim would have lapsed
    assert await delivery_state(owner_db, event_id) == (True, False)
    resent = await slack.send.event(ACME, event, body=body, retry=1)
    await slack.settle()

    assert (first.status_code, resent.status_code) == (200, 200)
    assert answers(slack, event) == ["Here is your plan."]
    assert len(scripted_model.requests) == 1
    assert await delivery_state(owner_db, event_id) == (True, True)
    await asyncio.sleep(0.7)  # long after the claim's length: handled stays handled
    await slack.send.event(ACME, event, body=body, retry=2)
    await slack.settle()
    assert answers(slack, event) == ["Here is your plan."]
