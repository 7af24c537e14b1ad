"""`travelmate worker` rides out a Redis outage: it keeps running, and reminders due meanwhile arrive once."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
import redis
from arq.connections import ArqRedis

from bot.reminder_queue import enqueue_reminders
from storage.database import Database
from storage.embedded import EmbeddedRedis, EmbeddedUrls
from tests.conftest import Company
from tests.reminder_trips import (  # noqa: F401 - arq_redis is a fixture
    WorkerProcess,
    arq_redis_fixture,
    eventually,
    outbox_counts,
)
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
