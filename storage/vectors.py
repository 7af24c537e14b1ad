"""Rows that carry an embedding (policy passages, travel memories): which lack the configured model's, and storing it.

An embedding is only ever compared with one of the same model and dimension, so after a change of model the
old vectors are dead weight until `travelmate policy reindex` replaces them; these statements find and replace
them a batch at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from storage.policy_documents import Embedding, PolicyPassage
from storage.travel_memory import TravelMemory


@dataclass(frozen=True)
class EmbeddedTable:
    """A table whose rows carry `embedding`, `embedding_model` and `embedding_dimensions`."""

    label: str  # what its rows are called in messages
    model: type[PolicyPassage] | type[TravelMemory]
    key: InstrumentedAttribute[int]
    text: Callable[[Any], str]  # what is embedded for a row

    def stale(self, *, model: str, dimensions: int) -> ColumnElement[bool]:
        return self.model.embedding_model.is_distinct_from(
            model
        ) | self.model.embedding_dimensions.is_distinct_from(dimensions)


PASSAGES = EmbeddedTable(
    "passages",
    PolicyPassage,
    PolicyPassage.passage_id,
    lambda passage: f"{passage.heading_path}\n{passage.body}",
)
MEMORIES = EmbeddedTable("memories", TravelMemory, TravelMemory.memory_id, lambda memory: memory.fact)
EMBEDDED_TABLES = (PASSAGES, MEMORIES)


async def rows_to_embed(
    session: AsyncSession, table: EmbeddedTable, *, model: str, dimensions: int, limit: int
) -> list[Any]:
    """Rows of the tenant without an embedding of `model` at `dimensions` (none yet, or another model's)."""
    statement = (
        select(table.model)
        .where(table.stale(model=model, dimensions=dimensions))
        .order_by(table.key)
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())


async def stale_counts(
    session: AsyncSession, table: EmbeddedTable, *, model: str, dimensions: int
) -> dict[uuid.UUID, int]:
    """Per tenant, the rows that need an embedding of `model` (as the owner, who sees every tenant)."""
    statement = (
        select(table.model.tenant_id, func.count())
        .where(table.stale(model=model, dimensions=dimensions))
        .group_by(table.model.tenant_id)
    )
    return {tenant_id: int(count) for tenant_id, count in (await session.execute(statement)).all()}


async def store_embeddings(
    session: AsyncSession, table: EmbeddedTable, rows: Sequence[Any], embeddings: Sequence[Embedding]
) -> None:
    """Replace the embeddings of `rows`, one for one."""
    for row, embedding in zip(rows, embeddings, strict=True):
        await session.execute(
            update(table.model)
            .where(table.model.tenant_id == row.tenant_id, table.key == getattr(row, table.key.key))
            .values(
                embedding=list(embedding.vector),
                embedding_model=embedding.model,
                embedding_dimensions=embedding.dimensions,
            )
        )
