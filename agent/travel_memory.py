"""A traveller's memory as the agent and the commands use it: remember, recall for a request, list, forget."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from agent.embeddings import Embedder
from storage.database import Database
from storage.travel_memory import (
    TravelMemory,
    clean_fact,
    forget_memory,
    list_memories,
    relevant_memories,
    remember_fact,
)

RECALLED = 5


@dataclass(frozen=True)
class TravellerMemory:
    """Memories of the caller, in the caller's tenant; embedded when an embedding model is configured."""

    db: Database
    embedder: Embedder | None = None

    async def remember(self, *, tenant_id: uuid.UUID, user_id: uuid.UUID, fact: str) -> TravelMemory | None:
        fact = clean_fact(fact)
        embedding = await self.embedder.embed_question(fact) if self.embedder else None
        async with self.db.tenant(tenant_id) as session:
            return await remember_fact(session, user_id=user_id, fact=fact, embedding=embedding)

    async def recall(self, *, tenant_id: uuid.UUID, user_id: uuid.UUID, request: str) -> list[str]:
        """The few memories most relevant to the current request."""
        query = await self.embedder.embed_question(request) if self.embedder and request.strip() else None
        async with self.db.tenant(tenant_id) as session:
            return await relevant_memories(
                session, user_id=user_id, request=request, limit=RECALLED, query=query
            )

    async def listing(self, *, tenant_id: uuid.UUID, user_id: uuid.UUID) -> str:
        async with self.db.tenant(tenant_id) as session:
            return describe_memories(await list_memories(session, user_id=user_id))

    async def forget(self, *, tenant_id: uuid.UUID, user_id: uuid.UUID, memory_id: int) -> TravelMemory:
        async with self.db.tenant(tenant_id) as session:
            return await forget_memory(session, user_id=user_id, memory_id=memory_id)


def describe_memories(memories: Sequence[TravelMemory]) -> str:
    if not memories:
        return "I remember nothing about you yet. Tell me a preference and ask me to remember it."
    lines = ["What I remember about you (forget one with /me forget ID):"]
    lines += [
        f"  {m.memory_id}  {m.fact}" + ("  (from a trip)" if m.source == "trip" else "") for m in memories
    ]
    return "\n".join(lines)
