"""The company's travel-policy documents and their passages: stored, listed, removed and re-embedded."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import (
    CHAR,
    BigInteger,
    Computed,
    DateTime,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.audit import Actor, record_audit
from storage.errors import Conflict, NotFound
from storage.models import Base, of_tenant
from storage.sessions import current_tenant

# Embedding sizes that migration 0013 indexes (MiniLM, nomic/bge-base, bge-large/mxbai, text-embedding-3-small);
# `travelmate policy reindex` adds the index for any other dimension.
INDEXED_DIMENSIONS = (384, 768, 1024, 1536)


class PolicyDocument(Base):
    """One travel-policy document a tenant's admin added."""

    __tablename__ = "policy_documents"
    __table_args__ = (
        of_tenant(),
        ForeignKeyConstraint(
            ["tenant_id", "added_by"],
            ["users.tenant_users.tenant_id", "users.tenant_users.user_id"],
            ondelete="SET NULL (added_by)",  # the document stays when its admin is erased
        ),
        UniqueConstraint("tenant_id", "sha256"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(300))
    media_type: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(CHAR(64))
    pages: Mapped[int | None] = mapped_column(Integer)
    added_by: Mapped[uuid.UUID | None] = mapped_column()
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# The generated tsvector: the heading path weighs more than the body (the migration is the source of truth).
SEARCH_TEXT = (
    "setweight(to_tsvector('english', heading_path), 'A') || setweight(to_tsvector('english', body), 'B')"
)


class PolicyPassage(Base):
    """A passage of a policy document with its heading path ("4 Hotels > 4.2 Caps")."""

    __tablename__ = "policy_passages"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "document_id"],
            ["policy_documents.tenant_id", "policy_documents.document_id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("tenant_id", "document_id", "position"),
        Index("policy_passages_search", "search", postgresql_using="gin"),
        *(
            Index(
                f"policy_passages_embedding_{dimensions}",
                text(f"(embedding::vector({dimensions})) vector_cosine_ops"),
                postgresql_using="hnsw",
                postgresql_where=text(f"embedding_dimensions = {dimensions}"),
            )
            for dimensions in INDEXED_DIMENSIONS
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    passage_id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column()
    position: Mapped[int] = mapped_column(Integer)
    heading_path: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    search: Mapped[Any] = mapped_column(TSVECTOR, Computed(SEARCH_TEXT, persisted=True), deferred=True)
    embedding: Mapped[Any] = mapped_column(VECTOR(), nullable=True, deferred=True)
    embedding_model: Mapped[str | None] = mapped_column(String(200))
    embedding_dimensions: Mapped[int | None] = mapped_column(Integer)


@dataclass(frozen=True)
class Embedding:
    """A vector with the name of the model that made it; vectors of different models are never compared."""

    model: str
    vector: Sequence[float]

    @property
    def dimensions(self) -> int:
        return len(self.vector)

    def literal(self) -> str:
        """pgvector's text form, bound as a parameter and cast in SQL."""
        return "[" + ",".join(f"{value:.7g}" for value in self.vector) + "]"


@dataclass(frozen=True)
class PassageDraft:
    """A passage read from a document, before it is stored."""

    heading_path: str
    body: str


@dataclass(frozen=True)
class DocumentSummary:
    document_id: uuid.UUID
    title: str
    filename: str
    media_type: str
    pages: int | None
    passages: int
    added_at: dt.datetime


async def add_document(
    session: AsyncSession,
    *,
    actor: Actor,
    title: str,
    filename: str,
    media_type: str,
    sha256: str,
    pages: int | None,
    passages: Sequence[PassageDraft],
    embeddings: Sequence[Embedding] | None = None,
) -> PolicyDocument:
    """Store a document and its passages (with their embeddings, when there are any) in one transaction."""
    tenant = current_tenant(session)
    same = await session.scalar(select(PolicyDocument).where(PolicyDocument.sha256 == sha256))
    if same is not None:
        raise Conflict(f"That document is already added as '{same.title}' ({str(same.document_id)[:8]}).")
    document = PolicyDocument(
        tenant_id=tenant,
        document_id=uuid.uuid4(),
        title=title[:300],
        filename=filename[:300],
        media_type=media_type,
        sha256=sha256,
        pages=pages,
        added_by=actor.user_id,
    )
    session.add(document)
    await session.flush()
    for position, passage in enumerate(passages):
        embedding = embeddings[position] if embeddings else None
        session.add(
            PolicyPassage(
                tenant_id=tenant,
                document_id=document.document_id,
                position=position,
                heading_path=passage.heading_path,
                body=passage.body,
                embedding=list(embedding.vector) if embedding else None,
                embedding_model=embedding.model if embedding else None,
                embedding_dimensions=embedding.dimensions if embedding else None,
            )
        )
    await session.flush()
    await record_audit(
        session,
        actor=actor,
        action="policy_document.add",
        entity="policy_document",
        entity_id=str(document.document_id),
        details={"title": document.title, "passages": len(passages), "media_type": media_type},
    )
    return document


async def list_documents(session: AsyncSession) -> list[DocumentSummary]:
    """The tenant's policy documents, oldest first, with their number of passages."""
    counted = (
        select(PolicyPassage.document_id, func.count().label("passages"))
        .group_by(PolicyPassage.document_id)
        .subquery()
    )
    rows = await session.execute(
        select(PolicyDocument, func.coalesce(counted.c.passages, 0))
        .outerjoin(counted, counted.c.document_id == PolicyDocument.document_id)
        .order_by(PolicyDocument.added_at, PolicyDocument.title)
    )
    return [
        DocumentSummary(
            document_id=doc.document_id,
            title=doc.title,
            filename=doc.filename,
            media_type=doc.media_type,
            pages=doc.pages,
            passages=int(count),
            added_at=doc.added_at,
        )
        for doc, count in rows.all()
    ]


async def remove_document(session: AsyncSession, *, actor: Actor, reference: str) -> PolicyDocument:
    """Remove the document whose id starts with `reference` (the short id /policy list shows)."""
    prefix = reference.strip().lower()
    documents = (await session.scalars(select(PolicyDocument))).all()
    matches = [d for d in documents if prefix and str(d.document_id).startswith(prefix)]
    if len(matches) != 1:
        raise NotFound(f"No single policy document has the id {reference}; /policy list shows them.")
    document = matches[0]
    await session.execute(delete(PolicyDocument).where(PolicyDocument.document_id == document.document_id))
    await record_audit(
        session,
        actor=actor,
        action="policy_document.remove",
        entity="policy_document",
        entity_id=str(document.document_id),
        details={"title": document.title},
    )
    return document


async def ensure_vector_index(session: AsyncSession, *, dimensions: int) -> bool:
    """Create the partial HNSW index for a dimension the migration did not cover (owner role only).

    Returns whether an index had to be created. pgvector indexes `vector` up to 2,000 dimensions.
    """
    if not 1 <= dimensions <= 2000:
        return False
    name = f"policy_passages_embedding_{dimensions}"
    exists = await session.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name})
    if exists:
        return False
    await session.execute(
        text(
            f"CREATE INDEX {name} ON policy_passages USING hnsw ((embedding::vector({dimensions})) "
            f"vector_cosine_ops) WHERE embedding_dimensions = {dimensions}"
        )
    )
    return True
