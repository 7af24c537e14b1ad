"""Who took part in which conversation thread, so their messages can be exported, erased and expired."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Statement, TenantStatements
from storage.models import ConversationThread
from storage.profiles import TravellerProfile, profile_from_row, profile_statement

_NOTE_TURN = """
    INSERT INTO conversations (tenant_id, thread_id, user_id, channel)
    VALUES (%(tenant_id)s, %(thread_id)s, %(user_id)s, %(channel)s)
    ON CONFLICT (tenant_id, thread_id, user_id) DO UPDATE SET last_active_at = now()
"""


async def open_turn(
    statements: TenantStatements,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    thread_id: str,
    channel: str,
    also: Sequence[Statement] = (),
) -> tuple[TravellerProfile, list[list[tuple[Any, ...]]]]:
    """Record that `user_id` speaks in `thread_id` now and read their profile, together with the turn's
    other reads (`also`, whose rows come back in order): one round trip per turn."""
    noted = {"tenant_id": tenant_id, "thread_id": thread_id, "user_id": user_id, "channel": channel}
    _, profile, *rows = await statements.run(
        tenant_id, Statement(_NOTE_TURN, noted), profile_statement(user_id=user_id), *also
    )
    return profile_from_row(profile[0]), rows


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


async def thread_participants(session: AsyncSession, *, user_id: uuid.UUID) -> dict[str, list[uuid.UUID]]:
    """Every thread the user took part in, with all of its participants, the most recently active first."""
    mine = select(ConversationThread.thread_id).where(ConversationThread.user_id == user_id)
    statement = (
        select(ConversationThread.thread_id, ConversationThread.user_id)
        .where(ConversationThread.thread_id.in_(mine))
        .order_by(ConversationThread.thread_id, ConversationThread.last_active_at.desc())
    )
    participants: dict[str, list[uuid.UUID]] = {}
    for thread, participant in (await session.execute(statement)).all():
        participants.setdefault(thread, []).append(participant)
    return participants
