"""Which tenant a Slack workspace (or Grid organisation) is, and creating it on the first install."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import select

from storage.audit import SYSTEM
from storage.database import Database
from storage.identities import register_workspace, resolve_workspace
from storage.models import ChannelWorkspace
from storage.tenants import create_tenant

CHANNEL = "slack"


class _WorkspaceTaken(Exception):
    """Another request registered the same workspace first; this attempt's tenant is rolled back."""


def workspace_key(
    *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None
) -> str:
    """The workspace part of a Slack identity: the organisation for org-wide installs, else the team."""
    if is_enterprise_install and enterprise_id:
        return enterprise_id
    return team_id or enterprise_id or ""


def mapped_ids(
    *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None
) -> tuple[str, str]:
    """The (enterprise_id, team_id) pair stored for a workspace: org-wide installs have no team."""
    return (enterprise_id or "", "" if is_enterprise_install else team_id or "")


async def workspace_tenant(
    db: Database, *, enterprise_id: str | None, team_id: str | None
) -> uuid.UUID | None:
    return await resolve_workspace(db, channel=CHANNEL, enterprise_id=enterprise_id, team_id=team_id)


async def claim_workspace(
    db: Database, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool, name: str
) -> tuple[uuid.UUID, bool]:
    """The workspace's tenant, created (with `name`) when it has none. Returns (tenant, created now).

    Two first installs racing for one workspace meet on the global unique route index: the loser's
    insert does nothing, its new tenant is rolled back, and it adopts the winner's tenant.
    """
    found = await workspace_tenant(db, enterprise_id=enterprise_id, team_id=team_id)
    if found is not None:
        return found, False
    enterprise, team = mapped_ids(
        enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
    )
    tenant_id = uuid.uuid4()
    try:
        async with db.tenant(tenant_id) as session:
            await create_tenant(session, name=name[:200] or "Slack workspace", actor=SYSTEM)
            await register_workspace(session, channel=CHANNEL, enterprise_id=enterprise, team_id=team)
            mine = await session.scalar(
                select(ChannelWorkspace.tenant_id).where(
                    ChannelWorkspace.channel == CHANNEL,
                    ChannelWorkspace.enterprise_id == enterprise,
                    ChannelWorkspace.team_id == team,
                )
            )
            if mine is None:
                raise _WorkspaceTaken
    except _WorkspaceTaken:
        winner = await workspace_tenant(db, enterprise_id=enterprise_id, team_id=team_id)
        if winner is None:
            raise RuntimeError("the Slack workspace was registered and removed concurrently") from None
        return winner, False
    return tenant_id, True


class TenantDirectory:
    """Workspace → tenant, remembered for a few minutes so that an ack does not ask Postgres every time.

    The mapping is written once, at the first install, and never changes; only known tenants are
    remembered, so a workspace installed a moment ago is found at once.
    """

    def __init__(self, db: Database, *, ttl_seconds: float = 300.0) -> None:
        self.db = db
        self.ttl_seconds = ttl_seconds
        self._known: dict[tuple[str, str], tuple[uuid.UUID, float]] = {}

    async def tenant_of(self, *, enterprise_id: str | None, team_id: str | None) -> uuid.UUID | None:
        key = (enterprise_id or "", team_id or "")
        known = self._known.get(key)
        if known is not None and known[1] > time.monotonic():
            return known[0]
        tenant = await workspace_tenant(self.db, enterprise_id=enterprise_id, team_id=team_id)
        if tenant is not None:
            self._known[key] = (tenant, time.monotonic() + self.ttl_seconds)
        return tenant

    async def claim(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool, name: str
    ) -> tuple[uuid.UUID, bool]:
        """The workspace's tenant, created on the first install (see claim_workspace)."""
        known = await self.tenant_of(enterprise_id=enterprise_id, team_id=team_id)
        if known is not None:
            return known, False
        return await claim_workspace(
            self.db,
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
            name=name,
        )
