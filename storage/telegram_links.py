"""Unlinking a Telegram account from its traveller (linking is storage.identities.redeem_invite)."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import Actor, record_audit
from storage.models import ChannelIdentity

TELEGRAM = "telegram"


async def unlink_telegram_account(session: AsyncSession, *, actor: Actor, telegram_user_id: str) -> bool:
    """Remove the link of one Telegram account in the session's tenant; False when there was none."""
    removed = (
        await session.execute(
            delete(ChannelIdentity)
            .where(
                ChannelIdentity.channel == TELEGRAM,
                ChannelIdentity.workspace_id == "",
                ChannelIdentity.external_user_id == telegram_user_id,
            )
            .returning(ChannelIdentity.user_id)
        )
    ).first()
    if removed is None:
        return False
    await record_audit(
        session,
        actor=actor,
        action="identity.unlink",
        entity="tenant_user",
        entity_id=str(removed.user_id),
        details={"channel": TELEGRAM},
    )
    return True
