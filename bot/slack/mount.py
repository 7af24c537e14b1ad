"""What the Slack channel adds to `travelmate serve`: /slack/events and the OAuth routes, or Socket Mode."""

from __future__ import annotations

import asyncio
import logging
import uuid

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from agent.approval_steps import ApprovalDecided, StepOutcome
from bot.product import Product
from bot.reminder_delivery import single_workspace_token
from bot.server import ChannelMount
from bot.slack.app import build_slack_app, web_client
from bot.slack.approval_requests import show_decision
from bot.slack.channel import SlackChannel
from bot.slack.tokens import slack_token_lookup
from storage.identities import company_workspace

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 20.0


def decisions_in_slack(product: Product, channel: SlackChannel) -> ApprovalDecided:
    """Show a step decided elsewhere (on Telegram, or typed as /approvals) in the company's Slack workspace,
    with its bot token: the requests rewritten, the traveller told, whoever approves next asked."""
    settings = product.settings
    tokens = slack_token_lookup(settings, db=product.db) or single_workspace_token(settings)

    async def follow(tenant_id: uuid.UUID, outcome: StepOutcome) -> None:
        async with product.db.tenant(tenant_id) as session:
            workspace = await company_workspace(session)
        token = await tokens(tenant_id, workspace) if workspace else None
        if token is None:
            return  # the company has no Slack workspace this process reaches
        client = web_client(settings.slack_api_url, token)
        await show_decision(product.db, client, tenant_id=tenant_id, outcome=outcome, now=channel.now())

    return follow


def slack_mount(product: Product) -> ChannelMount:
    """The Slack channel of this process. Its shared state is kept in `product.extras["slack"]`, and the sweeper
    that runs again what died processes acknowledged in `product.extras["slack_sweeper"]`."""
    built = build_slack_app(product)
    product.extras["slack"] = built.channel
    product.approval_followers["slack"] = decisions_in_slack(product, built.channel)
    product.extras["slack_sweeper"] = built.sweeper
    handler = AsyncSlackRequestHandler(built.app)

    async def slack_endpoint(request: Request) -> Response:
        return await handler.handle(request)

    routes: list[BaseRoute] = []
    if product.settings.slack_signing_secret is not None:
        routes.append(Route("/slack/events", slack_endpoint, methods=["POST"]))
        if built.oauth:
            routes.append(Route("/slack/install", slack_endpoint, methods=["GET"]))
            routes.append(Route("/slack/oauth_redirect", slack_endpoint, methods=["GET"]))

    connecting: list[asyncio.Task[None]] = []

    async def connect_socket_mode() -> None:
        assert built.socket_mode is not None
        await built.socket_mode.connect_async()  # retries on its own until Slack answers
        log.info("Slack Socket Mode connected")

    async def startup() -> None:
        built.sweeper.start()
        if built.socket_mode is not None:
            # In the background, so that the server (and /healthz) is up while Slack is unreachable.
            connecting.append(asyncio.create_task(connect_socket_mode()))

    async def shutdown() -> None:
        await built.sweeper.stop()
        if built.socket_mode is not None:
            for task in connecting:
                task.cancel()
            await asyncio.gather(*connecting, return_exceptions=True)
            await built.socket_mode.close_async()
        try:
            await built.channel.settle(SHUTDOWN_GRACE_SECONDS)
        except TimeoutError:
            log.warning("Slack work still running at shutdown was abandoned")

    return ChannelMount(name="slack", routes=routes, startup=startup, shutdown=shutdown)
