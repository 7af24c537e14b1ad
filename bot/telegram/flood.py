"""Flood control for Bot API calls: a 429 with retry_after waits and retries, a bounded number of times."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

from telegram._utils.types import JSONDict
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger(__name__)


def retry_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 announces that retry_after becomes a timedelta; both forms are read here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class FloodControl(BaseRateLimiter[int]):
    """Reacts to flood limits instead of throttling up front (PTB's AIORateLimiter needs aiolimiter).

    After a RetryAfter every request of this bot waits until the ban ends, as Telegram's limit is per bot;
    the failed call is then retried, at most `max_retries` times and never after waiting over `longest_wait`.
    """

    def __init__(self, *, max_retries: int = 3, longest_wait: float = 60.0) -> None:
        self.max_retries = max_retries
        self.longest_wait = longest_wait
        self._open = asyncio.Event()
        self._open.set()

    async def initialize(self) -> None:
        self._open.set()

    async def shutdown(self) -> None:
        self._open.set()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        retries = self.max_retries if rate_limit_args is None else rate_limit_args
        attempt = 0
        while True:
            await self._open.wait()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                wait = retry_seconds(error)
                if attempt >= retries or wait > self.longest_wait:
                    raise
                attempt += 1
                log.warning(
                    "Bot API flood control on %s: waiting %.1f s, retry %d of %d",
                    endpoint,
                    wait,
                    attempt,
                    retries,
                )
                await self._pause(wait)

    async def _pause(self, seconds: float) -> None:
        if not self._open.is_set():
            await self._open.wait()
            return
        self._open.clear()
        try:
            await asyncio.sleep(seconds + 0.1)
        finally:
            self._open.set()
