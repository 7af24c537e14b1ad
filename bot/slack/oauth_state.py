"""OAuth state for Slack installs in Redis: issued once, consumed once, expired after ten minutes."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from redis.asyncio import Redis
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

log = logging.getLogger(__name__)

_PREFIX = "travelmate:slack:oauth-state:"


class RedisOAuthStateStore(AsyncOAuthStateStore):
    """Shared by every server process, unlike Bolt's default file store."""

    def __init__(self, redis: Redis, *, expiration_seconds: int = 600) -> None:
        self.redis = redis
        self.expiration_seconds = expiration_seconds

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        await self.redis.set(_PREFIX + state, "1", ex=self.expiration_seconds)
        return state

    async def async_consume(self, state: str) -> bool:
        if not state or len(state) > 128:
            return False
        # GETDEL makes a second use of the same state fail even when two callbacks race.
        return await self.redis.getdel(_PREFIX + state) is not None
