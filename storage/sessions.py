"""The tenant a session is bound to, read back by the service functions."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession


def current_tenant(session: AsyncSession) -> uuid.UUID:
    """The tenant of `session`; service functions that write need one."""
    tenant = session.info.get("tenant_id")
    if tenant is None:
        raise RuntimeError("this operation needs a session opened with Database.tenant(tenant_id)")
    return tenant if isinstance(tenant, uuid.UUID) else uuid.UUID(str(tenant))
