"""Delivering reminders exactly once, a tenant's due ones together, and finding the due work Redis may lose.

A job names one reminder. When that reminder is due and unsent, its run claims it together with up to
`batch_size - 1` more of the tenant's due reminders (09:00 falls due for a whole company at once), in one
transaction: claim the rows (`sent = true`), write each message (console outbox) or send it (Slack,
Telegram; a few at a time, each with a short timeout), record every outcome, commit. Then the queued jobs
of the other reminders are dropped, and those to try again are queued for their retry time.

A crash rolls the whole claim back, so every reminder in it is due again and nothing was recorded as
sent; a commit makes every later run of the same jobs find nothing to do. A transient failure hands that
one reminder back unsent with its attempt counted; the others in the batch are unaffected.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from arq.connections import ArqRedis
from redis.asyncio import Redis

from bot.reminder_delivery import DeliveryFailure, PermanentFailure, ReminderChannels
from bot.reminder_message import LiveTravelInformation, trip_reminder_text
from bot.reminder_queue import QueuedReminder, enqueue_reminder_batch, forget_reminder_jobs, requeue_reminders
from storage.database import Database
from storage.reminder_runs import (
    ClaimedReminder,
    Outcome,
    Settlement,
    claim_due_reminders,
    drop_reminders,
    due_reminder_ids,
    record_outcomes,
    release_claims,
)
from storage.trip_completion import ended_trip_ids

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12  # transient failures before a reminder is recorded as failed (about a day of retries)
LIVE_DEADLINE = 3.0  # seconds for live travel information; the reminder does not wait longer
BATCH_SIZE = 100  # reminders claimed together: one job's run delivers a tenant's 09:00 in one transaction
SENDS_AT_ONCE = 8  # concurrent sends per batch, so a batch of Slack DMs or Telegram messages is not a burst
BATCH_SECONDS = 15.0  # sends not started by then are handed back and queued again at once
TRIP_COMPLETION_JOB = "complete_trip"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def backoff(attempts: int) -> float:
    """Seconds before the next try: 5, 10, 20, ... up to five minutes."""
    return float(min(5 * 2 ** max(attempts - 1, 0), 300))


@dataclass(frozen=True)
class Delivery:
    """What became of the named reminder of one job run; `retry_in` is set when it should run again."""

    outcome: (
        str  # delivered, muted, expired, cancelled, failed, retry, absent (sent, gone, not due or in flight)
    )
    retry_in: float | None = None


@dataclass(frozen=True)
class _Result:
    """One claimed reminder after this run: settled (recorded), cancelled, or to be tried again."""

    reminder: ClaimedReminder
    outcome: str  # an Outcome, or "cancelled", or "later" (not attempted before the batch deadline)
    error: str | None = None
    outbox_body: str | None = None
    retry_in: float | None = None

    @property
    def delivery(self) -> Delivery:
        if self.outcome == "retrying" or self.outcome == "later":
            return Delivery("retry", retry_in=self.retry_in or 0.0)
        return Delivery(self.outcome)


class ReminderCourier:
    """Claims, composes, sends and records reminders; shared by every job of one worker process.

    `queue` is the worker's Redis: with it, the jobs of reminders settled in another job's batch are dropped
    and retries are queued; without it (tests), those jobs run later and find nothing, and the sweeper
    queues retries when they fall due.
    """

    def __init__(
        self,
        *,
        db: Database,
        channels: ReminderChannels,
        live_information: LiveTravelInformation | None = None,
        queue: Redis | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
        max_attempts: int = MAX_ATTEMPTS,
        live_deadline: float = LIVE_DEADLINE,
        batch_size: int = BATCH_SIZE,
        batch_seconds: float = BATCH_SECONDS,
    ) -> None:
        self.db = db
        self.channels = channels
        self.live_information = live_information
        self.queue = queue
        self.clock = clock
        self.max_attempts = max_attempts
        self.live_deadline = live_deadline
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds

    async def deliver(self, *, tenant_id: uuid.UUID, reminder_id: uuid.UUID) -> Delivery:
        """Deliver a reminder and, with it, the tenant's other due ones; returns what became of the first."""
        now = self.clock()
        async with self.db.tenant(tenant_id) as session:
            claimed = await claim_due_reminders(
                session,
                reminder_id=reminder_id,
                now=now,
                channels=self.channels.reachable,
                limit=self.batch_size,
            )
            if not claimed:
                return Delivery("absent")
            results = await self._settle_all(claimed, now)
            await drop_reminders(
                session, reminder_ids=[r.reminder.reminder_id for r in results if r.outcome == "cancelled"]
            )
            await release_claims(
                session,
                reminder_ids=[r.reminder.reminder_id for r in results if r.outcome in ("retrying", "later")],
            )
            await record_outcomes(
                session,
                [
                    Settlement(r.reminder, cast(Outcome, r.outcome), r.error, r.outbox_body)
                    for r in results
                    if r.outcome not in ("cancelled", "later")
                ],
            )
        others = [r for r in results if r.reminder.reminder_id != reminder_id]
        if others:
            log.debug("reminder %s delivered with %d more of tenant %s", reminder_id, len(others), tenant_id)
            await self._tidy_queue(others, now)
        return next(r.delivery for r in results if r.reminder.reminder_id == reminder_id)

    async def _settle_all(self, claimed: Sequence[ClaimedReminder], now: dt.datetime) -> list[_Result]:
        """One message per trip and reminder time: the trip's reminders due together go out as one."""
        gate = asyncio.Semaphore(SENDS_AT_ONCE)
        deadline = asyncio.get_running_loop().time() + self.batch_seconds
        trips: dict[object, list[ClaimedReminder]] = {}
        for reminder in claimed:
            together = reminder.itinerary_id is not None and reminder.trip_start is not None
            key = (
                (reminder.itinerary_id, reminder.due_at, reminder.recipient)
                if together
                else reminder.reminder_id
            )
            trips.setdefault(key, []).append(reminder)
        settled = await asyncio.gather(
            *(self._settle(group, now, gate, deadline) for group in trips.values())
        )
        return [result for results in settled for result in results]

    async def _settle(
        self, group: Sequence[ClaimedReminder], now: dt.datetime, gate: asyncio.Semaphore, deadline: float
    ) -> list[_Result]:
        results: list[_Result] = []
        sendable: list[ClaimedReminder] = []
        for claimed in group:
            if not claimed.still_booked:
                results.append(_Result(claimed, "cancelled"))
            elif claimed.muted:
                results.append(_Result(claimed, "muted"))
            elif claimed.expired(now):  # e.g. the worker was down for days: after the fact it helps no one
                results.append(_Result(claimed, "expired"))
            else:
                sendable.append(claimed)
        if not sendable:
            return results
        first = sendable[0]
        async with gate:
            if asyncio.get_running_loop().time() > deadline:
                return results + [_Result(c, "later") for c in sendable]
            try:
                # Inside the claim, like the send: fetching it in a transaction of its own first cost 40% of
                # the throughput at 09:00, and a slow provider holds a job slot either way (up to the deadline).
                lives = await asyncio.gather(*(self._live(c) for c in sendable))
                text = trip_reminder_text(sendable, now=now, live=lives)
            except (ValueError, KeyError, TypeError) as error:  # booking facts this code cannot read
                log.error("reminder %s cannot be written: %s", first.reminder_id, type(error).__name__)
                return results + [
                    _Result(c, "failed", error=f"compose:{type(error).__name__}") for c in sendable
                ]
            if first.recipient.channel == "console":
                # One message in the outbox; the trip's other reminders are recorded as delivered with it.
                return results + [
                    _Result(c, "delivered", outbox_body=text if c is first else None) for c in sendable
                ]
            try:
                await self.channels.send(first.recipient, text, trip=first.itinerary_id)
            except DeliveryFailure as failure:
                return results + [self._failed(c, failure) for c in sendable]
            return results + [_Result(c, "delivered") for c in sendable]

    def _failed(self, claimed: ClaimedReminder, failure: DeliveryFailure) -> _Result:
        if isinstance(failure, PermanentFailure):
            log.warning(
                "reminder %s of tenant %s not deliverable: %s",
                claimed.reminder_id,
                claimed.tenant_id,
                failure.code,
            )
            return _Result(claimed, "failed", error=failure.code)
        attempts = claimed.attempts + 1
        if attempts >= self.max_attempts:
            log.warning(
                "reminder %s failed %d times (%s); giving up", claimed.reminder_id, attempts, failure.code
            )
            return _Result(claimed, "failed", error=f"gave up after {attempts} tries: {failure.code}")
        retry_in = failure.retry_after if failure.retry_after is not None else backoff(attempts)
        log.info("reminder %s: %s; trying again in %.0fs", claimed.reminder_id, failure.code, retry_in)
        return _Result(claimed, "retrying", error=failure.code, retry_in=retry_in)

    async def _live(self, claimed: ClaimedReminder) -> str | None:
        if self.live_information is None:
            return None
        try:
            return await asyncio.wait_for(self.live_information(claimed), self.live_deadline)
        except TimeoutError:
            log.info("live travel information too slow for reminder %s; sent without it", claimed.reminder_id)
        except Exception:  # a provider fault must never hold back a reminder
            log.warning("live travel information failed for reminder %s", claimed.reminder_id, exc_info=True)
        return None

    async def _tidy_queue(self, others: Sequence[_Result], now: dt.datetime) -> None:
        """Drop the jobs of reminders settled here; queue those to try again for their retry time.

        A Redis fault here loses nothing: a leftover job finds its reminder settled, and the sweeper queues a
        reminder handed back unsent.
        """
        if self.queue is None:
            return
        again = [r for r in others if r.outcome in ("retrying", "later")]
        try:
            await forget_reminder_jobs(self.queue, [r.reminder.reminder_id for r in others if r not in again])
            await requeue_reminders(
                self.queue,
                [
                    QueuedReminder(
                        r.reminder.tenant_id,
                        r.reminder.reminder_id,
                        now + dt.timedelta(seconds=r.retry_in or 0),
                    )
                    for r in again
                ],
            )
        except Exception:
            log.warning("could not tidy the queue after a batch of reminders", exc_info=True)


