"""Slack installations in PostgreSQL, encrypted at rest, found by (enterprise_id, team_id).

Each workspace's installations live in its tenant under row-level security: a lookup resolves the
workspace to its tenant through the one narrow cross-tenant function, then reads inside that tenant.
The whole installation (bot and user tokens, refresh tokens) is stored as one Fernet ciphertext.
The first install of a workspace creates its tenant and makes the installing user the admin.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from typing import Any

from slack_bolt.error import BoltError
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.slack.identity import fetch_profile, provision_user
from bot.slack.workspaces import TenantDirectory, mapped_ids, workspace_key
from storage.audit import SYSTEM, record_audit
from storage.database import Database
from storage.errors import DomainError
from storage.models import SlackInstallation
from storage.secrets import SecretBox
from storage.sessions import current_tenant

log = logging.getLogger(__name__)

SEALED_TTL_SECONDS = 30.0
ROTATION_WINDOW_SECONDS = 120 * 60  # Bolt rotates tokens that expire within two hours


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()  # read back by Installation() for both int and float timestamps
    raise TypeError(f"cannot store {type(value).__name__} in an installation")


def _workspace_rows(enterprise_id: str | None, team_id: str | None) -> ColumnElement[bool]:
    """Rows of one workspace, or of the org-wide install that covers it."""
    enterprise = enterprise_id or ""
    return and_(
        SlackInstallation.enterprise_id == enterprise,
        or_(
            SlackInstallation.team_id == (team_id or ""),
            and_(SlackInstallation.is_enterprise_install.is_(True), SlackInstallation.enterprise_id != ""),
        ),
    )


class PostgresInstallationStore(AsyncInstallationStore):
    """Bolt's AsyncInstallationStore over the slack_installations table."""

    def __init__(
        self,
        db: Database,
        cipher: SecretBox,
        *,
        client: AsyncWebClient,
        tenants: TenantDirectory | None = None,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.client = client
        self.tenants = tenants or TenantDirectory(db)
        # Recently read ciphertexts (never plaintext), so an ack does not always wait for Postgres.
        self._sealed: dict[tuple[str, str, str, str], tuple[str, float]] = {}

    @property
    def logger(self) -> logging.Logger:
        return log

    # -- writing -------------------------------------------------------------------------------

    async def async_save(self, installation: Installation) -> None:
        """Store an install (or the result of a token rotation), replacing the installer's previous one."""
        name = (
            installation.team_name
            or installation.enterprise_name
            or installation.team_id
            or "Slack workspace"
        )
        try:
            tenant, created = await self.tenants.claim(
                enterprise_id=installation.enterprise_id,
                team_id=installation.team_id,
                is_enterprise_install=installation.is_enterprise_install,
                name=name,
            )
            installer = None
            if created and installation.user_id:
                installer = await fetch_profile(
                    self.client, slack_user=installation.user_id, token=installation.bot_token
                )
            async with self.db.tenant(tenant) as session:
                rotated = await self._replace(session, installation)
                await record_audit(
                    session,
                    actor=SYSTEM,
                    action="slack.token_rotation" if rotated else "slack.install",
                    entity="slack_installation",
                    entity_id=installation.team_id or installation.enterprise_id,
                    details={"enterprise_id": installation.enterprise_id, "team_id": installation.team_id},
                )
                if installer is not None:
                    await provision_user(
                        session,
                        workspace=workspace_key(
                            enterprise_id=installation.enterprise_id,
                            team_id=installation.team_id,
                            is_enterprise_install=installation.is_enterprise_install,
                        ),
                        slack_user=installation.user_id,
                        profile=installer,
                        make_admin=True,
                    )
            self._sealed.clear()  # after the commit: the next lookup reads the new tokens
        except (DomainError, SQLAlchemyError) as error:
            # Bolt turns a BoltError into its "installation failed" page instead of a 500.
            log.exception("could not store a Slack installation")
            raise BoltError(f"the installation could not be stored ({type(error).__name__})") from error

    async def _replace(self, session: AsyncSession, installation: Installation) -> bool:
        enterprise, team = mapped_ids(
            enterprise_id=installation.enterprise_id,
            team_id=installation.team_id,
            is_enterprise_install=installation.is_enterprise_install,
        )
        installed_at = dt.datetime.fromtimestamp(installation.installed_at, tz=dt.UTC)
        replaced = await session.execute(
            delete(SlackInstallation)
            .where(
                SlackInstallation.enterprise_id == enterprise,
                SlackInstallation.team_id == team,
                SlackInstallation.installer_user_id == installation.user_id,
            )
            .returning(SlackInstallation.installed_at)
        )
        rotated = any(abs((row - installed_at).total_seconds()) < 1 for (row,) in replaced.all())
        session.add(
            SlackInstallation(
                tenant_id=current_tenant(session),
                installation_id=uuid.uuid4(),
                enterprise_id=enterprise,
                team_id=team,
                installer_user_id=installation.user_id,
                is_enterprise_install=bool(installation.is_enterprise_install),
                installation_encrypted=self.cipher.seal(
                    json.dumps(installation.to_dict_for_copying(), default=_plain)
                ),
                installed_at=installed_at,
            )
        )
        await session.flush()
        return rotated

    async def async_save_bot(self, bot: Bot) -> None:
        """A rotated bot token: stored into the workspace's latest installation."""
        installation = await self.async_find_installation(
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            is_enterprise_install=bot.is_enterprise_install,
        )
        if installation is None:
            raise BoltError("no installation to attach the rotated bot token to")
        installation.bot_token = bot.bot_token
        installation.bot_refresh_token = bot.bot_refresh_token
        installation.bot_token_expires_at = bot.bot_token_expires_at
        await self.async_save(installation)

    # -- reading -------------------------------------------------------------------------------

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        """The latest installation of the workspace (or of `user_id` in it)."""
        if is_enterprise_install:
            team_id = None
        tenant = await self.tenants.tenant_of(enterprise_id=enterprise_id, team_id=team_id)
        if tenant is None:
            return None
        statement = (
            select(SlackInstallation.installation_encrypted)
            .where(_workspace_rows(enterprise_id, team_id))
            .order_by(SlackInstallation.installed_at.desc())
            .limit(1)
        )
        if user_id is not None:
            statement = statement.where(SlackInstallation.installer_user_id == user_id)
        key = (str(tenant), enterprise_id or "", team_id or "", user_id or "")
        remembered = self._sealed.get(key)
        sealed = remembered[0] if remembered and remembered[1] > time.monotonic() else None
        if sealed is not None:
            installation = Installation(**json.loads(self.cipher.open(sealed)))
            expires = installation.bot_token_expires_at
            # Near its rotation, read it afresh: another process may have rotated it already.
            if expires is None or expires > time.time() + ROTATION_WINDOW_SECONDS + SEALED_TTL_SECONDS:
                return installation
        async with self.db.tenant(tenant) as session:
            sealed = await session.scalar(statement)
        if sealed is None:
            self._sealed.pop(key, None)
            return None
        self._sealed[key] = (sealed, time.monotonic() + SEALED_TTL_SECONDS)
        return Installation(**json.loads(self.cipher.open(sealed)))

    async def installation_in(self, *, tenant_id: uuid.UUID, workspace: str) -> Installation | None:
        """The latest installation behind a workspace id of channel_identities (a team, or an org)."""
        statement = (
            select(SlackInstallation.installation_encrypted)
            .where(
                or_(
                    SlackInstallation.team_id == workspace,
                    and_(
                        SlackInstallation.enterprise_id == workspace,
                        SlackInstallation.is_enterprise_install.is_(True),
                    ),
                )
            )
            .order_by(SlackInstallation.installed_at.desc())
            .limit(1)
        )
        async with self.db.tenant(tenant_id) as session:
            sealed = await session.scalar(statement)
        return Installation(**json.loads(self.cipher.open(sealed))) if sealed else None

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        installation = await self.async_find_installation(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
        )
        return installation.to_bot() if installation and installation.bot_token else None

    # -- deleting (app_uninstalled, tokens_revoked) --------------------------------------------

    async def _delete(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None, action: str
    ) -> None:
        tenant = await self.tenants.tenant_of(enterprise_id=enterprise_id, team_id=team_id)
        if tenant is None:
            return
        statement = delete(SlackInstallation).where(_workspace_rows(enterprise_id, team_id))
        if user_id is not None:
            statement = statement.where(SlackInstallation.installer_user_id == user_id)
        async with self.db.tenant(tenant) as session:
            await session.execute(statement)
            await record_audit(
                session,
                actor=SYSTEM,
                action=action,
                entity="slack_installation",
                entity_id=team_id or enterprise_id,
                details={"enterprise_id": enterprise_id, "team_id": team_id},
            )
        self._sealed.clear()  # after the commit, so that no reader re-remembers the deleted row

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        # Every stored installation carries the bot token, so revoking it removes them all.
        await self._delete(
            enterprise_id=enterprise_id, team_id=team_id, user_id=None, action="slack.bot_revoked"
        )

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await self._delete(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, action="slack.tokens_revoked"
        )

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._delete(
            enterprise_id=enterprise_id, team_id=team_id, user_id=None, action="slack.uninstall"
        )
