"""The travel agent graph: the model, the tools, the prompt layout and the checkpointer."""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from agent.context import Context
from agent.model_answers import RetryMalformedAnswer
from agent.prompt_layout import PromptLayout
from agent.tools import AgentServices, build_tools
from agent.tracing import keep_untraced_calls_on_the_loop


def build_graph(
    *, model: BaseChatModel, services: AgentServices, checkpointer: BaseCheckpointSaver[Any] | None
) -> CompiledStateGraph[Any, Context, Any, Any]:
    """Compile the agent; tests compile the same builder with their own model server and database."""
    keep_untraced_calls_on_the_loop()
    return create_agent(
        model,
        tools=build_tools(services),
        middleware=[RetryMalformedAnswer(), PromptLayout()],
        context_schema=Context,
        checkpointer=checkpointer,
        name="travelmate",
    )
