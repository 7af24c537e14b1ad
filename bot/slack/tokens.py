"""Bot tokens for processes without the Bolt app (the reminder worker): per workspace, rotated when due."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator

from bot.slack.app import web_client
from bot.slack.installation_store import PostgresInstallationStore
from storage.database import Database
from storage.secrets import SecretBox
from storage.settings import Settings

# Bolt rotates a token that expires within two hours; so does this lookup.
ROTATE_MINUTES_BEFORE_EXPIRY = 120

# (tenant, the workspace id of a Slack identity) -> that workspace's bot token, or None when not installed.
SlackTokenLookup = Callable[[uuid.UUID, str], Awaitable[str | None]]


def slack_token_lookup(settings: Settings, *, db: Database) -> SlackTokenLookup | None:
    """In OAuth mode, the bot token of each installed workspace; None in single-workspace mode.

    Hand it to the reminder worker as `ctx["slack_tokens"]`. Tokens are read from the encrypted
    installations inside the tenant, and rotated (and stored again, encrypted) when they are about to expire.
    """
    if not (settings.slack_client_id and settings.slack_client_secret):
        return None
    client = web_client(settings.slack_api_url)
    key = settings.encryption_key.get_secret_value() if settings.encryption_key else None
    store = PostgresInstallationStore(db, SecretBox(key, purpose="Slack installs"), client=client)
    rotator = AsyncTokenRotator(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        client=client,
    )

    async def bot_token(tenant_id: uuid.UUID, workspace_id: str) -> str | None:
        installation = await store.installation_in(tenant_id=tenant_id, workspace=workspace_id)
        if installation is None:
            return None
        rotated = await rotator.perform_token_rotation(
            installation=installation, minutes_before_expiration=ROTATE_MINUTES_BEFORE_EXPIRY
        )
        if rotated is not None:
            await store.async_save(rotated)
            installation = rotated
        return installation.bot_token

    return bot_token
