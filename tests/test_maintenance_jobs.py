"""The worker's maintenance crons: the flight-status watch and the daily retention pass."""

from __future__ import annotations

import datetime as dt
import uuid

from redis.asyncio import Redis
from sqlalchemy import func, select

from agent.checkpoints import checkpoint_saver
from agent.travel_info.service import TravelInfo
from agent.travel_info.watch import FlightWatch
from bot.maintenance_jobs import expire_old_data, watch_booked_flights
from bot.reminder_delivery import ReminderChannels
from storage.audit import Actor
from storage.bookings import create_booking
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.itineraries import create_draft
from storage.models import ProcessedEvent
from storage.processed_events import first_delivery
from storage.reminder_runs import ConsoleMessage
from tests.conftest import NOW, Company
from tests.fakes.travel_providers import FakeTravelProviders
from tests.plans import berlin_days

TOMORROW = NOW.date() + dt.timedelta(days=1)


async def test_a_flight_changing_gate_twice_sends_exactly_two_alerts(
    db: Database, worker_db: Database, embedded: EmbeddedUrls, acme: Company, globex: Company
) -> None:
    async with db.tenant(acme.tenant_id) as session:
        plan = {
            **berlin_days(),
            "start_date": TOMORROW.isoformat(),
            "end_date": TOMORROW.isoformat(),
            "days": [],
        }
        trip = await create_draft(
            session, actor=Actor.user(acme.traveler_id), user_id=acme.traveler_id, plan=plan
        )
        await create_booking(
            session,
            actor=Actor.user(acme.traveler_id),
            user_id=acme.traveler_id,
            itinerary_id=trip.id,
            booking_type="flight",
            details={
                "amount": "189",
                "currency": "EUR",
                "description": "FRA → BER",
                "service_date": TOMORROW.isoformat(),
                "number": "LH 1234",
            },
        )
    redis = Redis.from_url(embedded.redis_url)
    await redis.flushdb()
    with FakeTravelProviders(today=NOW.date()) as providers:
        providers.add_flight("LH 1234", TOMORROW, gate="B20")
        async with TravelInfo.open(providers.settings(), redis_url=None, clock=lambda: NOW) as info:
            watch, channels = FlightWatch(info, redis), ReminderChannels({})
            rounds = []
            for gate in ("B20", "B22", "B25", "B25"):
                providers.update_flight("LH 1234", TOMORROW, gate=gate)
                rounds.append(await watch_booked_flights(worker_db, watch, channels, now=NOW))
    await redis.aclose()
    assert rounds == [0, 1, 1, 0]
    async with db.tenant(acme.tenant_id) as session:
        alerts = (
            await session.scalars(select(ConsoleMessage.body).order_by(ConsoleMessage.created_at))
        ).all()
    assert len(alerts) == 2 and "B22" in alerts[0] and "B25" in alerts[1]
    async with db.tenant(globex.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(ConsoleMessage)) == 0


async def test_the_daily_pass_prunes_old_delivery_ids_and_applies_retention(
    db: Database, worker_db: Database, embedded: EmbeddedUrls, acme: Company
) -> None:
    # Delivery ids are stamped by the database clock, so the passes are timed from the real now.
    assert await first_delivery(db, source="slack", event_id="Ev-old")
    received = dt.datetime.now(dt.UTC)
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        kept = await expire_old_data(worker_db, saver, now=received + dt.timedelta(days=6))
        removed = await expire_old_data(worker_db, saver, now=received + dt.timedelta(days=8))
    assert (kept, removed) == (0, 1)
    async with db.unscoped() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == 0
    assert await first_delivery(db, source="slack", event_id=f"Ev-{uuid.uuid4()}")


def test_no_job_holds_a_killed_workers_reminders_longer_than_the_job_timeout() -> None:
    """arq keeps a killed worker's jobs for the longest timeout of any function or cron (+10 s)."""
    from bot.worker import WorkerSettings, WorkerTuning

    timeouts = {job.timeout_s for job in [*WorkerSettings.functions, *(WorkerSettings.cron_jobs or [])]}  # type: ignore[union-attr]
    assert timeouts == {WorkerTuning().job_timeout}
