"""The Slack channel's shared state: the product, its settings, and the lazy work started after each ack."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.lazy_listener.async_internals import to_runnable_function
from slack_bolt.lazy_listener.async_runner import AsyncLazyListenerRunner
from slack_bolt.request.async_request import AsyncBoltRequest

from agent.context import Context
from bot.product import Product
from bot.slack.config import SlackChannelSettings
from bot.slack.dedupe import DELIVERY, DeliveryKey, SlackDeliveries
from bot.slack.workspaces import TenantDirectory

log = logging.getLogger(__name__)

MAX_CONCURRENT_TURNS = 4


class TrackedLazyRunner(AsyncLazyListenerRunner):
    """Bolt's asyncio lazy runner, keeping a reference to every task so that none is lost or orphaned.

    Bolt's own runner fires and forgets (a task nobody references may be collected mid-flight); this one
    lets shutdown wait for work in progress, and tests wait until the channel is idle.
    """

    def __init__(self, logger: logging.Logger, deliveries: SlackDeliveries) -> None:
        self.logger = logger
        self.deliveries = deliveries
        self.tasks: set[asyncio.Task[None]] = set()
        # What each piece of lazy work needs first and the ack must not wait for (who the caller is).
        self.prepare: Callable[[AsyncBoltContext], Awaitable[None]] | None = None

    def start(self, function: Callable[..., Awaitable[None]], request: AsyncBoltRequest) -> None:
        delivery: DeliveryKey | None = request.context.get(DELIVERY)
        if delivery is not None:
            self.deliveries.work_started(delivery)
        task = asyncio.ensure_future(self._run(function, request, delivery))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(
        self,
        function: Callable[..., Awaitable[None]],
        request: AsyncBoltRequest,
        delivery: DeliveryKey | None,
    ) -> None:
        """The lazy work, then its delivery counted as handled; work cut short leaves its claim to lapse, so
        that Slack's redelivery is handled by a process that is still running."""
        finished = False
        try:
            if self.prepare is not None:
                await self.prepare(request.context)
            await to_runnable_function(internal_func=function, logger=self.logger, request=request)
            finished = True
        except Exception:
            # Nothing was answered: the delivery is left to lapse, so that a redelivery of it is handled again.
            self.logger.exception("Slack work could not start: error id %s", uuid.uuid4().hex[:12])
        finally:
            if delivery is not None:
                await self.deliveries.work_ended(delivery, handled=finished)

    def __deepcopy__(self, memo: dict[int, Any]) -> TrackedLazyRunner:
        """The runner is shared by the whole process, never copied.

        Bolt deep-copies each request for its lazy listeners. In an AI-assistant thread the copy reaches
        this runner (the `say` of the request holds the original context, which holds the listener runner),
        and while other turns run its task set holds asyncio Tasks, which cannot be copied: every
        concurrent thread reply failed with HTTP 500 before its ack.
        """
        memo[id(self)] = self
        return self

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
    deliveries: SlackDeliveries
    lazy: TrackedLazyRunner = field(init=False)
    _turns: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CONCURRENT_TURNS))

    def __post_init__(self) -> None:
        self.lazy = TrackedLazyRunner(log, self.deliveries)

    def now(self) -> dt.datetime:
        return self.product.conversation.services.clock()

    @asynccontextmanager
    async def turn(self, caller: Context, conversation: str) -> AsyncIterator[None]:
        """One agent turn at a time per conversation in every replica (the service's lease in PostgreSQL),
        and at most MAX_CONCURRENT_TURNS in this process.

        Turns are CPU work in the event loop that also answers Slack; bounding them keeps the acks quick
        when messages arrive faster than turns finish (the others wait here, which costs nothing).
        """
        async with self.product.conversation.turn(caller, conversation), self._turns:
            yield

    async def settle(self, grace: float = 30.0) -> None:
        await self.lazy.settle(grace)
