"""A traveller's manager from their Slack profile, when the company's admins have not named one.

Slack keeps the reporting line in a custom profile field (usually "Manager", of type user). It is read with
team.profile.get (which field) and users.profile.get (whose value), when the traveller books a trip that may
need approval; a manager an admin named with `/approvals manager` always wins.
"""

from __future__ import annotations

import logging
import uuid

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from agent.context import Context
from storage.approval_chain import name_manager
from storage.audit import Actor
from storage.database import Database
from storage.identities import identities_of
from storage.models import ChannelIdentity
from storage.tenants import get_user

log = logging.getLogger(__name__)

MANAGER_LABELS = frozenset({"manager", "line manager", "reports to"})


async def manager_in_profile(client: AsyncWebClient, *, slack_user: str) -> str | None:
    """The Slack user id in the traveller's Manager field, or None (no such field, no value, no access)."""
    try:
        team = await client.team_profile_get()
        ids = [
            str(field["id"])
            for field in (team.get("profile") or {}).get("fields") or []
            if str(field.get("label", "")).strip().lower() in MANAGER_LABELS and field.get("type") == "user"
        ]
        if not ids:
            return None
        profile = await client.users_profile_get(user=slack_user)
    except SlackApiError as error:
        log.info("the Slack profile's manager could not be read: %s", error.response.get("error"))
        return None
    values = (profile.get("profile") or {}).get("fields") or {}
    for field_id in ids:
        value = str((values.get(field_id) or {}).get("value") or "").split(",")[0].strip()
        if value:
            return value
    return None


async def adopt_manager_from_profile(
    db: Database, client: AsyncWebClient, *, traveller: Context
) -> uuid.UUID | None:
    """Name the traveller's manager from Slack when none is set and the manager uses the app; returns them."""
    async with db.tenant(traveller.tenant_id) as session:
        user = await get_user(session, user_id=traveller.user_id)
        if user.manager_id is not None:
            return user.manager_id
        accounts = [
            i for i in await identities_of(session, user_id=traveller.user_id) if i.channel == "slack"
        ]
    for account in accounts:
        slack_manager = await manager_in_profile(client, slack_user=account.external_user_id)
        if slack_manager is None:
            continue
        async with db.tenant(traveller.tenant_id) as session:
            manager = await session.scalar(
                select(ChannelIdentity.user_id).where(
                    ChannelIdentity.channel == "slack",
                    ChannelIdentity.workspace_id == account.workspace_id,
                    ChannelIdentity.external_user_id == slack_manager,
                )
            )
            if manager is None or manager == traveller.user_id:
                continue
            user = await get_user(session, user_id=traveller.user_id)
            await name_manager(
                session,
                actor=Actor.user(traveller.user_id),
                traveller=user,
                manager_id=manager,
                source="slack profile",
            )
            return manager
    return None
