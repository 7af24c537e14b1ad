"""Who took part in which conversation thread, so their messages can be exported, erased and expired."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConversationThread
from storage.sessions import current_tenant


async def note_turn(session: AsyncSession, *, thread_id: str, user_id: uuid.UUID, channel: str) -> None:
    """Record that `user_id` spoke in `thread_id` now."""
    statement = insert(ConversationThread).values(
        tenant_id=current_tenant(session), thread_id=thread_id, user_id=user_id, channel=channel
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[
                ConversationThread.tenant_id,
                ConversationThread.thread_id,
                ConversationThread.user_id,
            ],
            set_={"last_active_at": text("now()")},
        )
    )


async def threads_of(session: AsyncSession, *, user_id: uuid.UUID) -> list[str]:
    """Every thread the user took part in."""
    statement = select(ConversationThread.thread_id).where(ConversationThread.user_id == user_id)
    return list((await session.scalars(statement)).all())


async def idle_threads(session: AsyncSession, *, before: dt.datetime) -> list[str]:
    """Threads of the session's tenant with no turn since `before`."""
    statement = (
        select(ConversationThread.thread_id)
        .group_by(ConversationThread.thread_id)
        .having(text("max(last_active_at) < :before"))
        .params(before=before)
    )
    return list((await session.scalars(statement)).all())
