"""GDPR for the whole product: export bundles with conversation messages, and erasure including checkpoints."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
import zipfile
from decimal import Decimal
from typing import Any

from arq.constants import default_queue_name as ARQ_QUEUE
from arq.constants import job_key_prefix as ARQ_JOB_PREFIX
from langgraph.checkpoint.base import BaseCheckpointSaver
from redis.asyncio import Redis

from agent.conversation_privacy import conversation_messages, withdraw_from_thread
from agent.replies import Attachment
from storage.audit import Actor
from storage.conversations import thread_participants
from storage.database import Database
from storage.privacy import Erasure, Expiry, erase_user, expire_old_data, export_user


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


async def export_bundle(
    db: Database, saver: BaseCheckpointSaver[Any], *, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> Attachment:
    """A zip with export.json and one CSV per table: everything held about one user."""
    async with db.tenant(tenant_id) as session:
        tables = await export_user(session, user_id=user_id)
        participants = await thread_participants(session, user_id=user_id)
    tables["messages"] = await conversation_messages(
        saver, {thread: set(people) for thread, people in participants.items()}, user_id=user_id
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        plain = {
            name: [{k: _plain(v) for k, v in row.items()} for row in rows] for name, rows in tables.items()
        }
        bundle.writestr("export.json", json.dumps(plain, indent=2, ensure_ascii=False, default=str))
        for name, rows in plain.items():
            if not rows:
                continue
            sheet = io.StringIO()
            writer = csv.DictWriter(sheet, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(
                {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
                for row in rows
            )
            bundle.writestr(f"{name}.csv", sheet.getvalue())
    return Attachment(
        filename="travelmate-export.zip",
        content=buffer.getvalue(),
        title="Your AITravelMate data",
        mime_type="application/zip",
    )


async def forget_user(
    db: Database,
    saver: BaseCheckpointSaver[Any],
    *,
    tenant_id: uuid.UUID,
    actor: Actor,
    user_id: uuid.UUID,
    redis: Redis | None = None,
) -> Erasure:
    """Erase a user from the tenant tables, their words from the conversations and, with `redis`, their
    counters and queued reminder jobs.

    A thread the user had to themselves goes completely. From a shared thread (a group chat) only the user's
    messages and the answers to them go; the others' part stays, kept under the most recently active other
    participant. The user's own checkpoints go with their row (ON DELETE CASCADE), and a turn still running
    cannot save one.
    """
    async with db.tenant(tenant_id) as session:
        participants = await thread_participants(session, user_id=user_id)
    shared = {thread: [p for p in people if p != user_id] for thread, people in participants.items()}
    for thread, others in shared.items():
        if others:
            await withdraw_from_thread(saver, thread, user_id=user_id, keeper=others[0])
    async with db.tenant(tenant_id) as session:
        erasure = await erase_user(session, actor=actor, user_id=user_id)
    for thread, others in shared.items():
        if others:  # again: another member's turn that read the thread before the first pass saved it since
            await withdraw_from_thread(saver, thread, user_id=user_id, keeper=others[0])
    await erase_threads(saver, [thread for thread in erasure.threads if not shared.get(thread)])
    if redis is not None:
        await forget_in_redis(redis, user_id=user_id, reminder_ids=erasure.pending_reminders)
    return erasure


async def forget_in_redis(redis: Redis, *, user_id: uuid.UUID, reminder_ids: list[uuid.UUID]) -> None:
    """Drop the user's rate counters and withdraw their queued reminder jobs."""
    keys = [key async for key in redis.scan_iter(match=f"*{user_id}*", count=500)]
    jobs = [f"reminder:{reminder_id}" for reminder_id in reminder_ids]
    if jobs:
        await redis.zrem(ARQ_QUEUE, *jobs)
        keys += [f"{ARQ_JOB_PREFIX}{job}" for job in jobs]
    if keys:
        await redis.delete(*keys)


async def erase_threads(saver: BaseCheckpointSaver[Any], threads: list[str]) -> None:
    for thread in threads:
        await saver.adelete_thread(thread)


async def apply_retention(
    db: Database, saver: BaseCheckpointSaver[Any], *, tenant_id: uuid.UUID, now: dt.datetime
) -> Expiry:
    """The daily retention pass for one tenant: old conversations and travel history go."""
    async with db.tenant(tenant_id) as session:
        expired = await expire_old_data(session, now=now)
    await erase_threads(saver, expired.threads)
    return expired
