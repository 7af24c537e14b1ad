"""Benchmark of reminder delivery: 100,000 reminders due in the same minute across 1,000 tenants.

Fresh embedded PostgreSQL and Redis; the bookings and reminder rows are written in bulk as the owner role,
every reminder is queued as the product queues it (`reminder:{id}`, deferred to its due time), and
`travelmate worker` processes deliver them to the console outbox through the real claim. Reported: time
from the due minute until the last delivery, p50/p99/max lateness, jobs per second, duplicates and losses.

Baseline measured in the same run (B0): arq's own rate for no-op jobs, the same number of worker processes
with the same max_jobs and poll delay, all jobs due at one moment. The first job of each tenant delivers
that tenant's due reminders in one batch (TRAVELMATE_REMINDER_BATCH) and drops the others' jobs, so the
reminder rate can exceed arq's job rate; `TRAVELMATE_REMINDER_BATCH=1 python -m bench.reminders` measures
one reminder per job.

    python -m bench.reminders                                   # 100,000 reminders, 1,000 tenants
    python -m bench.reminders --reminders 10000 --tenants 100   # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
from arq import Worker
from arq.connections import RedisSettings, create_pool
from arq.jobs import serialize_job
from redis.asyncio import Redis

from bench.latency import percentile
from bench.throwaway_servers import throwaway_servers
from bot.reminder_queue import QueuedReminder, enqueue_reminder_batch
from storage.database import libpq_url
from storage.embedded import EmbeddedUrls
from tests.fakes.travel_providers import API_KEY, FakeTravelProviders

ZONES = ["Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles", "UTC", "Australia/Sydney"]
NOOP_QUEUE = "bench:noop"
REPO = Path(__file__).resolve().parent.parent

SEED = [
    """
    INSERT INTO users.tenant_users (tenant_id, user_id, display_name, timezone)
    SELECT id, gen_random_uuid(), 'Bench Traveller', (%(zones)s::text[])[1 + abs(hashtext(id::text)) %% 5]
    FROM tenants WHERE id = ANY(%(ids)s)
    """,
    """
    INSERT INTO itineraries (tenant_id, itinerary_id, user_id, is_draft, start_date, end_date, destinations)
    SELECT tenant_id, gen_random_uuid(), user_id, false, %(travel)s, %(travel)s + 2, '["Berlin"]'
    FROM users.tenant_users WHERE tenant_id = ANY(%(ids)s)
    """,
    """
    INSERT INTO bookings (tenant_id, booking_id, itinerary_id, user_id, booking_type, booking_details, status)
    SELECT tenant_id, gen_random_uuid(), itinerary_id, user_id, 'flight',
           jsonb_build_object('amount', '189.00', 'currency', 'EUR', 'description', 'MUC → BER LH 1234',
                              'service_date', %(travel)s::text, 'number', 'LH1234', 'origin', 'MUC',
                              'destination', 'BER', 'reference', 'ABC123'),
           'confirmed'
    FROM itineraries WHERE tenant_id = ANY(%(ids)s)
    """,
    """
    INSERT INTO booking_reminders (tenant_id, reminder_id, booking_id, user_id, reminder_date, message, sent)
    SELECT b.tenant_id, gen_random_uuid(), b.booking_id, b.user_id, %(due)s::date,
           'Flight: MUC → BER LH 1234.', false
    FROM (SELECT tenant_id, booking_id, user_id, row_number() OVER (ORDER BY tenant_id) - 1 AS n
          FROM bookings WHERE tenant_id = ANY(%(ids)s)) b
    CROSS JOIN generate_series(0, %(per)s) g
    WHERE g * %(tenants)s + b.n < %(reminders)s
    """,
    """
    INSERT INTO reminder_schedules (tenant_id, reminder_id, due_at)
    SELECT tenant_id, reminder_id, %(due)s FROM booking_reminders WHERE tenant_id = ANY(%(ids)s)
    """,
]


def seed(
    owner_url: str, *, tenants: int, reminders: int, due: dt.datetime
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """One traveller, one booked trip and one flight per tenant; the reminders spread evenly over them."""
    tenant_ids = [uuid.uuid4() for _ in range(tenants)]
    travel = (due + dt.timedelta(days=7)).date()
    with psycopg.connect(libpq_url(owner_url)) as conn, conn.cursor() as cur:
        with cur.copy("COPY tenants (id, name) FROM STDIN") as copy:
            for index, tenant_id in enumerate(tenant_ids):
                copy.write_row((tenant_id, f"Bench {index}"))
        params = {
            "zones": ZONES,
            "ids": tenant_ids,
            "travel": travel,
            "due": due.replace(tzinfo=None),
            "per": reminders // tenants + 1,
            "tenants": tenants,
            "reminders": reminders,
        }
        for statement in SEED:
            cur.execute(statement, params)
        conn.commit()
        cur.execute("ANALYZE")
        cur.execute("SELECT tenant_id, reminder_id FROM booking_reminders WHERE NOT sent")
        rows = [(row[0], row[1]) for row in cur.fetchall()]
    assert len(rows) == reminders, (len(rows), reminders)
    return rows


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, *args], env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO
        )


async def wait_until_due(moment: dt.datetime) -> None:
    await asyncio.sleep(max(0.0, (moment - dt.datetime.now(dt.UTC)).total_seconds()))


async def noop_baseline(
    urls: EmbeddedUrls, env: dict[str, str], *, jobs: int, workers: int, log: Path
) -> float:
    """B0: arq no-op jobs per second, with the same worker processes and settings, all due at one moment."""
    pool = await create_pool(RedisSettings.from_dsn(urls.redis_url), default_queue_name=NOOP_QUEUE)
    due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)  # after the workers have started
    payload = serialize_job("noop", (), {}, None, int(time.time() * 1000))
    for start in range(0, jobs, 1000):
        async with pool.pipeline(transaction=False) as pipe:
            for index in range(start, min(jobs, start + 1000)):
                pipe.psetex(f"arq:job:noop:{index}", 3_600_000, payload)
                pipe.zadd(NOOP_QUEUE, {f"noop:{index}": int(due.timestamp() * 1000)})
            await pipe.execute()
    processes = [spawn(["-m", "bench.reminders", "--noop-worker"], env, log) for _ in range(workers)]
    await wait_until_due(due)
    while await pool.zcard(NOOP_QUEUE):  # noqa: ASYNC110 - polling another process's progress
        await asyncio.sleep(0.02)
    elapsed = (dt.datetime.now(dt.UTC) - due).total_seconds()
    for process in processes:
        process.wait(timeout=60)
    await pool.aclose()
    return jobs / elapsed


async def noop(_ctx: dict[str, object]) -> None:
    return None


def run_noop_worker() -> None:
    """Internal: one burst worker for the B0 queue, with the product worker's job settings."""
    from bot.worker import WorkerSettings

    Worker(
        [noop],
        queue_name=NOOP_QUEUE,
        redis_settings=RedisSettings.from_dsn(os.environ["REDIS_URL"]),
        burst=True,
        max_jobs=WorkerSettings.max_jobs,
        poll_delay=WorkerSettings.poll_delay,
        queue_read_limit=WorkerSettings.queue_read_limit,
        keep_result=0,
        log_results=False,
    ).run()


