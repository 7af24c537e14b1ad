"""Where a message for a traveller goes outside a conversation: their linked account, or the console outbox."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChannelIdentity
from storage.reminder_runs import ConsoleMessage, Recipient
from storage.sessions import current_tenant


async def recipient_for(session: AsyncSession, *, user_id: uuid.UUID, channels: Sequence[str]) -> Recipient:
    """The most recently linked account on a channel this process can reach; the console when none."""
    statement = (
        select(ChannelIdentity)
        .where(ChannelIdentity.user_id == user_id, ChannelIdentity.channel.in_(list(channels)))
        .order_by(ChannelIdentity.linked_at.desc())
        .limit(1)
    )
    identity = (await session.scalars(statement)).first()
    if identity is None:
        return Recipient(tenant_id=current_tenant(session), user_id=user_id, channel="console")
    return Recipient(
        tenant_id=identity.tenant_id,
        user_id=user_id,
        channel=identity.channel,
        workspace_id=identity.workspace_id,
        external_user_id=identity.external_user_id,
        chat_id=identity.chat_id,
    )


async def post_to_console(session: AsyncSession, *, user_id: uuid.UUID, body: str) -> None:
    """Leave a message in the traveller's console outbox (shown when they next open `travelmate chat`)."""
    session.add(
        ConsoleMessage(
            tenant_id=current_tenant(session),
            message_id=uuid.uuid4(),
            user_id=user_id,
            reminder_id=None,
            body=body,
        )
    )
    await session.flush()
