"""A Redis read-through cache of provider answers, per provider and key, with a TTL per kind of answer.

Redis is an accelerator here, never a dependency: when it is down the lookup goes to the provider. Within
one process, concurrent lookups of the same key share a single provider call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from pydantic import TypeAdapter
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

T = TypeVar("T")

KEY_PREFIX = "travelmate:travel-info:v1"


@dataclass(frozen=True)
class Freshness:
    """How long one kind of answer stays good, and how long a "there is no such thing" answer does."""

    ttl: dt.timedelta
    missing_ttl: dt.timedelta


GEOCODING = Freshness(ttl=dt.timedelta(days=30), missing_ttl=dt.timedelta(days=1))
FORECAST = Freshness(ttl=dt.timedelta(hours=1), missing_ttl=dt.timedelta(hours=1))
FLIGHT_STATUS = Freshness(ttl=dt.timedelta(minutes=2), missing_ttl=dt.timedelta(minutes=2))


@dataclass
class CacheCounts:
    hits: int = 0
    misses: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class TravelInfoCache:
    """Provider answers in Redis under `travelmate:travel-info:v1:{provider}:{kind}:{key}`."""

    def __init__(self, redis: Redis | None) -> None:
        self._redis = redis
        self._loading: dict[str, asyncio.Future[object]] = {}
        self.counts = CacheCounts()

    @staticmethod
    def key(provider: str, kind: str, key: str) -> str:
        return f"{KEY_PREFIX}:{provider}:{kind}:{key}"

    async def _read(self, name: str) -> bytes | None:
        if self._redis is None:
            return None
        try:
            value = await self._redis.get(name)
        except (RedisError, OSError) as error:
            log.warning("travel-info cache unreadable, asking the provider (%s)", type(error).__name__)
            return None
        return value if isinstance(value, bytes) else None

    async def _write(self, name: str, value: bytes, ttl: dt.timedelta) -> None:
        if self._redis is None:
            return
        try:
            await self._redis.set(name, value, px=int(ttl.total_seconds() * 1000))
        except (RedisError, OSError) as error:
            log.warning("travel-info cache unwritable (%s)", type(error).__name__)

    async def read_through(
        self,
        *,
        provider: str,
        kind: str,
        key: str,
        freshness: Freshness,
        shape: TypeAdapter[T | None],
        load: Callable[[], Awaitable[T | None]],
        fresh: bool = False,
    ) -> T | None:
        """The cached answer, or `load()`'s (stored for next time). `fresh` skips the read, not the write.

        Exceptions of `load` (provider errors) propagate and nothing is stored, so the next lookup retries.
        """
        name = self.key(provider, kind, key)
        if not fresh:
            cached = await self._read(name)
            if cached is not None:
                try:
                    value = shape.validate_json(cached)
                except ValueError:
                    log.warning("travel-info cache entry of an old shape, reloading: %s:%s", provider, kind)
                else:
                    self.counts.hits += 1
                    return value
        self.counts.misses += 1
        pending = self._loading.get(name)
        if pending is None:
            task = asyncio.ensure_future(self._load_and_store(name, freshness, shape, load))
            task.add_done_callback(self._finished(name))
            self._loading[name] = pending = cast("asyncio.Future[object]", task)
        # A caller that gives up (its deadline) leaves the shared load running, so its answer is still cached.
        result = await asyncio.shield(pending)
        return result  # type: ignore[return-value]

    async def cancel_loads(self) -> None:
        """Stop provider calls nobody waits for any more (before their HTTP client closes)."""
        pending = list(self._loading.values())
        for load in pending:
            load.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _finished(self, name: str) -> Callable[[asyncio.Future[Any]], None]:
        def forget(done: asyncio.Future[Any]) -> None:
            self._loading.pop(name, None)
            if not done.cancelled():
                done.exception()  # retrieved here, so a load nobody waits for any more logs no warning

        return forget

    async def _load_and_store(
        self,
        name: str,
        freshness: Freshness,
        shape: TypeAdapter[T | None],
        load: Callable[[], Awaitable[T | None]],
    ) -> T | None:
        value = await load()
        ttl = freshness.ttl if value is not None else freshness.missing_ttl
        await self._write(name, shape.dump_json(value), ttl)
        return value
