"""Telegram messages asking for a decision about a trip: the traveller's Confirm / Cancel, an approver's
Approve / Reject. Recorded when sent, closed (once) when decided or lapsed, so each is rewritten to say so."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import TelegramRequestMessage
from storage.sessions import current_tenant


async def record_request(
    session: AsyncSession,
    *,
    chat_id: int,
    message_id: int,
    itinerary_id: uuid.UUID,
    purpose: str = "confirm",
) -> None:
    """Keep a sent request ("confirm": the traveller's Confirm / Cancel, "approval": an approver's)."""
    session.add(
        TelegramRequestMessage(
            tenant_id=current_tenant(session),
            chat_id=chat_id,
            message_id=message_id,
            itinerary_id=itinerary_id,
            purpose=purpose,
        )
    )
    await session.flush()


async def live_request_chats(session: AsyncSession, *, itinerary_id: uuid.UUID) -> set[int]:
    """The chats that hold a live request message about the itinerary (asked already, not yet decided)."""
    chats = await session.scalars(
        select(TelegramRequestMessage.chat_id).where(
            TelegramRequestMessage.itinerary_id == itinerary_id, TelegramRequestMessage.decided.is_(False)
        )
    )
    return {int(chat) for chat in chats}


async def close_requests(
    session: AsyncSession,
    *,
    itinerary_id: uuid.UUID,
    purpose: str | None = None,
    only: tuple[int, int] | None = None,
) -> list[tuple[int, int]]:
    """The itinerary's live request messages (of one `purpose`, or the `only` (chat, message), or all) as
    (chat, message), marked decided in the same statement, so that of two closers only one rewrites them."""
    statement = update(TelegramRequestMessage).where(
        TelegramRequestMessage.itinerary_id == itinerary_id, TelegramRequestMessage.decided.is_(False)
    )
    if purpose is not None:
        statement = statement.where(TelegramRequestMessage.purpose == purpose)
    if only is not None:
        statement = statement.where(
            TelegramRequestMessage.chat_id == only[0], TelegramRequestMessage.message_id == only[1]
        )
    closed = await session.execute(
        statement.values(decided=True).returning(
            TelegramRequestMessage.chat_id, TelegramRequestMessage.message_id
        )
    )
    return [(int(chat), int(message)) for chat, message in closed.all()]


async def reopen_requests(session: AsyncSession, messages: list[tuple[int, int]]) -> None:
    """Request messages a rewrite did not reach: live again, so that a later settle or a press closes them."""
    for chat_id, message_id in messages:
        await session.execute(
            update(TelegramRequestMessage)
            .where(TelegramRequestMessage.chat_id == chat_id, TelegramRequestMessage.message_id == message_id)
            .values(decided=False)
        )


async def asked_about(session: AsyncSession) -> set[uuid.UUID]:
    """The trips some approver holds a live Telegram request about."""
    trips = await session.scalars(
        select(TelegramRequestMessage.itinerary_id).where(
            TelegramRequestMessage.purpose == "approval", TelegramRequestMessage.decided.is_(False)
        )
    )
    return set(trips)
