"""The Slack Bolt AsyncApp: its mode (OAuth, single workspace, Socket Mode), middleware and listeners.

The mode is decided explicitly, never by Bolt reading the environment on its own:
- SLACK_CLIENT_ID and SLACK_CLIENT_SECRET: multi-workspace OAuth, installations in PostgreSQL;
- otherwise SLACK_BOT_TOKEN: one workspace;
- SLACK_APP_TOKEN additionally: events arrive over Socket Mode instead of HTTP.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.product import Product
from bot.slack.approval_requests import register_chain_requests
from bot.slack.channel import SlackChannel
from bot.slack.commands import register_commands
from bot.slack.config import SlackChannelSettings, slack_channel_settings
from bot.slack.dedupe import DeliveryCompletion, SlackDeliveries, delivery_key, skip_retried_deliveries
from bot.slack.handlers import acknowledge, register_confirmations, register_conversations
from bot.slack.home import register_home
from bot.slack.identity import CallerResolver, identify_callers, identify_pending
from bot.slack.installation_store import PostgresInstallationStore
from bot.slack.lapsed import LapsedDeliverySweeper, kept_request
from bot.slack.oauth_state import RedisOAuthStateStore
from bot.slack.policy_upload import register_policy_uploads
from bot.slack.workspaces import TenantDirectory
from storage.errors import DomainError
from storage.processed_events import DeliveryClaims
from storage.secrets import SecretBox

log = logging.getLogger(__name__)

RATE_LIMIT_RETRIES = 3
# Every listener's ack function only acknowledges and all work is lazy, so the ack runs inline: Bolt's
# other mode runs it as a task and polls for it every 10 ms, which cost each ack at least that much.
ACK_INLINE = True


class SlackSetupError(DomainError):
    """The Slack settings do not describe a runnable app."""

    kind = "configuration"


@dataclass
class SlackApp:
    """The built app and what runs beside it."""

    app: AsyncApp
    channel: SlackChannel
    oauth: bool
    socket_mode: AsyncSocketModeHandler | None
    sweeper: LapsedDeliverySweeper


def web_client(base_url: str, token: str | None = None) -> AsyncWebClient:
    """A Web API client at SLACK_API_URL that waits out 429s (Retry-After) instead of failing."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
        ],
    )


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def _oauth_app(
    product: Product,
    options: SlackChannelSettings,
    client: AsyncWebClient,
    signing_secret: str,
    tenants: TenantDirectory,
) -> AsyncApp:
    settings = product.settings
    if product.redis is None:
        raise SlackSetupError("Slack OAuth installs keep their state in Redis: set REDIS_URL.")
    store = PostgresInstallationStore(
        product.db,
        SecretBox(_secret(settings.encryption_key), purpose="Slack installs"),
        client=client,
        tenants=tenants,
    )
    oauth_settings = AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=_secret(settings.slack_client_secret),
        scopes=options.scope_list,
        user_scopes=[],
        redirect_uri=options.redirect_uri,
        install_path="/slack/install",
        redirect_uri_path="/slack/oauth_redirect",
        installation_store=store,
        # Only bot tokens are used: one installation lookup per event instead of two.
        installation_store_bot_only=True,
        state_store=RedisOAuthStateStore(product.redis),
    )
    # The store goes to the App too, so token rotation uses our client (SLACK_API_URL), not a default one.
    app = AsyncApp(
        signing_secret=signing_secret,
        client=client,
        installation_store=store,
        installation_store_bot_only=True,
        oauth_settings=oauth_settings,
        request_verification_enabled=True,
        process_before_response=ACK_INLINE,
    )
    return app


def build_slack_app(product: Product, options: SlackChannelSettings | None = None) -> SlackApp:
    """The Bolt app for `product`, in the mode its settings select."""
    settings = product.settings
    options = options or slack_channel_settings()
    signing_secret = _secret(settings.slack_signing_secret) or ""
    oauth = bool(settings.slack_client_id and settings.slack_client_secret)
    bootstrap = None
    tenants = TenantDirectory(product.db)
    if oauth:
        client = web_client(settings.slack_api_url)
        app = _oauth_app(product, options, client, signing_secret, tenants)
    elif settings.slack_bot_token is not None:
        client = web_client(settings.slack_api_url, _secret(settings.slack_bot_token))
        app = AsyncApp(signing_secret=signing_secret, client=client, process_before_response=ACK_INLINE)

        async def own_workspace(request_client: AsyncWebClient, team_id: str | None) -> str | None:
            about = await request_client.auth_test()
            return str(about.get("team") or team_id) if about.get("team_id") == team_id else None

        bootstrap = own_workspace
    else:
        raise SlackSetupError(
            "Slack needs SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (OAuth installs) or SLACK_BOT_TOKEN (one workspace)."
        )

    # The kept requests hold the traveller's words: sealed when a key is set.
    key = _secret(settings.encryption_key)
    box = SecretBox(key, purpose="Kept Slack requests") if key else None
    deliveries = SlackDeliveries(DeliveryClaims(product.db.statements, box=box))
    channel = SlackChannel(product=product, options=options, tenants=tenants, deliveries=deliveries)
    # Keep every lazy task referenced, so shutdown can wait for work in progress; a delivery is handled
    # when its lazy work has ended, or with its ack when it started none.
    app.listener_runner.lazy_listener_runner = channel.lazy
    app.listener_runner.listener_completion_handler = DeliveryCompletion(deliveries)
    # A repeated delivery stops before anything else happens, even before identifying the caller.
    app.use(skip_retried_deliveries(deliveries, kept_request))
    resolver = CallerResolver(product.db, tenants, bootstrap_workspace=bootstrap)
    app.use(identify_callers(resolver))
    channel.lazy.prepare = identify_pending(resolver)
    if oauth:
        # Bolt's own uninstall/revocation listeners, run lazily so that shutdown waits for the deletion.
        app.event("tokens_revoked")(ack=acknowledge, lazy=[app.default_tokens_revoked_event_listener()])
        app.event("app_uninstalled")(ack=acknowledge, lazy=[app.default_app_uninstalled_event_listener()])
    register_policy_uploads(app, channel)  # before the conversations, which take every other message
    register_conversations(app, channel)
    register_confirmations(app, channel)
    register_chain_requests(app, channel, acknowledge)
    register_commands(app, channel)
    register_home(app, channel)
    # Every other event is acknowledged, so that Slack does not retry what we do not handle.
    app.event(re.compile(".*"))(acknowledge)
    app.error(report_errors(deliveries))

    socket_mode = None
    if settings.slack_app_token is not None:
        socket_mode = AsyncSocketModeHandler(
            app, app_token=_secret(settings.slack_app_token), web_client=client
        )
    sweeper = LapsedDeliverySweeper(app, deliveries)
    return SlackApp(app=app, channel=channel, oauth=oauth, socket_mode=socket_mode, sweeper=sweeper)


def report_errors(deliveries: SlackDeliveries) -> Callable[..., Awaitable[BoltResponse]]:
    """Bolt's error handler: an error before the ack is logged with an id and answered with a 500."""

    async def report_listener_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        error_id = uuid.uuid4().hex[:12]
        log.error(
            "Slack request failed before its ack: error id %s, payload %s",
            error_id,
            body.get("type"),
            exc_info=(type(error), error, error.__traceback__),
        )
        # Nothing was done for it yet, so Slack's retry must not be taken for a repeat.
        key = delivery_key(body)
        if key is not None:
            await deliveries.release(key)
        return BoltResponse(status=500, body=f"error id {error_id}")

    return report_listener_error
