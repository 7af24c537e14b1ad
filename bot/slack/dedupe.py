"""Retried Slack deliveries: each event (and each button press) is handled once, whatever Slack resends.

Slack resends an event with X-Slack-Retry-Num when it thinks the first delivery failed; the event_id
stays the same. A button press carries a unique trigger_id, so a replayed press is recognised too.
The ids go into processed_events, which has no tenant column and no tenant data.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from storage.database import Database
from storage.processed_events import first_delivery, forget_delivery

log = logging.getLogger(__name__)

__all__ = ["delivery_key", "forget_delivery", "skip_retried_deliveries"]


def delivery_key(body: dict[str, Any]) -> tuple[str, str] | None:
    """(source, id) of a delivery that must have one effect, or None when it needs no de-duplication."""
    if body.get("type") == "event_callback" and body.get("event_id"):
        return "slack", str(body["event_id"])[:128]
    if body.get("type") == "block_actions" and body.get("trigger_id"):
        return "slack-action", str(body["trigger_id"])[:128]
    return None


def skip_retried_deliveries(db: Database) -> Callable[..., Awaitable[BoltResponse | None]]:
    """Global middleware: a delivery seen before is acknowledged with 200 and goes no further."""

    async def skip_retried_delivery(
        body: dict[str, Any], req: AsyncBoltRequest, next_: Callable[[], Awaitable[Any]]
    ) -> BoltResponse | None:
        key = delivery_key(body)
        if key is not None and not await first_delivery(db, source=key[0], event_id=key[1]):
            retry = next(iter(req.headers.get("x-slack-retry-num") or []), "none")
            log.info("skipped a repeated Slack delivery %s (retry %s)", key[1], retry)
            return BoltResponse(status=200, body="")
        return await next_()

    return skip_retried_delivery
