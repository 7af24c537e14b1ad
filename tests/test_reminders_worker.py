"""`travelmate worker` as a real process: a thousand reminders delivered once each through a SIGKILL and a
restart, every pending reminder restored after Redis is flushed, Telegram retries, and ended trips recorded
once by the completion cron."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from arq.connections import ArqRedis

from bot.reminder_queue import enqueue_reminders
from storage.database import Database
from storage.models import BookingReminder
from tests.conftest import Company
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI
from tests.reminder_trips import (  # noqa: F401 - arq_redis is a fixture
    WorkerProcess,
    add_reminders,
    arq_redis_fixture,
    book_trip,
    deliveries,
    eventually,
    history,
    link_telegram,
    outbox_counts,
    unsent,
)

pytestmark = pytest.mark.slow

UTC = dt.UTC
FAST = {
    "TRAVELMATE_SWEEP_SECONDS": "2",
    "TRAVELMATE_TRIP_COMPLETION_SECONDS": "2",
    "TRAVELMATE_WORKER_JOB_TIMEOUT": "5",  # a job killed with its worker runs again 15 s after it started
    "TRAVELMATE_WORKER_POLL_DELAY": "0.05",
    "TRAVELMATE_WORKER_MAX_JOBS": "20",
    "TRAVELMATE_REMINDER_LIVE_INFO": "false",  # live travel information has its own tests
}


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    """Worker processes started by a test; all are stopped before the test's data is wiped."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def start_worker(workers: list[WorkerProcess], tmp_path: Path, **env: str) -> WorkerProcess:
    worker = WorkerProcess({**FAST, **env}, tmp_path / "worker.log").start()
    workers.append(worker)
    return worker


async def reminders_due(db: Database, company: Company, due: list[dt.datetime]) -> list[BookingReminder]:
    """Reminders at the given times on the bookings of a trip whose own reminders are weeks away."""
    now = dt.datetime.now(UTC)
    outcome = await book_trip(db, company, start=now.date() + dt.timedelta(days=20), now=now)
    return await add_reminders(db, company, booking_ids=[b.booking_id for b in outcome.bookings], due=due)


async def delivered_total(db: Database, *companies: Company) -> int:
    """Reminders recorded as delivered (a trip's reminders due together share one message)."""
    return sum([sum(d.outcome == "delivered" for d in (await deliveries(db, c)).values()) for c in companies])


async def test_a_thousand_reminders_arrive_once_each_through_a_sigkill_and_a_restart(
    db: Database,
    acme: Company,
    globex: Company,
    arq_redis: ArqRedis,
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    start = dt.datetime.now(UTC) + dt.timedelta(seconds=2)
    over_eight_seconds = [start + dt.timedelta(milliseconds=16 * i) for i in range(500)]
    rows = [r for company in (acme, globex) for r in await reminders_due(db, company, over_eight_seconds)]
    assert await enqueue_reminders(arq_redis, rows) == 1000

    first = start_worker(workers, tmp_path)

    async def some_delivered() -> bool:
        return await delivered_total(db, acme, globex) >= 250

    await eventually(
        some_delivered, timeout=60, what=f"the worker delivered 250 reminders (log: {first.log_path})"
    )
    first.kill()
    at_kill = await delivered_total(db, acme, globex)
    start_worker(workers, tmp_path)

    async def all_delivered() -> bool:
        return await delivered_total(db, acme, globex) >= 1000

    await eventually(all_delivered, timeout=120, what="all 1000 reminders were delivered after the restart")

    assert 250 <= at_kill < 1000  # the kill came midway
    for company in (acme, globex):
        counts = await outbox_counts(db, company)
        mine = {row.reminder_id for row in rows if row.tenant_id == company.tenant_id}
        assert set(counts) == mine and set(counts.values()) == {1}
        recorded = await deliveries(db, company)
        assert {(d.outcome, d.attempts) for d in recorded.values()} == {("delivered", 1)}  # claimed once each
        assert {r.reminder_id for r in await unsent(db, company)}.isdisjoint(mine)


async def test_after_flushall_the_sweeper_restores_every_pending_reminder(
    db: Database,
    acme: Company,
    globex: Company,
    arq_redis: ArqRedis,
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    now = dt.datetime.now(UTC)
    # 100 each due in five seconds, and 20 each due already that were never queued (lost before Redis).
    due = [now + dt.timedelta(seconds=5)] * 100 + [now - dt.timedelta(minutes=5)] * 20
    rows = [r for company in (acme, globex) for r in await reminders_due(db, company, due)]
    await enqueue_reminders(arq_redis, [r for r in rows if r.due_at > now.replace(tzinfo=None)])
    # An ended trip for the completion cron.
    ended = await book_trip(
        db, acme, start=now.date() - dt.timedelta(days=6), now=now - dt.timedelta(days=30)
    )

    await arq_redis.flushall()
    assert await arq_redis.zcard("arq:queue") == 0
    start_worker(workers, tmp_path)

    async def all_delivered() -> bool:
        return await delivered_total(db, acme, globex) >= 240

    await eventually(all_delivered, timeout=60, what="the sweeper restored and delivered all 240 reminders")
    for company in (acme, globex):
        counts = await outbox_counts(db, company)
        assert set(counts.values()) == {1}  # no message twice
        recorded = await deliveries(db, company)
        assert sum(d.outcome == "delivered" for d in recorded.values()) == 120

    async def trip_recorded() -> bool:
        return len(await trip_rows(db, acme)) == 1

    await eventually(trip_recorded, timeout=30, what="the completion cron recorded the ended trip")
    snapshot = await trip_rows(db, acme)
    await asyncio.sleep(5)  # two or more further runs of the completion cron
    assert await trip_rows(db, acme) == snapshot
    assert snapshot[0][:2] == (ended.itinerary_id, Decimal("628.90"))


async def trip_rows(db: Database, company: Company) -> list[tuple[object, ...]]:
    trips, spend = await history(db, company)
    totals = {row.analytics_id: (row.total_spend, row.categories_spend) for row in spend}
    return [(trip.history_id, trip.total_spend, *totals[trip.history_id]) for trip in trips]


async def test_the_worker_sends_telegram_reminders_and_retries_an_outage(
    db: Database, acme: Company, arq_redis: ArqRedis, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    with FakeTelegramAPI() as telegram:
        await link_telegram(db, acme, chat_id=777)
        rows = await reminders_due(db, acme, [dt.datetime.now(UTC) + dt.timedelta(seconds=1)] * 5)
        await enqueue_reminders(arq_redis, rows)
        telegram.fail_next("sendMessage", status=502, description="Bad Gateway")
        start_worker(workers, tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.base_url)

        async def recorded() -> bool:
            return {d.outcome for d in (await deliveries(db, acme)).values()} == {"delivered"} and len(
                await deliveries(db, acme)
            ) == 5

        await eventually(recorded, timeout=60, what="five deliveries were recorded")
        texts = telegram.texts(777)
    # Five reminders of one trip due together make one message (two if a retry split them), listing them all;
    # the send that failed with 502 was tried again.
    assert 1 <= len(texts) <= 2 and all(t.startswith("Trip reminder: Berlin") for t in texts)
    assert sum(t.count("• ") or 1 for t in texts) == 5
    assert max(d.attempts for d in (await deliveries(db, acme)).values()) == 2
    assert await outbox_counts(db, acme) == {}
