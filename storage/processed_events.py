"""Platform deliveries already handled (Slack event ids, Telegram update ids): one effect per delivery."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, text
from sqlalchemy.dialects.postgresql import insert

from storage.database import Database
from storage.models import ProcessedEvent


async def first_delivery(db: Database, *, source: str, event_id: str) -> bool:
    """Claim a delivery id; True only the first time (atomic, so racing deliveries agree)."""
    statement = insert(ProcessedEvent).values(source=source, event_id=event_id[:128])
    async with db.unscoped() as session:
        # An ack must not wait for a WAL flush queued behind checkpoint writes; a crash can lose only the
        # last moments of ids, and platforms stop redelivering after a few minutes anyway.
        await session.execute(text("SET LOCAL synchronous_commit = off"))
        inserted = await session.execute(
            statement.on_conflict_do_nothing().returning(ProcessedEvent.event_id)
        )
        return inserted.first() is not None


async def forget_delivery(db: Database, *, source: str, event_id: str) -> None:
    """Let a redelivery through: the first attempt failed before it had any effect."""
    async with db.unscoped() as session:
        await session.execute(
            delete(ProcessedEvent).where(
                ProcessedEvent.source == source, ProcessedEvent.event_id == event_id[:128]
            )
        )


async def prune_deliveries(db: Database, *, older_than: dt.datetime) -> int:
    """Drop ids older than any redelivery window; returns how many went."""
    async with db.unscoped() as session:
        result = await session.execute(delete(ProcessedEvent).where(ProcessedEvent.received_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)
