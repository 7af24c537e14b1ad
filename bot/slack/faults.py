"""One place where errors become what a Slack user reads: a clear sentence, or an error id also logged."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from slack_sdk.errors import SlackApiError

from agent.context import Context
from bot.slack.blocks import escape
from storage.errors import DomainError

log = logging.getLogger(__name__)

Notify = Callable[[str], Awaitable[None]]


def unexpected_message(error_id: str) -> str:
    return (
        "Sorry, something went wrong on my side and nothing more was done. "
        f"If it happens again, give your admin this error id: `{error_id}`."
    )


async def _tell(notify: Notify, text: str) -> None:
    try:
        await notify(text)
    except SlackApiError as error:
        log.warning("could not tell the user about an error: %s", error.response.get("error"))


@asynccontextmanager
async def reported_errors(notify: Notify, *, what: str, caller: Context | None = None) -> AsyncIterator[None]:
    """Run a unit of Slack work; a domain refusal is told as is, anything else with a logged error id."""
    try:
        yield
    except DomainError as error:
        await _tell(notify, escape(error.message))
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception(
            "Slack %s failed: error id %s, tenant %s",
            what,
            error_id,
            caller.tenant_id if caller else "unknown",
        )
        await _tell(notify, unexpected_message(error_id))
