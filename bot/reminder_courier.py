"""Delivering reminders exactly once, and finding the due work that Redis may have lost.

One delivery is one transaction: claim the row (`sent = true`), write the message (console outbox) or
send it (Slack, Telegram) with a short timeout, record the outcome, commit. A crash or a transient
failure rolls the claim back, so the reminder is due again and nothing was recorded as sent; a commit
makes every later run of the same job find nothing to do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.reminder_delivery import PermanentFailure, ReminderChannels, TransientFailure
from bot.reminder_message import LiveTravelInformation, reminder_text
from bot.reminder_queue import QueuedReminder, enqueue_reminder_batch
from storage.database import Database
from storage.reminder_runs import (
    ClaimedReminder,
    claim_reminder,
    drop_reminder,
    due_reminder_ids,
    give_up,
    record_outcome,
)
from storage.trip_completion import ended_trip_ids

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12  # transient failures before a reminder is recorded as failed (about a day of retries)
LIVE_DEADLINE = 3.0  # seconds for live travel information; the reminder does not wait longer
TRIP_COMPLETION_JOB = "complete_trip"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def backoff(attempts: int) -> float:
    """Seconds before the next try: 5, 10, 20, ... up to five minutes."""
    return float(min(5 * 2 ** max(attempts - 1, 0), 300))


@dataclass(frozen=True)
class Delivery:
    """What became of one run of a reminder job; `retry_in` is set when it should run again."""

    outcome: (
        str  # delivered, muted, expired, cancelled, failed, retry, absent (sent, gone, not due or in flight)
    )
    retry_in: float | None = None


class ReminderCourier:
    """Claims, composes, sends and records reminders; shared by every job of one worker process."""

    def __init__(
        self,
        *,
        db: Database,
        channels: ReminderChannels,
        live_information: LiveTravelInformation | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
        max_attempts: int = MAX_ATTEMPTS,
        live_deadline: float = LIVE_DEADLINE,
    ) -> None:
        self.db = db
        self.channels = channels
        self.live_information = live_information
        self.clock = clock
        self.max_attempts = max_attempts
        self.live_deadline = live_deadline

    async def deliver(self, *, tenant_id: uuid.UUID, reminder_id: uuid.UUID) -> Delivery:
        now = self.clock()
        claimed: ClaimedReminder | None = None
        try:
            async with self.db.tenant(tenant_id) as session:
                claimed = await claim_reminder(
                    session, reminder_id=reminder_id, now=now, channels=self.channels.reachable
                )
                if claimed is None:
                    return Delivery("absent")
                return await self._settle(session, claimed, now)
        except TransientFailure as failure:
            if claimed is None:
                raise
            return await self._after_transient(claimed, failure)

    async def _settle(self, session: AsyncSession, claimed: ClaimedReminder, now: dt.datetime) -> Delivery:
        if not claimed.still_booked:
            await drop_reminder(session, reminder_id=claimed.reminder_id)
            return Delivery("cancelled")
        if claimed.muted:
            await record_outcome(session, reminder=claimed, outcome="muted")
            return Delivery("muted")
        if claimed.expired(now):  # e.g. the worker was down for days: a reminder after the fact helps no one
            await record_outcome(session, reminder=claimed, outcome="expired")
            return Delivery("expired")
        try:
            # Inside the claim, like the send: fetching it in a transaction of its own first cost 40% of
            # the throughput at 09:00, and a slow provider holds a job slot either way (up to the deadline).
            text = reminder_text(claimed, now=now, live=await self._live(claimed))
        except (ValueError, KeyError, TypeError) as error:  # booking facts this code cannot read
            log.error("reminder %s cannot be written: %s", claimed.reminder_id, type(error).__name__)
            await record_outcome(
                session, reminder=claimed, outcome="failed", error=f"compose:{type(error).__name__}"
            )
            return Delivery("failed")
        if claimed.recipient.channel == "console":
            await record_outcome(session, reminder=claimed, outcome="delivered", outbox_body=text)
            return Delivery("delivered")
        try:
            await self.channels.send(claimed.recipient, text)
        except PermanentFailure as failure:
            log.warning(
                "reminder %s of tenant %s not deliverable: %s",
                claimed.reminder_id,
                claimed.tenant_id,
                failure.code,
            )
            await record_outcome(session, reminder=claimed, outcome="failed", error=failure.code)
            return Delivery("failed")
        await record_outcome(session, reminder=claimed, outcome="delivered")
        return Delivery("delivered")

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

    async def _after_transient(self, claimed: ClaimedReminder, failure: TransientFailure) -> Delivery:
        """The claim was rolled back with its transaction; count the attempt, and give up after many."""
        async with self.db.tenant(claimed.tenant_id) as session:
            attempts = await record_outcome(session, reminder=claimed, outcome="retrying", error=failure.code)
            if attempts >= self.max_attempts:
                await give_up(
                    session, reminder=claimed, error=f"gave up after {attempts} tries: {failure.code}"
                )
                log.warning(
                    "reminder %s failed %d times (%s); giving up", claimed.reminder_id, attempts, failure.code
                )
                return Delivery("failed")
        retry_in = failure.retry_after if failure.retry_after is not None else backoff(attempts)
        log.info("reminder %s: %s; trying again in %.0fs", claimed.reminder_id, failure.code, retry_in)
        return Delivery("retry", retry_in=retry_in)


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
