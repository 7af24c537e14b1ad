"""Many DM thread replies at once into one `serve`: every one acknowledged quickly and answered once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.fakes.scripted_model import Reply, ScriptedModel, say
from tests.fakes.slack_api import ACME, TRAVELLER, SlackHarness, new_ts

THREADS = 25
REPLIES_PER_THREAD = 2


@pytest.fixture
def slack(acme_on_slack: SlackHarness) -> SlackHarness:
    return acme_on_slack


def echo(request: dict[str, Any]) -> Reply:
    """The model answers each message by naming it, so every answer shows which message it belongs to."""
    last = [m for m in request["messages"] if m["role"] == "user"][-1]
    return say(f"Noted: {last['content']}")


async def test_fifty_thread_replies_at_once_are_acked_in_time_and_answered_once(
    slack: SlackHarness, scripted_model: ScriptedModel
) -> None:
    scripted_model.responder = echo
    threads = [new_ts() for _ in range(THREADS)]

    async def reply(thread_ts: str, n: int) -> tuple[int, float]:
        started = time.monotonic()
        response, _ = await slack.send.dm(ACME, TRAVELLER, f"{thread_ts} message {n}", thread_ts=thread_ts)
        return response.status_code, time.monotonic() - started

    sent = await asyncio.gather(*(reply(ts, n) for n in range(REPLIES_PER_THREAD) for ts in threads))
    await slack.settle()

    assert [status for status, _ in sent] == [200] * THREADS * REPLIES_PER_THREAD
    slowest = max(seconds for _, seconds in sent)
    assert slowest < 3.0, f"the slowest ack took {slowest:.2f} s"
    for ts in threads:
        answers = sorted(p.text for p in slack.fake.thread("D" + TRAVELLER, ts) if p.text.startswith("Noted"))
        assert answers == [f"Noted: {ts} message {n}" for n in range(REPLIES_PER_THREAD)], ts
