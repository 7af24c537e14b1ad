"""The agent's tools over the company's policy documents and the traveller's memory."""

from __future__ import annotations

from langchain.tools import ToolRuntime, tool
from langchain_core.messages import HumanMessage
from langchain_core.tools import BaseTool
from pydantic import BaseModel, Field

from agent.context import Context
from agent.embeddings import Embedder
from agent.policy_library import PolicyLibrary
from agent.travel_memory import TravellerMemory
from storage.database import Database
from storage.errors import DomainError
from storage.travel_memory import MAX_FACT_CHARS


class PolicyQuestion(BaseModel):
    question: str = Field(
        description="The traveller's policy question in their words, e.g. 'can I expense the airport lounge?'",
        min_length=1,
        max_length=500,
    )


class FactToRemember(BaseModel):
    fact: str = Field(
        description="One fact about the traveller, in the third person, e.g. 'Prefers aisle seats'.",
        min_length=1,
        max_length=MAX_FACT_CHARS,
    )


def current_request(runtime: ToolRuntime[Context]) -> str:
    """The traveller's latest message in this conversation."""
    messages = (runtime.state or {}).get("messages", []) if isinstance(runtime.state, dict) else []
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text
    return ""


async def recalled_memories(memory: TravellerMemory, runtime: ToolRuntime[Context]) -> str:
    """The memories get_preferences adds to the traveller's facts, most relevant to the request first."""
    ctx = runtime.context
    found = await memory.recall(
        tenant_id=ctx.tenant_id, user_id=ctx.user_id, request=current_request(runtime)
    )
    if not found:
        return ""
    return "\nWhat the traveller asked you to remember (id, fact):\n" + "\n".join(f"- {f}" for f in found)


def library_tools(db: Database, embedder: Embedder | None) -> list[BaseTool]:
    """search_policy and remember; a refusal comes back as the tool's result, like every other tool's."""
    library = PolicyLibrary(db, embedder)
    memory = TravellerMemory(db, embedder)

    @tool("search_policy", args_schema=PolicyQuestion)
    async def search_policy(runtime: ToolRuntime[Context], question: str) -> str:
        """Search the company's travel-policy document for the passages that answer a policy question
        (expenses, per diems, approvals, classes of travel). Returns passages with their citations."""
        try:
            return await library.answer_material(runtime.context.tenant_id, question)
        except DomainError as error:
            return f"Refused: {error.message}"

    @tool("remember", args_schema=FactToRemember)
    async def remember(runtime: ToolRuntime[Context], fact: str) -> str:
        """Keep a fact about the traveller for later conversations. Only after the traveller agreed."""
        ctx = runtime.context
        try:
            kept = await memory.remember(tenant_id=ctx.tenant_id, user_id=ctx.user_id, fact=fact)
        except DomainError as error:
            return f"Refused: {error.message}"
        if kept is None:
            return "That is already remembered."
        return f"Remembered (id {kept.memory_id}): {kept.fact}"

    return [search_policy, remember]
