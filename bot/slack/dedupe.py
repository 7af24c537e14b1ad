"""Retried Slack deliveries: each event (and each button press) is answered once, whatever Slack resends.

Slack resends an event with X-Slack-Retry-Num when it thinks the first delivery failed; the event_id
stays the same. A button press carries a unique trigger_id, so a replayed press is recognised too.

A delivery is claimed by this process when it arrives, and counts as handled only once the lazy work
started for it (the turn and its answer) has ended; meanwhile the claim is renewed. So a repeat that
arrives while the work runs is acknowledged without a second answer, a repeat of a handled delivery is
acknowledged and ignored, and a repeat of a delivery whose process died mid-turn is handled again once its
claim has lapsed. The ids go into processed_events, which has no tenant column. The request itself is kept
with the claim for a few minutes (sealed when a key is set), so that a live process runs again a delivery
whose process acknowledged it and died (bot.slack.lapsed); it is cleared once the delivery is handled.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg import Error as DatabaseError
from slack_bolt.listener.async_listener_completion_handler import AsyncListenerCompletionHandler
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from storage.processed_events import DeliveryClaims

log = logging.getLogger(__name__)

DELIVERY = "delivery"  # Bolt context key: the (source, id) this request claimed
TAKEN_OVER = (
    "delivery_taken_over"  # Bolt context key: the (source, id) this process took over, already claimed
)
DeliveryKey = tuple[str, str]


def delivery_key(body: dict[str, Any]) -> DeliveryKey | None:
    """(source, id) of a delivery that must have one effect, or None when it needs no de-duplication."""
    if body.get("type") == "event_callback" and body.get("event_id"):
        return "slack", str(body["event_id"])[:128]
    if body.get("type") == "block_actions" and body.get("trigger_id"):
        return "slack-action", str(body["trigger_id"])[:128]
    return None


@dataclass
class SlackDeliveries:
    """The deliveries this process works on: claimed on arrival, handled when their lazy work has ended."""

    claims: DeliveryClaims
    _work: Counter[DeliveryKey] = field(default_factory=Counter)
    _renewal: asyncio.Task[None] | None = None
    _acknowledged: set[asyncio.Task[None]] = field(default_factory=set)

    def __deepcopy__(self, memo: dict[int, Any]) -> SlackDeliveries:
        """Shared by the whole process, never copied (Bolt deep-copies each request for its lazy listeners,
        and the copy reaches this through the listener runner; a running renewal Task cannot be copied)."""
        memo[id(self)] = self
        return self

    async def claim(self, key: DeliveryKey, request: bytes | None = None) -> bool:
        return await self.claims.claim(source=key[0], event_id=key[1], request=request)

    async def release(self, key: DeliveryKey) -> None:
        await self.claims.release(source=key[0], event_id=key[1])

    def work_started(self, key: DeliveryKey) -> None:
        """Lazy work for the delivery began: keep its claim alive until it ends."""
        self._work[key] += 1
        if self._renewal is None or self._renewal.done():
            self._renewal = asyncio.create_task(self._renew_claims())

    async def work_ended(self, key: DeliveryKey, *, handled: bool = True) -> None:
        """Lazy work for the delivery ended; once all of it has, the delivery is handled, or, when the work
        was cut short before answering, given up so that a redelivery is handled (if even that fails, the
        claim lapses once this process stops renewing it)."""
        self._work[key] -= 1
        last = self._work[key] <= 0
        if last:
            del self._work[key]
        if not self._work and self._renewal is not None:
            self._renewal.cancel()
            self._renewal = None
        if not last:
            return
        try:
            if handled:
                await self.claims.handled(source=key[0], event_id=key[1])
            else:
                await self.claims.release(source=key[0], event_id=key[1])
        except (DatabaseError, OSError) as error:
            log.warning("could not record the end of Slack delivery %s: %s", key[1], type(error).__name__)

    def acknowledged(self, key: DeliveryKey) -> None:
        """The listener acknowledged; a delivery that starts no lazy work is handled with its ack.

        Bolt starts a listener's lazy work right after this hook returns, so the check runs a moment later.
        """
        task = asyncio.create_task(self._handled_unless_working(key))
        self._acknowledged.add(task)
        task.add_done_callback(self._acknowledged.discard)

    async def _handled_unless_working(self, key: DeliveryKey) -> None:
        if key in self._work:
            return
        try:
            await self.claims.handled(source=key[0], event_id=key[1])
        except (DatabaseError, OSError) as error:
            log.warning("could not record Slack delivery %s as handled: %s", key[1], type(error).__name__)

    async def _renew_claims(self) -> None:
        while self._work:
            await asyncio.sleep(self.claims.seconds / 3)
            try:
                await self.claims.renew()
            except (DatabaseError, OSError) as error:
                # The next renewal may succeed; if none does, the claims lapse and redeliveries are handled.
                log.warning("could not renew Slack delivery claims: %s", type(error).__name__)


def skip_retried_deliveries(
    deliveries: SlackDeliveries, kept: Callable[[AsyncBoltRequest], bytes]
) -> Callable[..., Awaitable[BoltResponse | None]]:
    """Global middleware: a delivery handled, or in hand in some process, is acknowledged with 200 and goes
    no further; one claimed here keeps `kept(request)` with its claim."""

    async def skip_retried_delivery(
        body: dict[str, Any], req: AsyncBoltRequest, next_: Callable[[], Awaitable[BoltResponse | None]]
    ) -> BoltResponse | None:
        key = delivery_key(body)
        if key is None:
            return await next_()
        if req.context.get(TAKEN_OVER) == key:
            # Run again from its kept request; this process claimed it when taking it over.
            req.context[DELIVERY] = key
            return await next_()
        if not await deliveries.claim(key, kept(req)):
            retry = next(iter(req.headers.get("x-slack-retry-num") or []), "none")
            log.info("skipped a repeated Slack delivery %s (retry %s)", key[1], retry)
            return BoltResponse(status=200, body="")
        req.context[DELIVERY] = key
        return await next_()

    return skip_retried_delivery


class DeliveryCompletion(AsyncListenerCompletionHandler):
    """Bolt's hook after a listener's ack: a delivery that started no lazy work is handled with its ack."""

    def __init__(self, deliveries: SlackDeliveries) -> None:
        self.deliveries = deliveries

    def __deepcopy__(self, memo: dict[int, Any]) -> DeliveryCompletion:
        memo[id(self)] = self
        return self

    async def handle(self, request: AsyncBoltRequest, response: BoltResponse | None) -> None:
        key: DeliveryKey | None = request.context.get(DELIVERY)
        if key is not None and response is not None and response.status < 300:
            self.deliveries.acknowledged(key)
