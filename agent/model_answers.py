"""A model answer that cannot be used is asked for once more, as the client retries a 500."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import openai
from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage

from agent.context import Context

log = logging.getLogger(__name__)

# A body that is not JSON, or not the shape the client expects, is as transient as a 500.
UNREADABLE_BODIES = (json.JSONDecodeError, openai.APIResponseValidationError)


def malformed(response: ModelResponse[Any]) -> bool:
    """Tool calls the model sent whose arguments could not be parsed, and nothing usable beside them."""
    return any(
        isinstance(message, AIMessage) and message.invalid_tool_calls and not message.tool_calls
        for message in response.result
    )


class RetryMalformedAnswer(AgentMiddleware[AgentState[Any], Context]):
    """One more request after a malformed answer; a second one is returned (the service reports it)."""

    async def awrap_model_call(
        self,
        request: ModelRequest[Context],
        handler: Callable[[ModelRequest[Context]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        try:
            response = await handler(request)
        except UNREADABLE_BODIES as error:
            log.warning("the model's answer could not be read (%s); asking once more", type(error).__name__)
            return await handler(request)
        if not malformed(response):
            return response
        log.warning("the model sent a tool call that could not be parsed; asking once more")
        return await handler(request)
