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
from sqlalchemy import delete, text
from sqlalchemy.dialects.postgresql import insert

from storage.database import Database
from storage.models import ProcessedEvent

log = logging.getLogger(__name__)

__all__ = ["delivery_key", "first_delivery", "forget_delivery", "skip_retried_deliveries"]


def delivery_key(body: dict[str, Any]) -> tuple[str, str] | None:
    """(source, id) of a delivery that must have one effect, or None when it needs no de-duplication."""
    if body.get("type") == "event_callback" and body.get("event_id"):
        return "slack", str(body["event_id"])[:128]
    if body.get("type") == "block_actions" and body.get("trigger_id"):
        return "slack-action", str(body["trigger_id"])[:128]
    return None


async def first_delivery(db: Database, *, source: str, event_id: str) -> bool:
    """Record a delivery; True the first time it is seen, False for every retry or replay."""
    statement = insert(ProcessedEvent).values(source=source, event_id=event_id)
    async with db.unscoped() as session:
        # The ack must not wait for a WAL flush queued behind the agent's checkpoint writes; a crash can
        # lose only the last moments of ids, and Slack stops retrying after a few minutes anyway.
        await session.execute(text("SET LOCAL synchronous_commit = off"))
        inserted = await session.execute(
            statement.on_conflict_do_nothing().returning(ProcessedEvent.event_id)
        )
        return inserted.first() is not None


async def forget_delivery(db: Database, *, source: str, event_id: str) -> None:
    """Let Slack's retry of a delivery through: its first attempt failed before it had any effect."""
    async with db.unscoped() as session:
        await session.execute(
            delete(ProcessedEvent).where(ProcessedEvent.source == source, ProcessedEvent.event_id == event_id)
        )


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
