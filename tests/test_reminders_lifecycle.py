"""The queue and the trip lifecycle: deterministic reminder jobs that arq itself de-duplicates, the sweeper
restoring what a Redis flush lost, and ended trips moved into the history exactly once with their spend."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from arq.connections import ArqRedis
from sqlalchemy import func, select

from bot.reminder_courier import queue_ended_trips, sweep_due_reminders
from bot.reminder_queue import QueuedReminder, enqueue_reminder, enqueue_reminders
from storage.audit import Actor
from storage.bookings import cancel_booking
from storage.database import Database
from storage.models import CompletedTrip, UserTravelHistory
from storage.reminder_runs import due_reminder_ids
from storage.trip_completion import complete_trip, ended_trip_ids
from tests.conftest import Company
from tests.reminder_trips import arq_redis_fixture, book_trip, history  # noqa: F401 - a fixture

UTC = dt.UTC


async def test_each_reminder_is_one_deferred_job_that_arq_will_not_queue_twice(
    db: Database, acme: Company, arq_redis: ArqRedis
) -> None:
    booked_at = dt.datetime.now(UTC)
    outcome = await book_trip(db, acme, start=booked_at.date() + dt.timedelta(days=20), now=booked_at)

    assert await enqueue_reminders(arq_redis, outcome.reminders) == 6
    assert await enqueue_reminders(arq_redis, outcome.reminders) == 0
    first = QueuedReminder.of(outcome.reminders[0])
    assert await enqueue_reminder(arq_redis, first) is False  # arq's own enqueue_job sees the batch's job

    jobs = {job.job_id: job for job in await arq_redis.queued_jobs()}
    assert set(jobs) == {f"reminder:{r.reminder_id}" for r in outcome.reminders}
    job = jobs[f"reminder:{first.reminder_id}"]
    assert job.function == "deliver_reminder"
    assert job.args == (str(acme.tenant_id), str(first.reminder_id))
    assert job.score == int(first.due_at_utc.timestamp() * 1000)


async def test_after_a_redis_flush_the_sweeper_queues_every_due_reminder_again(
    db: Database, worker_db: Database, acme: Company, globex: Company, arq_redis: ArqRedis
) -> None:
    now = dt.datetime.now(UTC)
    ours = await book_trip(db, acme, start=now.date() + dt.timedelta(days=3), now=now - dt.timedelta(days=30))
    theirs = await book_trip(
        db, globex, start=now.date() + dt.timedelta(days=3), now=now - dt.timedelta(days=30)
    )
    due = {
        (r.tenant_id, r.reminder_id)
        for r in [*ours.reminders, *theirs.reminders]
        if r.due_at <= now.replace(tzinfo=None)
    }
    await enqueue_reminders(arq_redis, [*ours.reminders, *theirs.reminders])

    assert set(await due_reminder_ids(worker_db, now=now)) == due  # both tenants, ids only
    assert await sweep_due_reminders(worker_db, arq_redis, now=now) == 0  # every job is still queued
    await arq_redis.flushall()
    assert await sweep_due_reminders(worker_db, arq_redis, now=now, page=2) == len(due) == 6
    assert await sweep_due_reminders(worker_db, arq_redis, now=now) == 0
    queued = {job.job_id for job in await arq_redis.queued_jobs()}
    assert queued == {f"reminder:{reminder_id}" for _, reminder_id in due}


async def test_an_ended_trip_is_recorded_once_with_spend_by_category_from_its_bookings(
    db: Database, worker_db: Database, acme: Company, globex: Company, arq_redis: ArqRedis
) -> None:
    now = dt.datetime.now(UTC)
    ended = await book_trip(
        db, acme, start=now.date() - dt.timedelta(days=6), now=now - dt.timedelta(days=30)
    )
    ongoing = await book_trip(
        db, acme, start=now.date() - dt.timedelta(days=1), now=now - dt.timedelta(days=30)
    )
    elsewhere = await book_trip(
        db, globex, start=now.date() - dt.timedelta(days=9), now=now - dt.timedelta(days=30)
    )
    train = next(b for b in ended.bookings if b.booking_type == "train")
    async with db.tenant(acme.tenant_id) as session:
        await cancel_booking(
            session, actor=Actor.user(acme.traveler_id), booking_id=train.booking_id, user_id=None
        )

    found = await ended_trip_ids(worker_db, now=now)
    assert set(found) == {(acme.tenant_id, ended.itinerary_id), (globex.tenant_id, elsewhere.itinerary_id)}
    assert await queue_ended_trips(worker_db, arq_redis, now=now) == 2
    assert await queue_ended_trips(worker_db, arq_redis, now=now) == 0  # their jobs are queued already

    for tenant_id, itinerary_id in found:
        async with db.tenant(tenant_id) as session:
            assert await complete_trip(session, itinerary_id=itinerary_id, now=now) is True
    for tenant_id, itinerary_id in [*found, (acme.tenant_id, ongoing.itinerary_id)]:
        async with db.tenant(tenant_id) as session:
            assert await complete_trip(session, itinerary_id=itinerary_id, now=now) is False

    (trip,), (spend,) = await history(db, acme)
    assert (trip.history_id, trip.destination, trip.user_id) == (
        ended.itinerary_id,
        "Berlin",
        acme.traveler_id,
    )
    assert trip.travel_date == spend.travel_date == now.date() - dt.timedelta(days=6)
    async with db.tenant(acme.tenant_id) as session:
        link = await session.get(CompletedTrip, (acme.tenant_id, ended.itinerary_id))
    assert link is not None and (link.history_id, link.analytics_id, link.end_date) == (
        trip.history_id,
        spend.analytics_id,
        now.date() - dt.timedelta(days=4),
    )
    assert {a["description"] for a in trip.activities} >= {"Client workshop", "Motel One Berlin-Mitte"}
    # The cancelled train is not spend; the flight and the hotel are, by booking type.
    assert spend.categories_spend == {"flight": "189.00", "hotel": "300.00"}
    assert trip.total_spend == spend.total_spend == Decimal("489.00")
    assert sum(Decimal(v) for v in spend.categories_spend.values()) == spend.total_spend
    assert await ended_trip_ids(worker_db, now=now) == []
    (other,), _ = await history(db, globex)
    assert other.history_id == elsewhere.itinerary_id


async def test_a_trip_ends_at_midnight_in_the_travellers_time_zone(
    db: Database, worker_db: Database, acme: Company
) -> None:
    last_day = dt.date(2026, 11, 20)
    outcome = await book_trip(
        db, acme, start=last_day - dt.timedelta(days=2), now=dt.datetime(2026, 10, 1, tzinfo=UTC)
    )
    # 23:30 UTC on the last day is already the next day in Berlin (the traveller's zone); 22:30 is not.
    berlin_next_day = dt.datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    assert await ended_trip_ids(worker_db, now=berlin_next_day - dt.timedelta(hours=1)) == []
    assert await ended_trip_ids(worker_db, now=berlin_next_day) == [(acme.tenant_id, outcome.itinerary_id)]
    async with db.tenant(acme.tenant_id) as session:
        assert await complete_trip(session, itinerary_id=outcome.itinerary_id, now=berlin_next_day) is True
    async with db.tenant(acme.tenant_id) as session:
        count = await session.scalar(select(func.count()).select_from(UserTravelHistory))
    assert count == 1 and not await ended_trip_ids(worker_db, now=berlin_next_day)
