"""A Redis outage of 20 s: `travelmate worker` keeps running and delivers the reminders due meanwhile once;
`travelmate serve` keeps answering, and counts messages again once Redis is back."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import httpx
import pytest
import redis
from arq.connections import ArqRedis
from redis.asyncio import Redis

from bot.reminder_queue import enqueue_reminders
from storage.database import Database
from storage.embedded import EmbeddedRedis, EmbeddedUrls
from tests.conftest import Company
from tests.fakes.scripted_model import ScriptedModel, say
from tests.fakes.slack_api import ACME, SIGNING_SECRET, TRAVELLER, FakeSlack, SlackSender, acme_workspace
from tests.reminder_trips import (  # noqa: F401 - arq_redis is a fixture
    WorkerProcess,
    arq_redis_fixture,
    eventually,
    outbox_counts,
)
from tests.replicas import deployment, environment
from tests.test_reminders_worker import reminders_due, start_worker, workers

__all__ = ["workers"]  # a fixture used by name

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 20


def redis_down(embedded: EmbeddedUrls) -> EmbeddedRedis:
    socket = Path(embedded.redis_url.removeprefix("unix://"))
    redis.Redis(unix_socket_path=str(socket)).shutdown(save=True)
    return EmbeddedRedis(socket.parent)


async def test_the_worker_outlives_a_twenty_second_redis_outage_and_delivers_once(
    db: Database,
    embedded: EmbeddedUrls,
    acme: Company,
    arq_redis: ArqRedis,
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    worker = start_worker(workers, tmp_path)
    now = dt.datetime.now(dt.UTC)
    # Due during the outage to come: two seconds apart from 3 s to 15 s from now.
    due = [now + dt.timedelta(seconds=3 + 2 * i) for i in range(7)]
    rows = await reminders_due(db, acme, due)
    await enqueue_reminders(arq_redis, rows)
    await asyncio.sleep(1)

    stopped = redis_down(embedded)
    await asyncio.sleep(OUTAGE_SECONDS)
    assert worker.process is not None and worker.process.poll() is None, worker.log()
    stopped.start()

    async def all_delivered() -> bool:
        return sum((await outbox_counts(db, acme)).values()) >= len(rows)

    await eventually(all_delivered, timeout=90, what=f"every reminder was delivered (log: {worker.log_path})")
    await asyncio.sleep(3)  # a second delivery, if any, would land now
    counts = await outbox_counts(db, acme)
    assert set(counts) == {r.reminder_id for r in rows} and set(counts.values()) == {1}
    assert worker.process is not None and worker.process.poll() is None, worker.log()


async def test_serve_answers_through_a_twenty_second_redis_outage_and_counts_again_after(
    db: Database,
    embedded: EmbeddedUrls,
    scripted_model: ScriptedModel,
    fake_slack: FakeSlack,
    tmp_path: Path,
) -> None:
    scripted_model.responder = lambda request: say(
        "Noted: " + [m for m in request["messages"] if m["role"] == "user"][-1]["content"]
    )
    token = acme_workspace(fake_slack)
    env = environment(embedded, fake_slack, scripted_model, token, TRAVELMATE_DB_CONNECTIONS="4")
    counters = Redis.from_url(embedded.redis_url)
    with deployment(env, tmp_path, serve=1) as running:
        (serve,) = running.serve
        async with httpx.AsyncClient(base_url=serve.url, timeout=10) as http:
            send = SlackSender(http, SIGNING_SECRET, fake_slack)

            async def answered(text: str) -> None:
                response, event = await send.dm(ACME, TRAVELLER, text)
                assert response.status_code == 200

                async def posted() -> bool:
                    return [p.text for p in fake_slack.thread("D" + TRAVELLER, event["ts"])] == [
                        f"Noted: {text}"
                    ]

                await eventually(posted, timeout=30, what=f"an answer to {text!r} (log: {serve.log_path})")

            await answered("before the outage")
            stopped = redis_down(embedded)
            await answered("while Redis is away")  # the message goes uncounted rather than refused
            await asyncio.sleep(OUTAGE_SECONDS)
            assert serve.alive, serve.log()
            await answered("still away")
            stopped.start()

            # Counting resumes on the restarted Redis: the next message is counted again.
            await counters.delete(*[key async for key in counters.scan_iter("rate:*")] or ["rate:none"])
            await answered("after the outage")
            assert [
                int(v) for v in await counters.mget([k async for k in counters.scan_iter("rate:user:*")])
            ] == [1]
    await counters.aclose()
    assert "went uncounted" in serve.log_path.read_text()
    assert "Traceback" not in serve.log_path.read_text()
