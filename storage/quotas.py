"""Abuse limits kept in Redis: message rates per user and per tenant, and the daily model-token budget.

The budget holds under concurrency: a turn reserves its estimated tokens atomically before the model is
called, spends its real count after, then releases the reservation.

Message rates stay fixed one-minute windows. The `limits` library's moving window was weighed and not taken:
it builds a second Redis client from a URL beside the product's, it timestamps entries with the wall clock
rather than the clock the product runs on (so rates cannot be tested or replayed on a fixed clock), and it
cannot refuse a message on two limits at once (a message the tenant limit refuses would still count against
the user's window). What it would fix, up to twice the rate across a minute boundary, is small for an abuse
limit whose costly part, the model's tokens, is held by the budget.

While Redis cannot be reached, messages and tokens go uncounted (each time with a warning) rather than every
traveller being refused: an outage of the counters must not stop the conversations. Counting resumes by
itself with the first command that reaches Redis again.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from storage.errors import DomainError
from storage.settings import Settings

log = logging.getLogger(__name__)


class LimitReached(DomainError):
    """A rate or budget limit refuses the request; nothing of it was accepted."""

    kind = "limit_reached"


@dataclass(frozen=True)
class MessageLimits:
    """Messages one person, and one tenant together, may send the agent per minute."""

    per_user_per_minute: int = 20
    per_tenant_per_minute: int = 600

    @classmethod
    def of(cls, settings: Settings) -> MessageLimits:
        """The limits set by TRAVELMATE_MESSAGES_PER_USER_PER_MINUTE and ..._PER_TENANT_PER_MINUTE."""
        return cls(
            per_user_per_minute=settings.messages_per_user_per_minute,
            per_tenant_per_minute=settings.messages_per_tenant_per_minute,
        )


class Quotas:
    """Fixed one-minute windows and a per-day token counter, with keys that expire by themselves."""

    def __init__(self, redis: Redis, limits: MessageLimits | None = None) -> None:
        self.redis = redis
        self.limits = limits or MessageLimits()

    async def admit_message(self, *, tenant_id: uuid.UUID, user_id: uuid.UUID, now: dt.datetime) -> None:
        """Count one message, or refuse it (uncounted) when the user or the tenant is over the limit."""
        async with _counted_while_reachable("a message"):
            await self._admit_message(tenant_id=tenant_id, user_id=user_id, now=now)

    async def _admit_message(self, *, tenant_id: uuid.UUID, user_id: uuid.UUID, now: dt.datetime) -> None:
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

    async def reserve_tokens(
        self, *, tenant_id: uuid.UUID, budget: int, now: dt.datetime
    ) -> TokenReservation:
        """Set aside a turn's estimated tokens before the model is called, or refuse the turn.

        Check and reservation are one Lua script, so concurrent turns cannot all pass a check that only one
        of them fits: a turn is admitted while the tokens spent today, the other turns' reservations and its
        own estimate fit the budget (a turn alone is admitted while any budget is left). The estimate is the
        tenant's recent turns' real cost. `release` gives the reservation back once the real count is spent.
        """
        used, reserved = self._token_key(tenant_id, now), self._reserved_key(tenant_id, now)
        reservation = TokenReservation(reserved, 0)  # admitted, reserving nothing, when Redis is away
        if not budget:
            return reservation
        async with _counted_while_reachable("a turn's token reservation"):
            estimate = max(MIN_TURN_ESTIMATE, int(await self.redis.get(self._estimate_key(tenant_id)) or 0))
            admitted = await self.redis.eval(  # type: ignore[misc]
                _RESERVE, 2, used, reserved, str(budget), str(estimate), str(2 * 86400)
            )
            if not admitted:
                raise LimitReached(BUDGET_USED_UP)
            reservation = TokenReservation(reserved, estimate)
        return reservation

    async def release(self, reservation: TokenReservation) -> None:
        if reservation.tokens:
            async with _counted_while_reachable("a token reservation's release"):
                await self.redis.decrby(reservation.key, reservation.tokens)

    async def spend_tokens(self, *, tenant_id: uuid.UUID, tokens: int, now: dt.datetime) -> None:
        """Count a turn's real tokens, and learn from them what the tenant's next turn will likely cost."""
        if tokens <= 0:
            return
        key = self._token_key(tenant_id, now)
        async with _counted_while_reachable("a turn's tokens"), self.redis.pipeline(transaction=True) as pipe:
            pipe.incrby(key, tokens)
            pipe.expire(key, 2 * 86400)
            pipe.eval(_LEARN_ESTIMATE, 1, self._estimate_key(tenant_id), str(tokens), str(7 * 86400))
            await pipe.execute()

    @staticmethod
    def _token_key(tenant_id: uuid.UUID, now: dt.datetime) -> str:
        return f"tokens:{tenant_id}:{now.astimezone(dt.UTC):%Y%m%d}"

    @staticmethod
    def _reserved_key(tenant_id: uuid.UUID, now: dt.datetime) -> str:
        return f"tokens:reserved:{tenant_id}:{now.astimezone(dt.UTC):%Y%m%d}"

    @staticmethod
    def _estimate_key(tenant_id: uuid.UUID) -> str:
        return f"tokens:estimate:{tenant_id}"


@asynccontextmanager
async def _counted_while_reachable(what: str) -> AsyncIterator[None]:
    """Run a Redis count; while Redis cannot be reached, let the request through uncounted, with a warning."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as error:
        log.warning("Redis is unreachable (%s): %s went uncounted", type(error).__name__, what)


@dataclass(frozen=True)
class TokenReservation:
    """Tokens set aside for one turn; released once the turn's real count is spent."""

    key: str
    tokens: int


BUDGET_USED_UP = (
    "Your company's daily AI budget is used up; it renews at midnight UTC. Slash commands still work, "
    "and an admin can raise the budget with prefs set llm.daily_token_budget."
)
# A turn with no history to learn from is assumed to cost this much (instructions, tools and an answer).
MIN_TURN_ESTIMATE = 1000

# KEYS: spent today, reserved today. ARGV: budget, estimate, expiry seconds. Returns 1 when admitted.
_RESERVE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local reserved = tonumber(redis.call('GET', KEYS[2]) or '0')
if reserved < 0 then reserved = 0 end
local budget, estimate = tonumber(ARGV[1]), tonumber(ARGV[2])
if used >= budget or (reserved > 0 and used + reserved + estimate > budget) then
    return 0
end
redis.call('INCRBY', KEYS[2], estimate)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
return 1
"""
# KEYS: the tenant's turn estimate. ARGV: this turn's tokens, expiry seconds. Keeps the larger of the new
# count and a decaying average, so one cheap turn does not make the next reservation too small.
_LEARN_ESTIMATE = """
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
local new = tonumber(ARGV[1])
local estimate = math.max(new, math.floor(old * 0.8 + new * 0.2))
redis.call('SET', KEYS[1], estimate, 'EX', tonumber(ARGV[2]))
return estimate
"""
