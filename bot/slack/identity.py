"""Who is talking: the Slack workspace and user turned into a verified Context.

Bolt middleware finds the workspace's tenant before the ack (a workspace that maps to none is refused
there). The person is resolved after the ack, before the lazy work runs (`identify_pending`), so that the
ack never waits for a database session or for users.info. A Slack user seen for the first time is
provisioned from users.info (name, email, time zone): linked to the tenant user with the same email if
there is one, otherwise added, as the tenant's admin when it has none yet.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import TypeAdapter, ValidationError
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from agent.context import Context, user_context
from bot.slack.workspaces import CHANNEL, TenantDirectory, workspace_key
from storage.audit import SYSTEM, Actor
from storage.database import Database
from storage.identities import link_identity
from storage.models import ChannelIdentity, TenantUser
from storage.tenants import Email, add_user, find_user_by_email, get_user, list_users

log = logging.getLogger(__name__)

CALLER = "caller"  # the key of the verified Context in Bolt's context
PENDING_CALLER = "pending_caller"  # (tenant, Slack user) whose Context the lazy work resolves
_LOCALE_FALLBACK = "en"
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)

# Payloads that come from a person; everything else (uninstalls, edits, bot posts) needs no caller.
_PERSON_EVENTS = {"message", "app_mention", "assistant_thread_started", "app_home_opened"}
_PERSON_MESSAGE_SUBTYPES = {None, "file_share", "thread_broadcast"}


@dataclass(frozen=True)
class SlackProfile:
    """What users.info says about a person."""

    display_name: str
    email: str | None
    timezone: str
    locale: str
    is_bot: bool = False


def acting_user(body: dict[str, Any], context: AsyncBoltContext) -> str | None:
    """The Slack user behind a payload that a person caused, or None for system events and bots."""
    if body.get("type") == "event_callback":
        event = body.get("event") or {}
        kind = event.get("type")
        if kind not in _PERSON_EVENTS or event.get("bot_id"):
            return None
        if kind == "message" and event.get("subtype") not in _PERSON_MESSAGE_SUBTYPES:
            return None
        if kind == "assistant_thread_started":
            return (event.get("assistant_thread") or {}).get("user_id")
        return event.get("user")
    if body.get("type") in ("block_actions", "view_submission") or body.get("command"):
        return context.user_id
    return None


def _valid_timezone(name: str | None) -> str:
    try:
        ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name or "UTC"


def _valid_locale(value: str | None) -> str:
    language, _, region = (value or "").replace("_", "-").partition("-")
    if len(language) == 2 and language.isalpha():
        if len(region) == 2 and region.isalpha():
            return f"{language.lower()}-{region.upper()}"
        return language.lower()
    return _LOCALE_FALLBACK


def _valid_email(value: str | None) -> str | None:
    """Slack's email when it is one we can store; a person is provisioned without it otherwise."""
    try:
        return _EMAIL.validate_python(value) if value else None
    except ValidationError:
        return None


async def fetch_profile(client: AsyncWebClient, *, slack_user: str, token: str | None = None) -> SlackProfile:
    """users.info as a SlackProfile; an unreadable profile falls back to the bare user id."""
    try:
        response = await client.users_info(user=slack_user, include_locale=True, token=token)
    except SlackApiError as error:
        log.warning("users.info failed for a Slack user: %s", error.response.get("error"))
        return SlackProfile(display_name=slack_user, email=None, timezone="UTC", locale=_LOCALE_FALLBACK)
    user: dict[str, Any] = response.get("user") or {}
    profile: dict[str, Any] = user.get("profile") or {}
    name = (
        profile.get("real_name") or profile.get("display_name") or user.get("real_name") or user.get("name")
    )
    return SlackProfile(
        display_name=(str(name or slack_user).strip() or slack_user)[:200],
        email=_valid_email(profile.get("email")),
        timezone=_valid_timezone(user.get("tz")),
        locale=_valid_locale(user.get("locale")),
        is_bot=bool(user.get("is_bot")),
    )


async def linked_user(session: AsyncSession, *, workspace: str, slack_user: str) -> TenantUser | None:
    """The user a Slack account is linked to, looked up inside the workspace's tenant only."""
    statement = (
        select(TenantUser)
        .join(
            ChannelIdentity,
            (ChannelIdentity.tenant_id == TenantUser.tenant_id)
            & (ChannelIdentity.user_id == TenantUser.user_id),
        )
        .where(
            ChannelIdentity.channel == CHANNEL,
            ChannelIdentity.workspace_id == workspace,
            ChannelIdentity.external_user_id == slack_user,
        )
    )
    return (await session.scalars(statement)).first()


async def provision_user(
    session: AsyncSession, *, workspace: str, slack_user: str, profile: SlackProfile, make_admin: bool = False
) -> TenantUser:
    """The tenant user behind a Slack account, linked (and added if needed) exactly once.

    An advisory lock per workspace serialises first contacts arriving together: the same person is linked
    once, and of several new people at once only the first becomes the admin of a tenant that has none.
    """
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"slack-identity:{workspace}"},
    )
    linked = await linked_user(session, workspace=workspace, slack_user=slack_user)
    if linked is not None:
        return linked
    user = await find_user_by_email(session, email=profile.email) if profile.email else None
    if user is None:
        has_admin = bool(await list_users(session, role="admin"))
        user = await add_user(
            session,
            actor=SYSTEM,
            display_name=profile.display_name,
            email=profile.email,
            role="admin" if make_admin or not has_admin else "traveler",
            timezone=profile.timezone,
            locale=profile.locale,
        )
    await link_identity(
        session,
        actor=Actor.user(user.user_id),
        channel=CHANNEL,
        workspace_id=workspace,
        external_user_id=slack_user,
        user_id=user.user_id,
        chat_id=slack_user,
    )
    return user


