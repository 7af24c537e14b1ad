"""The Slack channel's shared state: the product, its settings, and the lazy work started after each ack."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from slack_bolt.lazy_listener.async_internals import to_runnable_function
from slack_bolt.lazy_listener.async_runner import AsyncLazyListenerRunner
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.product import Product
from bot.slack.config import SlackChannelSettings
from bot.slack.workspaces import TenantDirectory

log = logging.getLogger(__name__)

MAX_CONCURRENT_TURNS = 4


class TrackedLazyRunner(AsyncLazyListenerRunner):
    """Bolt's asyncio lazy runner, keeping a reference to every task so that none is lost or orphaned.

    Bolt's own runner fires and forgets (a task nobody references may be collected mid-flight); this one
    lets shutdown wait for work in progress, and tests wait until the channel is idle.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, function: Callable[..., Awaitable[None]], request: AsyncBoltRequest) -> None:
        task = asyncio.ensure_future(
            to_runnable_function(internal_func=function, logger=self.logger, request=request)
        )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def settle(self, grace: float = 30.0) -> None:
        """Wait until no lazy work is running (work may start more work, so loop until none is left)."""
        deadline = asyncio.get_running_loop().time() + grace
        while self.tasks:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"{len(self.tasks)} Slack tasks still running after {grace}s")
            await asyncio.wait(set(self.tasks), timeout=remaining)


@dataclass
class SlackChannel:
    """What every Slack handler shares; handlers get it by closure, never as a global."""

    product: Product
    options: SlackChannelSettings
    tenants: TenantDirectory
    lazy: TrackedLazyRunner = field(default_factory=lambda: TrackedLazyRunner(log))
    _locks: weakref.WeakValueDictionary[str, asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary
    )
    _turns: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CONCURRENT_TURNS))

    def now(self) -> dt.datetime:
        return self.product.conversation.services.clock()

    def lock(self, key: str) -> asyncio.Lock:
        """One lock per conversation, so two presses of the same button in this process take turns."""
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    @asynccontextmanager
    async def turn(self, conversation: str) -> AsyncIterator[None]:
        """One agent turn at a time per conversation, and at most MAX_CONCURRENT_TURNS in this process.

        Turns are CPU work in the event loop that also answers Slack; bounding them keeps the acks quick
        when messages arrive faster than turns finish (the others wait here, which costs nothing).
        """
        async with self.lock(conversation), self._turns:
            yield

    async def settle(self, grace: float = 30.0) -> None:
        await self.lazy.settle(grace)
