"""An event a process acknowledged and then died on is answered by another process: Slack never resends it.

Slack resends only what it got no 200 for. The request is kept, sealed, with the claim for a few minutes; a
surviving process finds the lapsed claim, takes the delivery over and runs it again through its own Bolt app,
and the traveller gets the answer once. A request older than Slack's signature window is given up and logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from slack_bolt.lazy_listener.async_internals import to_runnable_function
from slack_bolt.lazy_listener.async_runner import AsyncLazyListenerRunner
from slack_bolt.request.async_request import AsyncBoltRequest
from sqlalchemy import text

from bot.slack.app import build_slack_app
from bot.slack.dedupe import SlackDeliveries
from bot.slack.lapsed import LapsedDeliverySweeper
from storage.database import Database
from storage.processed_events import DeliveryClaims
from tests.fakes.scripted_model import ScriptedModel, say
from tests.fakes.slack_api import ACME, SIGNING_SECRET, TRAVELLER, SlackHarness, new_ts, sign
from tests.test_slack_concurrency import slack

__all__ = ["slack"]  # a fixture used by name

DM = "D" + TRAVELLER
WORDS = "plan Berlin for the client workshop"
LEASE = 2.0  # the dying replica's claims lapse this long after its ack


class DiesAfterTheAck(AsyncLazyListenerRunner):
    """A process killed right after its ack: the work it was to start after the ack never runs."""

    def __init__(self) -> None:
        self.logger = logging.getLogger(__name__)

    def start(self, function: Any, request: AsyncBoltRequest) -> None:
        return None


class DiesAfterAnswering(AsyncLazyListenerRunner):
    """A process killed right after its answer went out, before it recorded the delivery as handled."""

    def __init__(self, prepare: Any) -> None:
        self.logger = logging.getLogger(__name__)
        self.prepare = prepare
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, function: Any, request: AsyncBoltRequest) -> None:
        async def answer() -> None:
            await self.prepare(request.context)
            await to_runnable_function(internal_func=function, logger=self.logger, request=request)

        self.tasks.append(asyncio.ensure_future(answer()))


def message() -> dict[str, Any]:
    return {
        "type": "message",
        "channel": DM,
        "channel_type": "im",
        "user": TRAVELLER,
        "text": WORDS,
        "ts": new_ts(),
    }


async def kept_row(owner_db: Database, event_id: str) -> tuple[bytes | None, bool]:
    """(the kept request, handled) of a delivery, read as the owner."""
    async with owner_db.unscoped() as session:
        row = (
            await session.execute(
                text("SELECT request, handled_at IS NOT NULL FROM processed_events WHERE event_id = :e"),
                {"e": event_id},
            )
        ).one()
    return (bytes(row[0]) if row[0] is not None else None), bool(row[1])


async def acknowledged_by_a_dying_replica(
    slack: SlackHarness, body: str, death: AsyncLazyListenerRunner | None = None
) -> int:
    """Another replica (its own app and claims, claims that lapse after LEASE) acknowledges `body` and dies,
    right after the ack unless `death` says when."""
    dying = build_slack_app(slack.product)
    dying.app.listener_runner.lazy_listener_runner = death or DiesAfterTheAck()
    claims = dying.channel.deliveries.claims
    dying.channel.deliveries.claims = DeliveryClaims(claims.statements, seconds=LEASE, box=claims.box)
    headers = {**sign(SIGNING_SECRET, body), "Content-Type": "application/json"}
    response = await dying.app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
    return response.status


async def test_an_event_acknowledged_by_a_replica_that_died_is_answered_once_by_another(
    slack: SlackHarness, scripted_model: ScriptedModel, owner_db: Database
) -> None:
    scripted_model.responder = lambda _request: say("Here is your Berlin plan.")
    survivor: LapsedDeliverySweeper = slack.product.extras["slack_sweeper"]
    await survivor.stop()  # this test sweeps by hand, at known moments
    event = message()
    body = slack.send.event_body(ACME, event)
    event_id = str(json.loads(body)["event_id"])

    assert await acknowledged_by_a_dying_replica(slack, body) == 200
    kept, handled = await kept_row(owner_db, event_id)
    assert kept is not None and not handled
    assert WORDS.encode() not in kept  # the traveller's words are sealed at rest

    assert await survivor.sweep() == 0  # the claim still stands: the replica may be alive and working
    await asyncio.sleep(LEASE + 0.1)
    # Two survivors sweep at once: exactly one takes the delivery over.
    other = build_slack_app(slack.product)
    taken = await asyncio.gather(survivor.sweep(), other.sweeper.sweep())
    await asyncio.gather(slack.settle(), other.channel.settle())
    await asyncio.sleep(0.2)  # a second answer, if any, would be posted now

    assert sorted(taken) == [0, 1]
    assert [p.text for p in slack.fake.thread(DM, event["ts"])] == ["Here is your Berlin plan."]
    assert len(scripted_model.requests) == 1
    assert await kept_row(owner_db, event_id) == (None, True)  # handled, and the request is gone
    assert await survivor.sweep() == 0
    # Slack never resends it, but a resend would now be ignored too.
    resent = await slack.send.event(ACME, event, body=body, retry=1)
    await slack.settle()
    assert resent.status_code == 200
    assert [p.text for p in slack.fake.thread(DM, event["ts"])] == ["Here is your Berlin plan."]


async def test_a_request_older_than_the_signature_window_is_given_up_and_logged_with_its_id(
    slack: SlackHarness, scripted_model: ScriptedModel, owner_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    scripted_model.responder = lambda _request: say("Too late.")
    await slack.product.extras["slack_sweeper"].stop()
    event = message()
    body = slack.send.event_body(ACME, event)
    event_id = str(json.loads(body)["event_id"])
    assert await acknowledged_by_a_dying_replica(slack, body) == 200
    built = build_slack_app(slack.product)
    claims = built.channel.deliveries.claims
    # A window of 0.3 s stands for Slack's five minutes.
    short_window = SlackDeliveries(DeliveryClaims(claims.statements, box=claims.box, request_seconds=0.3))
    sweeper = LapsedDeliverySweeper(built.app, short_window)

    await asyncio.sleep(LEASE + 0.1)
    with caplog.at_level(logging.WARNING, logger="bot.slack.lapsed"):
        assert await sweeper.sweep() == 0
    await slack.settle()

    assert any(event_id in r.getMessage() and "not answered" in r.getMessage() for r in caplog.records)
    assert await kept_row(owner_db, event_id) == (None, False)  # nothing of the traveller's words is kept
    assert slack.fake.thread(DM, event["ts"]) == [] and scripted_model.requests == []


async def test_an_event_whose_answer_was_out_before_its_replica_died_is_not_answered_again(
    slack: SlackHarness, scripted_model: ScriptedModel, owner_db: Database
) -> None:
    scripted_model.responder = lambda _request: say("Here is your Berlin plan.")
    survivor: LapsedDeliverySweeper = slack.product.extras["slack_sweeper"]
    await survivor.stop()
    event = message()
    body = slack.send.event_body(ACME, event)
    event_id = str(json.loads(body)["event_id"])
    # The replica answered, then died before recording the delivery as handled.
    runner = DiesAfterAnswering(slack.product.extras["slack"].lazy.prepare)
    assert await acknowledged_by_a_dying_replica(slack, body, runner) == 200
    await asyncio.gather(*runner.tasks)
    assert [p.text for p in slack.fake.thread(DM, event["ts"])] == ["Here is your Berlin plan."]
    assert (await kept_row(owner_db, event_id))[1] is False

    await asyncio.sleep(LEASE + 0.1)
    assert await survivor.sweep() == 1
    await slack.settle()

    assert [p.text for p in slack.fake.thread(DM, event["ts"])] == ["Here is your Berlin plan."]
    assert len(scripted_model.requests) == 1
    assert await kept_row(owner_db, event_id) == (None, True)
