"""`travelmate serve`: one ASGI app with /healthz and the Slack and Telegram routes that are configured."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bot.product import Product

log = logging.getLogger(__name__)


@dataclass
class ChannelMount:
    """What a channel adds to the server: routes, and work to start and stop with it."""

    name: str
    routes: list[BaseRoute] = field(default_factory=list)
    startup: Callable[[], Awaitable[None]] | None = None
    shutdown: Callable[[], Awaitable[None]] | None = None


def channel_mounts(product: Product) -> list[ChannelMount]:
    """The channels whose settings are present. Each channel module builds its own mount."""
    mounts: list[ChannelMount] = []
    settings = product.settings
    if settings.slack_signing_secret or settings.slack_app_token:
        from bot.slack.mount import slack_mount

        mounts.append(slack_mount(product))
    if settings.telegram_bot_token:
        from bot.telegram.mount import telegram_mount

        mounts.append(telegram_mount(product))
    return mounts


def build_app(product: Product, mounts: list[ChannelMount] | None = None) -> Starlette:
    mounts = channel_mounts(product) if mounts is None else mounts

    async def healthz(_request: Request) -> JSONResponse:
        await product.db.scalar("SELECT 1")
        return JSONResponse({"status": "ok", "channels": [mount.name for mount in mounts]})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        for mount in mounts:
            if mount.startup:
                await mount.startup()
            log.info("channel %s ready", mount.name)
        try:
            yield
        finally:
            for mount in reversed(mounts):
                if mount.shutdown:
                    await mount.shutdown()

    routes: list[BaseRoute] = [Route("/healthz", healthz)]
    for mount in mounts:
        routes += mount.routes
    return Starlette(routes=routes, lifespan=lifespan)
