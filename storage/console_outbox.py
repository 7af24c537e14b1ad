"""The console outbox: reminders for travellers who use no chat platform, read by `travelmate chat`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.reminder_runs import ConsoleMessage


async def console_messages(
    session: AsyncSession, *, user_id: uuid.UUID, unread_only: bool = True, limit: int = 20
) -> list[ConsoleMessage]:
    """The traveller's outbox messages, oldest first."""
    statement = (
        select(ConsoleMessage)
        .where(ConsoleMessage.user_id == user_id)
        .order_by(ConsoleMessage.created_at, ConsoleMessage.message_id)
        .limit(max(1, min(limit, 200)))
    )
    if unread_only:
        statement = statement.where(ConsoleMessage.read_at.is_(None))
    return list((await session.scalars(statement)).all())


async def mark_console_messages_read(
    session: AsyncSession, *, user_id: uuid.UUID, message_ids: Sequence[uuid.UUID], now: dt.datetime
) -> int:
    """Mark the traveller's messages as read; returns how many were unread."""
    if not message_ids:
        return 0
    result = await session.execute(
        update(ConsoleMessage)
        .where(
            ConsoleMessage.user_id == user_id,
            ConsoleMessage.message_id.in_(message_ids),
            ConsoleMessage.read_at.is_(None),
        )
        .values(read_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)
