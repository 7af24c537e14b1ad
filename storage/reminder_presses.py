"""Presses of a reminder's buttons, kept so that a second press of the same button changes nothing."""

from __future__ import annotations

import uuid

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ReminderPress
from storage.sessions import current_tenant


async def first_press(session: AsyncSession, *, message: str, action: str, user_id: uuid.UUID) -> bool:
    """Record a press of `action` on a reminder message; False when it was pressed before (nothing to do)."""
    statement = (
        insert(ReminderPress)
        .values(tenant_id=current_tenant(session), message=message[:200], action=action, user_id=user_id)
        .on_conflict_do_nothing()
        .returning(ReminderPress.message)
    )
    return (await session.execute(statement)).first() is not None
