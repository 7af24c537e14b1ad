"""Deliveries acknowledged by a process that died mid-turn: Slack never resends them, so a live process does.

Each delivery's request (raw body and signature headers) is kept with its claim for a few minutes. Every
serve process sweeps every few seconds: deliveries whose claim lapsed unhandled pass to it (one process each,
`FOR UPDATE SKIP LOCKED`) and go through its Bolt app again, through the same middleware as a delivery from
Slack (signature check, claim, identity, lazy work), so the normal path answers them and marks them handled.
Requests older than the window are given up, and each is logged with its id for operators.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from psycopg import Error as DatabaseError
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.slack.dedupe import TAKEN_OVER, SlackDeliveries

log = logging.getLogger(__name__)

SWEEP_SECONDS = 3.0
# What Bolt needs besides the body to accept the request again: its signature, and how to parse the body.
KEPT_HEADERS = ("x-slack-signature", "x-slack-request-timestamp", "content-type")


def kept_request(request: AsyncBoltRequest) -> bytes:
    """The request as kept with its claim, to be dispatched again should this process die."""
    headers = {
        name: list(request.headers.get(name) or []) for name in KEPT_HEADERS if request.headers.get(name)
    }
    body = request.raw_body if request.mode == "http" else json.dumps(request.body)
    return json.dumps({"mode": request.mode, "body": body, "headers": headers}).encode()


def request_again(kept: bytes, context: dict[str, Any]) -> AsyncBoltRequest:
    """A kept request as Bolt takes it from Slack (in Socket Mode the body is the parsed payload)."""
    stored = json.loads(kept)
    mode = str(stored["mode"])
    body: str | dict[str, Any] = stored["body"] if mode == "http" else json.loads(stored["body"])
    return AsyncBoltRequest(body=body, headers=stored["headers"], context=context, mode=mode)


@dataclass
class LapsedDeliverySweeper:
    """Runs again, through `app`, the deliveries that processes which died acknowledged and never answered."""

    app: AsyncApp
    deliveries: SlackDeliveries
    seconds: float = SWEEP_SECONDS
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def sweep(self) -> int:
        """One pass: give up stale requests, then dispatch the lapsed ones; how many were dispatched."""
        claims = self.deliveries.claims
        for event_id in await claims.give_up_stale():
            log.warning(
                "Slack delivery %s was acknowledged by a process that died and is now too old to run again: "
                "it was not answered",
                event_id,
            )
        dispatched = 0
        for lapsed in await claims.take_lapsed():
            key = (lapsed.source, lapsed.event_id)
            if lapsed.request is None:
                log.warning(
                    "Slack delivery %s cannot be run again: no configured key opens it", lapsed.event_id
                )
                continue
            response = await self.app.async_dispatch(request_again(lapsed.request, {TAKEN_OVER: key}))
            dispatched += 1
            log.info(
                "ran again Slack delivery %s left by a process that died: %s",
                lapsed.event_id,
                response.status,
            )
        return dispatched

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.seconds)
            try:
                await self.sweep()
            except (DatabaseError, OSError) as error:
                # The next pass may succeed; the requests stay until their window ends.
                log.warning("could not sweep lapsed Slack deliveries: %s", type(error).__name__)
