"""The company's policy library: add a file, list, remove, search with citations and re-embed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from agent.embeddings import Embedder
from agent.policy_reader import read_policy_file
from storage.audit import Actor
from storage.database import Database
from storage.errors import Forbidden
from storage.policy_documents import (
    DocumentSummary,
    PolicyDocument,
    add_document,
    list_documents,
    remove_document,
)
from storage.policy_search import PassageHit, describe_hits, search_passages

NO_DOCUMENT = (
    "Your company has not added a travel-policy document yet, so I cannot quote one. "
    "An admin can add it (Markdown, PDF or text)."
)
ADMINS_ONLY = "Only an admin of your company can add or remove travel-policy documents."


@dataclass(frozen=True)
class PolicyLibrary:
    """Policy documents of one tenant at a time, embedded when an embedding model is configured."""

    db: Database
    embedder: Embedder | None = None

    async def add(
        self, *, tenant_id: uuid.UUID, actor: Actor, filename: str, content: bytes, is_admin: bool
    ) -> tuple[PolicyDocument, int]:
        """Read, split, embed and store a file; the document and its number of passages."""
        if not is_admin:
            raise Forbidden(ADMINS_ONLY)
        read = read_policy_file(filename, content)
        embeddings = (
            await self.embedder.embed_passages([f"{p.heading_path}\n{p.body}" for p in read.passages])
            if self.embedder
            else None
        )
        async with self.db.tenant(tenant_id) as session:
            document = await add_document(
                session,
                actor=actor,
                title=read.title,
                filename=read.filename,
                media_type=read.media_type,
                sha256=read.sha256,
                pages=read.pages,
                passages=read.passages,
                embeddings=embeddings,
            )
        return document, len(read.passages)

    async def documents(self, tenant_id: uuid.UUID) -> list[DocumentSummary]:
        async with self.db.tenant(tenant_id) as session:
            return await list_documents(session)

    async def remove(
        self, *, tenant_id: uuid.UUID, actor: Actor, reference: str, is_admin: bool
    ) -> PolicyDocument:
        if not is_admin:
            raise Forbidden(ADMINS_ONLY)
        async with self.db.tenant(tenant_id) as session:
            return await remove_document(session, actor=actor, reference=reference)

    async def search(self, tenant_id: uuid.UUID, question: str, *, limit: int = 5) -> list[PassageHit]:
        query = await self.embedder.embed_question(question) if self.embedder else None
        async with self.db.tenant(tenant_id) as session:
            return await search_passages(session, question=question, limit=limit, query=query)

    async def answer_material(self, tenant_id: uuid.UUID, question: str) -> str:
        """What the search_policy tool returns: cited passages, or that there is no document."""
        hits = await self.search(tenant_id, question)
        if hits:
            return (
                "Passages of the company's travel policy (quote them and cite the bracketed reference):\n\n"
                + describe_hits(hits)
            )
        if not await self.documents(tenant_id):
            return NO_DOCUMENT
        return "No passage of the company's travel policy mentions that."