async def deliveries(owner_url: str) -> tuple[int, list[float], int, int, int]:
    """(delivered, lateness seconds, reminders with more than one message, unsent, attempts above one)."""
    async with await psycopg.AsyncConnection.connect(libpq_url(owner_url)) as conn:
        late = await conn.execute(
            """
            SELECT extract(epoch FROM d.finished_at - (s.due_at AT TIME ZONE 'UTC'))
            FROM reminder_deliveries d JOIN reminder_schedules s USING (tenant_id, reminder_id)
            WHERE d.outcome = 'delivered'
            """
        )
        lateness = [float(row[0]) for row in await late.fetchall()]
        dup = await conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM console_outbox GROUP BY tenant_id, reminder_id HAVING count(*) > 1) x"
        )
        unsent = await conn.execute("SELECT count(*) FROM booking_reminders WHERE sent IS NOT TRUE")
        retried = await conn.execute("SELECT count(*) FROM reminder_deliveries WHERE attempts > 1")
        return (
            len(lateness),
            lateness,
            int((await dup.fetchone() or [0])[0]),
            int((await unsent.fetchone() or [0])[0]),
            int((await retried.fetchone() or [0])[0]),
        )


async def delivered_count(owner_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(libpq_url(owner_url)) as conn:
        row = await (await conn.execute("SELECT count(*) FROM reminder_deliveries")).fetchone()
        return int(row[0]) if row else 0


def provider_env(providers: FakeTravelProviders) -> dict[str, str]:
    """Live travel information from the tests' fake providers over HTTP (weather cached in Redis)."""
    settings = providers.settings()
    return {
        "OPEN_METEO_URL": settings.open_meteo_url,
        "OPEN_METEO_GEOCODING_URL": settings.open_meteo_geocoding_url,
        "FLIGHT_STATUS_API_URL": settings.flight_status_api_url,
        "FLIGHT_STATUS_API_KEY": API_KEY,
    }


async def run(args: argparse.Namespace) -> None:
    with throwaway_servers(redis=True) as urls, FakeTravelProviders() as providers:
        env = {
            **os.environ,
            **(provider_env(providers) if args.live_info else {"TRAVELMATE_REMINDER_LIVE_INFO": "false"}),
            "DATABASE_URL": urls.app_database_url,
            "DATABASE_OWNER_URL": urls.owner_database_url,
            "DATABASE_WORKER_URL": urls.worker_database_url,
            "REDIS_URL": urls.redis_url,
            "TRAVELMATE_WORKER_MAX_JOBS": str(args.max_jobs),
            "LOG_LEVEL": "WARNING",
        }
        log = args.log or Path(os.environ["TRAVELMATE_DATA_DIR"]) / "workers.log"
        print(
            f"B0: arq no-op jobs, {args.workers} worker processes, max_jobs {args.max_jobs} ...", flush=True
        )
        baseline = await noop_baseline(urls, env, jobs=args.noop_jobs, workers=args.workers, log=log)
        print(f"    {baseline:,.0f} no-op jobs/s", flush=True)

        started = time.perf_counter()
        soonest = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=args.lead)
        due = soonest.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)  # the next whole minute
        rows = seed(urls.owner_database_url, tenants=args.tenants, reminders=args.reminders, due=due)
        print(
            f"Seeded {len(rows):,} reminders in {args.tenants:,} tenants ({time.perf_counter() - started:.1f}s)"
        )
        redis = Redis.from_url(urls.redis_url)
        started = time.perf_counter()
        queued = await enqueue_reminder_batch(redis, (QueuedReminder(t, r, due) for t, r in rows))
        await redis.aclose()
        print(
            f"Queued {queued:,} reminder jobs in {time.perf_counter() - started:.1f}s; due at {due:%H:%M:%S} UTC"
        )

        workers = [spawn(["-m", "bot", "worker"], env, log) for _ in range(args.workers)]
        try:
            await wait_until_due(due)
            deadline = time.monotonic() + args.timeout
            next_report = time.monotonic() + 5
            while (count := await delivered_count(urls.owner_database_url)) < args.reminders:
                if time.monotonic() > deadline:
                    print(f"Stopped waiting after {args.timeout}s with {count:,} delivered")
                    break
                if all(worker.poll() is not None for worker in workers):
                    print(f"Every worker process exited with {count:,} delivered; see {log}")
                    break
                if time.monotonic() >= next_report:
                    print(f"    {count:,} of {args.reminders:,} delivered", flush=True)
                    next_report += 5
                await asyncio.sleep(0.25)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=60)

        delivered, lateness, duplicates, unsent, retried = await deliveries(urls.owner_database_url)
        if not lateness:
            raise SystemExit(f"No reminder was delivered; the workers' log is {log}")
        span = max(lateness) if lateness else float("nan")
        rate = delivered / span if lateness else 0.0
        print()
        print(f"reminders due at one minute : {args.reminders:,} in {args.tenants:,} tenants")
        live = "on (fake providers over HTTP, cached in Redis)" if args.live_info else "off"
        print(f"live travel information     : {live}")
        print(
            f"worker processes            : {args.workers} x max_jobs {args.max_jobs}"
            f" ({os.cpu_count()} cores shared with PostgreSQL and Redis)"
        )
        print(
            f"delivered                   : {delivered:,}   lost (still unsent): {unsent:,}   duplicates: {duplicates:,}"
        )
        print(f"claimed more than once      : {retried:,}")
        print(f"time to deliver all         : {span:.1f} s after the due time")
        print(
            f"lateness p50 / p99 / max    : {percentile(lateness, 0.5):.1f} s / {percentile(lateness, 0.99):.1f} s / {span:.1f} s"
        )
        print(f"reminders delivered/s       : {rate:,.0f}")
        print(f"B0 arq no-op jobs/s         : {baseline:,.0f}")
        print(f"ratio reminders / no-op jobs: {rate / baseline:.2f}")
        print(
            f"target (all within 60 s)    : {'met' if span <= 60 and not unsent and not duplicates else 'NOT met'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reminders", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--max-jobs", type=int, default=20, help="concurrent jobs per worker process")
    parser.add_argument("--noop-jobs", type=int, default=20_000, help="jobs for the B0 baseline")
    parser.add_argument(
        "--lead", type=int, default=20, help="seconds at least between seeding and the due minute"
    )
    parser.add_argument("--timeout", type=int, default=900, help="seconds to wait for every delivery")
    parser.add_argument(
        "--live-info",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="reminders carry weather and flight status from fake providers over HTTP (the production default)",
    )
    parser.add_argument(
        "--log", type=Path, help="where the worker processes log (default: the throwaway dir)"
    )
    parser.add_argument("--noop-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.noop_worker:
        run_noop_worker()
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
