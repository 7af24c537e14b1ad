"""Platform identities: which tenant a Slack workspace is, who a chat account is, and Telegram invites."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import Actor, record_audit
from storage.database import Database
from storage.errors import InvalidInput
from storage.models import ChannelIdentity, ChannelWorkspace, TelegramInvite
from storage.sessions import current_tenant

INVITE_TTL = dt.timedelta(days=7)
_INVALID_INVITE = (
    "That invite code is not valid, has expired or was already used. Ask your travel admin for a new one."
)


@dataclass(frozen=True)
class Identity:
    """Who is talking: the verified tenant and user behind a platform account."""

    tenant_id: uuid.UUID
    user_id: uuid.UUID


def hash_invite_code(code: str) -> bytes:
    return hashlib.sha256(code.strip().encode()).digest()


async def register_workspace(
    session: AsyncSession, *, channel: str, enterprise_id: str = "", team_id: str = ""
) -> None:
    """Map a Slack workspace (or Grid organisation) to the session's tenant."""
    await session.execute(
        insert(ChannelWorkspace)
        .values(
            tenant_id=current_tenant(session),
            channel=channel,
            enterprise_id=enterprise_id or "",
            team_id=team_id or "",
        )
        .on_conflict_do_nothing()
    )


async def link_identity(
    session: AsyncSession,
    *,
    actor: Actor,
    channel: str,
    workspace_id: str,
    external_user_id: str,
    user_id: uuid.UUID,
    chat_id: str | None = None,
) -> None:
    """Link a platform account to a user of the session's tenant."""
    await session.execute(
        insert(ChannelIdentity)
        .values(
            tenant_id=current_tenant(session),
            channel=channel,
            workspace_id=workspace_id or "",
            external_user_id=external_user_id,
            user_id=user_id,
            chat_id=chat_id,
        )
        .on_conflict_do_update(
            index_elements=[
                ChannelIdentity.tenant_id,
                ChannelIdentity.channel,
                ChannelIdentity.workspace_id,
                ChannelIdentity.external_user_id,
            ],
            set_={"user_id": user_id, "chat_id": chat_id},
        )
    )
    await record_audit(
        session,
        actor=actor,
        action="identity.link",
        entity="tenant_user",
        entity_id=str(user_id),
        details={"channel": channel},
    )


async def resolve_workspace(
    db: Database, *, channel: str, enterprise_id: str | None, team_id: str | None
) -> uuid.UUID | None:
    """The tenant of a workspace, through the one narrow cross-tenant function."""
    return await db.scalar(
        "SELECT resolve_workspace(:c, :e, :t)", c=channel, e=enterprise_id or "", t=team_id or ""
    )


async def company_workspace(session: AsyncSession, *, channel: str = "slack") -> str | None:
    """The session's tenant's workspace on the channel (a company's Slack workspace), if it has one."""
    return await session.scalar(
        select(ChannelWorkspace.team_id).where(ChannelWorkspace.channel == channel).limit(1)
    )


async def resolve_identity(
    db: Database, *, channel: str, workspace_id: str | None, external_user_id: str
) -> Identity | None:
    """The tenant and user behind a platform account, or None when it is not linked."""
    async with db.unscoped() as session:
        row = (
            await session.execute(
                text("SELECT tenant_id, user_id FROM resolve_identity(:c, :w, :u)"),
                {"c": channel, "w": workspace_id or "", "u": external_user_id},
            )
        ).first()
    return Identity(row.tenant_id, row.user_id) if row else None


async def create_invite(
    session: AsyncSession,
    *,
    actor: Actor,
    user_id: uuid.UUID,
    now: dt.datetime,
    ttl: dt.timedelta = INVITE_TTL,
) -> str:
    """A one-time code linking a Telegram account to `user_id`. Only its hash is stored."""
    code = secrets.token_urlsafe(18)
    session.add(
        TelegramInvite(
            tenant_id=current_tenant(session),
            invite_id=uuid.uuid4(),
            user_id=user_id,
            code_hash=hash_invite_code(code),
            created_by=actor.user_id,
            expires_at=now + ttl,
        )
    )
    await session.flush()
    await record_audit(
        session, actor=actor, action="invite.create", entity="tenant_user", entity_id=str(user_id)
    )
    return code


async def redeem_invite(
    db: Database,
    *,
    code: str,
    channel: str,
    workspace_id: str,
    external_user_id: str,
    chat_id: str | None,
    now: dt.datetime,
) -> Identity:
    """Use a code exactly once to link an account; a wrong, expired or used code links nothing."""
    if not code or len(code) > 64:
        raise InvalidInput(_INVALID_INVITE)
    async with db.unscoped() as session:
        found = (
            await session.execute(
                text("SELECT tenant_id, invite_id FROM resolve_invite(:h)"), {"h": hash_invite_code(code)}
            )
        ).first()
    if found is None:
        raise InvalidInput(_INVALID_INVITE)
    async with db.tenant(found.tenant_id) as session:
        claimed = (
            await session.execute(
                update(TelegramInvite)
                .where(
                    TelegramInvite.invite_id == found.invite_id,
                    TelegramInvite.used_at.is_(None),
                    TelegramInvite.expires_at > now,
                )
                .values(used_at=now)
                .returning(TelegramInvite.user_id)
            )
        ).first()
        if claimed is None:
            raise InvalidInput(_INVALID_INVITE)
        await link_identity(
            session,
            actor=Actor.user(claimed.user_id),
            channel=channel,
            workspace_id=workspace_id,
            external_user_id=external_user_id,
            user_id=claimed.user_id,
            chat_id=chat_id,
        )
        return Identity(found.tenant_id, claimed.user_id)


async def identities_of(session: AsyncSession, *, user_id: uuid.UUID) -> list[ChannelIdentity]:
    return list(
        (await session.scalars(select(ChannelIdentity).where(ChannelIdentity.user_id == user_id))).all()
    )
