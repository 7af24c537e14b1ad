"""Putting reminders on the arq queue: one job per reminder, id `reminder:{reminder_id}`, deferred to its time.

The database is the source of truth; the queue only makes delivery punctual. A job id that is already
queued, running or holding a result is never queued twice, so enqueueing again (after a booking, from the
sweeper, after a Redis flush) is always safe. `enqueue_reminder` is arq's own `enqueue_job`; the batch form
does the same check-and-add atomically for many jobs in one server-side script, which is what lets the
sweeper restore 100,000 jobs after a flush in seconds rather than minutes.

A job delivers its own reminder together with the tenant's other due ones (see bot/reminder_courier.py);
the jobs of those others are then forgotten, and the ones to try again are requeued for their retry time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Protocol

from arq.connections import ArqRedis
from arq.constants import (
    default_queue_name,
    expires_extra_ms,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
)
from arq.jobs import serialize_job
from redis.asyncio import Redis

REMINDER_JOB = "deliver_reminder"
BATCH = 500

# Per job: write the job and add it to the queue, unless ARGV[1] says otherwise: 'missing' skips a job whose
# job key or result key exists (exactly arq's enqueue_job check); 'replace' skips only a job that is running.
# KEYS = queue, then (job key, result key, in-progress key) triples; ARGV = mode, then (id, score, ttl, job).
_ENQUEUE = """
local added = 0
for j = 1, (#KEYS - 1) / 3 do
    local job_key, result_key, running_key = KEYS[3 * j - 1], KEYS[3 * j], KEYS[3 * j + 1]
    local skip
    if ARGV[1] == 'missing' then
        skip = redis.call('EXISTS', job_key, result_key) > 0
    else
        skip = redis.call('EXISTS', running_key) > 0
    end
    if not skip then
        redis.call('PSETEX', job_key, ARGV[4 * j], ARGV[4 * j + 1])
        redis.call('ZADD', KEYS[1], ARGV[4 * j - 1], ARGV[4 * j - 2])
        added = added + 1
    end
end
return added
"""

# Jobs whose reminders another job settled: out of the queue, job key gone, unless one is running right now
# (it will find its reminder settled). KEYS = queue, then (job key, in-progress key) pairs; ARGV = ids.
_FORGET = """
local removed = 0
for j = 1, #ARGV do
    if redis.call('EXISTS', KEYS[2 * j + 1]) == 0 then
        removed = removed + redis.call('ZREM', KEYS[1], ARGV[j])
        redis.call('DEL', KEYS[2 * j])
    end
end
return removed
"""


class DueReminder(Protocol):
    """A reminder with its exact due time (naive UTC): a ScheduledReminder or a reminder_schedules row."""

    @property
    def tenant_id(self) -> uuid.UUID: ...

    @property
    def reminder_id(self) -> uuid.UUID: ...

    @property
    def due_at(self) -> dt.datetime: ...


@dataclass(frozen=True)
class QueuedReminder:
    """What the queue needs of a reminder: whose it is, which it is, and when it is due (UTC)."""

    tenant_id: uuid.UUID
    reminder_id: uuid.UUID
    due_at: dt.datetime

    @classmethod
    def of(cls, reminder: DueReminder) -> QueuedReminder:
        return cls(reminder.tenant_id, reminder.reminder_id, reminder.due_at)

    @property
    def due_at_utc(self) -> dt.datetime:
        """Due times are kept as naive UTC; arq wants an aware time."""
        return self.due_at if self.due_at.tzinfo else self.due_at.replace(tzinfo=dt.UTC)


def reminder_job_id(reminder_id: uuid.UUID) -> str:
    return f"reminder:{reminder_id}"


async def enqueue_reminder(redis: ArqRedis, reminder: QueuedReminder) -> bool:
    """Queue one reminder with arq's own enqueue_job; False when its job already exists."""
    job = await redis.enqueue_job(
        REMINDER_JOB,
        str(reminder.tenant_id),
        str(reminder.reminder_id),
        _job_id=reminder_job_id(reminder.reminder_id),
        _defer_until=reminder.due_at_utc,
    )
    return job is not None


async def enqueue_reminder_batch(
    redis: Redis, reminders: Iterable[QueuedReminder], *, queue_name: str = default_queue_name
) -> int:
    """Queue many reminders, skipping those whose jobs exist; returns how many were added."""
    return await _write_jobs(redis, reminders, mode="missing", queue_name=queue_name)


async def requeue_reminders(
    redis: Redis, reminders: Iterable[QueuedReminder], *, queue_name: str = default_queue_name
) -> int:
    """Queue reminders for their (new) due time, replacing their queued jobs unless one is running."""
    return await _write_jobs(redis, reminders, mode="replace", queue_name=queue_name)


async def forget_reminder_jobs(
    redis: Redis, reminder_ids: Iterable[uuid.UUID], *, queue_name: str = default_queue_name
) -> int:
    """Drop the queued jobs of reminders that are already settled; returns how many left the queue."""
    removed = 0
    pending = iter(reminder_ids)
    while chunk := [reminder_job_id(reminder_id) for reminder_id in islice(pending, BATCH)]:
        keys = [queue_name]
        for job_id in chunk:
            keys += [job_key_prefix + job_id, in_progress_key_prefix + job_id]
        removed += int(await redis.eval(_FORGET, len(keys), *keys, *chunk))  # type: ignore[misc]
    return removed


async def _write_jobs(
    redis: Redis, reminders: Iterable[QueuedReminder], *, mode: str, queue_name: str
) -> int:
    added = 0
    pending = iter(reminders)
    while chunk := list(islice(pending, BATCH)):
        now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        keys: list[str] = [queue_name]
        argv: list[str | int | bytes] = [mode]
        for reminder in chunk:
            job_id = reminder_job_id(reminder.reminder_id)
            score = int(reminder.due_at_utc.timestamp() * 1000)
            keys += [job_key_prefix + job_id, result_key_prefix + job_id, in_progress_key_prefix + job_id]
            argv += [
                job_id,
                score,
                max(score - now_ms, 0) + expires_extra_ms,  # arq's default expiry: a day after it is due
                serialize_job(
                    REMINDER_JOB, (str(reminder.tenant_id), str(reminder.reminder_id)), {}, None, now_ms
                ),
            ]
        added += int(await redis.eval(_ENQUEUE, len(keys), *keys, *argv))  # type: ignore[arg-type, misc]
    return added


async def enqueue_reminders(redis: Redis | str, reminders: Sequence[DueReminder]) -> int:
    """Queue freshly written reminder rows (after a booking, a move or a snooze); `redis` may be a URL."""
    queued = [QueuedReminder.of(reminder) for reminder in reminders]
    if not queued:
        return 0
    if not isinstance(redis, str):
        return await enqueue_reminder_batch(redis, queued)
    client = Redis.from_url(redis, socket_timeout=5, socket_connect_timeout=5)
    try:
        return await enqueue_reminder_batch(client, queued)
    finally:
        await client.aclose()
