"""The audit log: who did what to which record, in which tenant, and when."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry
from storage.sessions import current_tenant

ActorKind = Literal["user", "system", "operator"]


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user of the tenant, the system (worker, crons) or an operator (CLI)."""

    kind: ActorKind
    user_id: uuid.UUID | None = None

    @classmethod
    def user(cls, user_id: uuid.UUID) -> Actor:
        return cls("user", user_id)


SYSTEM = Actor("system")
OPERATOR = Actor("operator")


async def record_audit(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry in the session's tenant and transaction (so it commits with the write)."""
    session.add(
        AuditEntry(
            tenant_id=current_tenant(session),
            actor=actor.kind,
            actor_user_id=actor.user_id,
            action=action,
            entity=entity,
            entity_id=entity_id,
            details=details or {},
        )
    )
    await session.flush()


async def recent_audit(
    session: AsyncSession, *, limit: int = 20, since: dt.datetime | None = None
) -> list[AuditEntry]:
    statement = select(AuditEntry).order_by(AuditEntry.occurred_at.desc()).limit(limit)
    if since is not None:
        statement = statement.where(AuditEntry.occurred_at >= since)
    return list((await session.scalars(statement)).all())