def caller_context(user: TenantUser) -> Context:
    """The Context of a verified tenant user in Slack."""
    return user_context(user, channel="slack")


async def load_caller(db: Database, *, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Context:
    async with db.tenant(tenant_id) as session:
        return caller_context(await get_user(session, user_id=user_id))


@dataclass
class CallerResolver:
    """Resolves (enterprise, team, user) to a Context, provisioning on first contact.

    The workspace gives the tenant; the account is then looked up inside that tenant alone, so a
    Slack user can only ever act in the tenant of the workspace the event came from.
    `bootstrap_workspace` is set in single-workspace mode, where no OAuth install creates the tenant:
    it returns the name of the bot's own workspace (None for any other team), which then gets its
    tenant on first contact.
    """

    db: Database
    tenants: TenantDirectory
    bootstrap_workspace: Callable[[AsyncWebClient, str | None], Awaitable[str | None]] | None = None
    # Lookups of a workspace's tenant under way: requests arriving together share one (a new workspace's
    # first burst would otherwise make as many directory reads and auth.test calls as it has requests).
    _looking_up: dict[tuple[str | None, str | None], asyncio.Future[uuid.UUID | None]] = field(
        default_factory=dict
    )

    async def tenant_of(
        self,
        client: AsyncWebClient,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool,
    ) -> uuid.UUID | None:
        tenant = await self.tenants.tenant_of(enterprise_id=enterprise_id, team_id=team_id)
        if tenant is not None or self.bootstrap_workspace is None:
            return tenant
        name = await self.bootstrap_workspace(client, team_id)
        if name is None:
            return None
        tenant, _ = await self.tenants.claim(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
            name=name,
        )
        return tenant

    async def resolve(
        self, client: AsyncWebClient, context: AsyncBoltContext, slack_user: str
    ) -> Context | None:
        tenant = await self.workspace_tenant(client, context)
        return await self.person(client, context, tenant, slack_user) if tenant is not None else None

    async def workspace_tenant(self, client: AsyncWebClient, context: AsyncBoltContext) -> uuid.UUID | None:
        """The tenant of the request's workspace (made on first contact in single-workspace mode)."""
        key = (context.enterprise_id, context.team_id)
        lookup = self._looking_up.get(key)
        if lookup is None:
            lookup = asyncio.ensure_future(
                self.tenant_of(
                    client,
                    enterprise_id=context.enterprise_id,
                    team_id=context.team_id,
                    is_enterprise_install=bool(context.is_enterprise_install),
                )
            )
            self._looking_up[key] = lookup
            lookup.add_done_callback(lambda _: self._looking_up.pop(key, None))
        # Shielded: one request given up must not cancel the lookup the others wait for.
        tenant = await asyncio.shield(lookup)
        if tenant is None:
            log.warning("event from a Slack workspace that maps to no tenant")
        return tenant

    async def person(
        self, client: AsyncWebClient, context: AsyncBoltContext, tenant: uuid.UUID, slack_user: str
    ) -> Context | None:
        """The Context of a Slack user in the workspace's tenant, provisioned on first contact."""
        workspace = workspace_key(
            enterprise_id=context.enterprise_id,
            team_id=context.team_id,
            is_enterprise_install=bool(context.is_enterprise_install),
        )
        async with self.db.tenant(tenant) as session:
            user = await linked_user(session, workspace=workspace, slack_user=slack_user)
        if user is not None:
            return caller_context(user)
        profile = await fetch_profile(client, slack_user=slack_user)
        if profile.is_bot:
            return None
        async with self.db.tenant(tenant) as session:
            user = await provision_user(session, workspace=workspace, slack_user=slack_user, profile=profile)
            return caller_context(user)


def identify_callers(resolver: CallerResolver) -> Callable[..., Awaitable[BoltResponse | None]]:
    """The global middleware: notes the workspace's tenant and the acting Slack user before any listener
    runs; `identify_pending` turns them into the caller's Context (`context["caller"]`) for the lazy work."""

    async def identify_caller(
        context: AsyncBoltContext,
        body: dict[str, Any],
        client: AsyncWebClient,
        next_: Callable[[], Awaitable[Any]],
    ) -> BoltResponse | None:
        slack_user = acting_user(body, context)
        if slack_user is not None:
            tenant = await resolver.workspace_tenant(client, context)
            if tenant is not None:
                context[PENDING_CALLER] = (tenant, slack_user)
        return await next_()

    return identify_caller


def identify_pending(resolver: CallerResolver) -> Callable[[AsyncBoltContext], Awaitable[None]]:
    """Before lazy work: the caller noted by `identify_callers`, as a verified Context in `context["caller"]`."""

    async def identify(context: AsyncBoltContext) -> None:
        pending: tuple[uuid.UUID, str] | None = context.get(PENDING_CALLER)
        if pending is None or context.get(CALLER) is not None:
            return
        caller = await resolver.person(context.client, context, *pending)
        if caller is not None:
            context[CALLER] = caller

    return identify
