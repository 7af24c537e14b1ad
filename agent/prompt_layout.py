"""Prompt layout and memory: stable instructions first, tenant facts last, history bounded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage

from agent.context import Context
from prompts import load_prompt

# A turn sees at most this many earlier messages; older ones leave the checkpoint too (the conversation
# service removes them with the turn's input), so neither the model request nor the stored state grows with
# the conversation's age. Trips live in the database.
KEEP_MESSAGES = 16
# Offered to admins only. The tools check the role themselves too; hiding them keeps travellers' models
# from being talked into trying.
ADMIN_ONLY_TOOLS = frozenset({"set_tenant_preference"})


def trimmed(messages: list[AnyMessage], keep: int = KEEP_MESSAGES) -> list[AnyMessage]:
    """The messages to drop so that at most `keep` remain, cutting only before a human message."""
    if len(messages) <= keep:
        return []
    start = len(messages) - keep
    while start < len(messages) and not isinstance(messages[start], HumanMessage):
        start += 1
    return messages[:start]


class PromptLayout(AgentMiddleware[AgentState[Any], Context]):
    """Puts the byte-identical instructions first and this tenant's facts last, and hides admin-only tools.

    A model-call hook only: a node of its own (such as trimming in `before_agent`) would cost every turn a
    graph step, so history is bounded by the conversation service instead (`trimmed`).
    """

    async def awrap_model_call(
        self,
        request: ModelRequest[Context],
        handler: Callable[[ModelRequest[Context]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        ctx = request.runtime.context
        messages = [*request.messages, SystemMessage(ctx.facts)] if ctx.facts else list(request.messages)
        tools = (
            request.tools
            if ctx.is_admin
            else [t for t in request.tools if _tool_name(t) not in ADMIN_ONLY_TOOLS]
        )
        return await handler(
            request.override(
                system_message=SystemMessage(load_prompt("instructions")), messages=messages, tools=tools
            )
        )


def _tool_name(tool: Any) -> str:
    return str(tool.get("name", "") if isinstance(tool, dict) else getattr(tool, "name", ""))