async def sweep_due_reminders(db: Database, redis: ArqRedis, *, now: dt.datetime, page: int = 5000) -> int:
    """Queue every due, unsent reminder whose job is missing (lost with Redis, a crash or a give-up).

    Returns how many jobs were added; reminders whose jobs are queued or running are left alone.
    """
    added = 0
    after: tuple[uuid.UUID, uuid.UUID] | None = None
    while True:
        ids = await due_reminder_ids(db, now=now, after=after, limit=page)
        added += await enqueue_reminder_batch(
            redis, (QueuedReminder(tenant_id, reminder_id, now) for tenant_id, reminder_id in ids)
        )
        if len(ids) < page:
            return added
        after = ids[-1]


async def queue_ended_trips(db: Database, redis: ArqRedis, *, now: dt.datetime, page: int = 1000) -> int:
    """Queue one completion job per ended trip not yet in the history; returns how many were added."""
    added = 0
    after: tuple[uuid.UUID, uuid.UUID] | None = None
    while True:
        ids = await ended_trip_ids(db, now=now, after=after, limit=page)
        for tenant_id, itinerary_id in ids:
            job = await redis.enqueue_job(
                TRIP_COMPLETION_JOB,
                str(tenant_id),
                str(itinerary_id),
                _job_id=f"trip-completion:{itinerary_id}",
            )
            added += job is not None
        if len(ids) < page:
            return added
        after = ids[-1]
