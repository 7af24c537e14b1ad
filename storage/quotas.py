"""Abuse limits kept in Redis: message rates per user and per tenant, and the daily model-token budget."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis

from storage.errors import DomainError


class LimitReached(DomainError):
    """A rate or budget limit refuses the request; nothing of it was accepted."""

    kind = "limit_reached"


@dataclass(frozen=True)
class MessageLimits:
    per_user_per_minute: int = 20
    per_tenant_per_minute: int = 600


class Quotas:
    """Fixed one-minute windows and a per-day token counter, with keys that expire by themselves."""

    def __init__(self, redis: Redis, limits: MessageLimits | None = None) -> None:
        self.redis = redis
        self.limits = limits or MessageLimits()

    async def admit_message(self, *, tenant_id: uuid.UUID, user_id: uuid.UUID, now: dt.datetime) -> None:
        """Count one message, or refuse it (uncounted) when the user or the tenant is over the limit."""
        window = now.strftime("%Y%m%d%H%M")
        user_key, tenant_key = f"rate:user:{user_id}:{window}", f"rate:tenant:{tenant_id}:{window}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(user_key)
            pipe.expire(user_key, 120)
            pipe.incr(tenant_key)
            pipe.expire(tenant_key, 120)
            user_count, _, tenant_count, _ = await pipe.execute()
        wait = 60 - now.second
        if user_count > self.limits.per_user_per_minute:
            await self.redis.decr(user_key)
            await self.redis.decr(tenant_key)
            raise LimitReached(
                f"You are sending messages faster than I can answer them. Please wait {wait} seconds."
            )
        if tenant_count > self.limits.per_tenant_per_minute:
            await self.redis.decr(user_key)
            await self.redis.decr(tenant_key)
            raise LimitReached(
                f"Your company is sending more messages than its limit allows. Please wait {wait} seconds."
            )

    async def tokens_used_today(self, *, tenant_id: uuid.UUID, now: dt.datetime) -> int:
        return int(await self.redis.get(self._token_key(tenant_id, now)) or 0)

    async def check_token_budget(self, *, tenant_id: uuid.UUID, budget: int, now: dt.datetime) -> None:
        """Refuse model work when the tenant's daily budget (0 = none) is used up."""
        if budget and await self.tokens_used_today(tenant_id=tenant_id, now=now) >= budget:
            raise LimitReached(
                "Your company's daily AI budget is used up; it renews at midnight UTC. Slash commands still work, "
                "and an admin can raise the budget with prefs set llm.daily_token_budget."
            )

    async def spend_tokens(self, *, tenant_id: uuid.UUID, tokens: int, now: dt.datetime) -> None:
        if tokens <= 0:
            return
        key = self._token_key(tenant_id, now)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incrby(key, tokens)
            pipe.expire(key, 2 * 86400)
            await pipe.execute()

    @staticmethod
    def _token_key(tenant_id: uuid.UUID, now: dt.datetime) -> str:
        return f"tokens:{tenant_id}:{now.astimezone(dt.UTC):%Y%m%d}"
