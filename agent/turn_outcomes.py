"""What a failed turn tells the traveller, and what typed answer closes an open booking request."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid

import httpx
import openai

from agent.checkpoints import ConversationMoved
from agent.context import Context
from agent.replies import AgentReply, DecisionOutcome

# Logged under the conversation service, whose turns these are (operators filter on that name).
log = logging.getLogger("agent.conversation")


def model_fault_message(error: BaseException) -> str:
    if isinstance(error, openai.RateLimitError):
        return "The AI model is busy right now (rate limited). Nothing was changed; please try again in a minute."
    if isinstance(error, openai.APITimeoutError | asyncio.TimeoutError | httpx.TimeoutException):
        return "The AI model took too long to answer. Nothing was changed; please try again."
    return "The AI model is unavailable right now. Nothing was changed; please try again shortly."


MODEL_FAULTS = (openai.APIError, httpx.HTTPError, json.JSONDecodeError, asyncio.TimeoutError)


UNEXPECTED = "Something went wrong on my side, and nothing was changed. Please try again."
BOOKING_FAILED = (
    "The booking could not be completed because something went wrong on my side; nothing was booked. "
    "Your request is still open: confirm or cancel it again."
)
MOVED_ON = (
    "Another message in this conversation was answered first, so this one was not kept; please send it again."
)


def fault_reply(ctx: Context, error: BaseException, *, booking: bool = False) -> AgentReply:
    """A failed turn in one sentence with an error id that is also logged; nothing of the turn was kept."""
    error_id = uuid.uuid4().hex[:12]
    if isinstance(error, MODEL_FAULTS):
        log.warning("model fault %s in tenant %s: %s", error_id, ctx.tenant_id, type(error).__name__)
        text = model_fault_message(error)
    elif isinstance(error, ConversationMoved):
        log.info("turn %s in tenant %s lost to a concurrent one", error_id, ctx.tenant_id)
        text = MOVED_ON
    else:
        log.error("turn failed in tenant %s, error id %s", ctx.tenant_id, error_id, exc_info=error)
        text = BOOKING_FAILED if booking else UNEXPECTED
    return AgentReply(text=f"{text} (error id {error_id})", error_id=error_id)


_DECLINES = frozenset(
    {
        "cancel",
        "/cancel",
        "cancel it",
        "cancel that",
        "cancel the booking",
        "no",
        "no thanks",
        "stop",
        "don't book",
        "do not book",
        "don't book it",
        "do not book it",
    }
)


def declines(text: str) -> bool:
    """An explicit "cancel" typed while a booking waits: it closes the request (a question does not)."""
    return re.sub(r"[\s.!]+", " ", text.lower()).strip() in _DECLINES


def last_outcome(outcomes: list[DecisionOutcome]) -> DecisionOutcome | None:
    return outcomes[-1] if outcomes else None
