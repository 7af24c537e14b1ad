"""Telegram travellers asked to justify an out-of-policy trip: remembered in PostgreSQL, not in a process."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_ASK = text(
    """
    INSERT INTO awaited_justifications (tenant_id, thread_id, user_id, itinerary_id, prompt_message_id)
    VALUES (NULLIF(current_setting('app.tenant_id', true), '')::uuid, :thread, :user, :itinerary, :prompt)
    ON CONFLICT (tenant_id, thread_id, user_id) DO UPDATE SET itinerary_id = EXCLUDED.itinerary_id,
        prompt_message_id = EXCLUDED.prompt_message_id, asked_at = now()
    """
)
_FIND = text(
    "SELECT itinerary_id, prompt_message_id FROM awaited_justifications WHERE thread_id = :thread "
    "AND user_id = :user"
)
_TAKE = text(
    "DELETE FROM awaited_justifications WHERE thread_id = :thread AND user_id = :user "
    "AND itinerary_id = :itinerary RETURNING itinerary_id"
)


@dataclass(frozen=True)
class AwaitedJustification:
    """The trip waiting for the traveller's justification, and the prompt a group reply must answer."""

    itinerary_id: uuid.UUID
    prompt_message_id: int


async def ask_justification(
    session: AsyncSession,
    *,
    thread_id: str,
    user_id: uuid.UUID,
    itinerary_id: uuid.UUID,
    prompt_message_id: int,
) -> None:
    """Remember that the traveller was asked to justify this trip (a later question replaces it)."""
    await session.execute(
        _ASK, {"thread": thread_id, "user": user_id, "itinerary": itinerary_id, "prompt": prompt_message_id}
    )


async def awaited_justification(
    session: AsyncSession, *, thread_id: str, user_id: uuid.UUID
) -> AwaitedJustification | None:
    row = (await session.execute(_FIND, {"thread": thread_id, "user": user_id})).first()
    return AwaitedJustification(row[0], row[1]) if row else None


async def take_justification(
    session: AsyncSession, *, thread_id: str, user_id: uuid.UUID, itinerary_id: uuid.UUID
) -> bool:
    """Consume the awaited justification once; False when another replica or message already did."""
    taken = await session.execute(_TAKE, {"thread": thread_id, "user": user_id, "itinerary": itinerary_id})
    return taken.first() is not None
