"""Embeddings from the same OpenAI-compatible server as the chat model (`/v1/embeddings`), when configured."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
import openai
from langchain_openai import OpenAIEmbeddings
from pydantic import SecretStr

from storage.database import Database
from storage.errors import InvalidInput
from storage.policy_documents import Embedding
from storage.settings import Settings
from storage.vectors import EmbeddedTable, rows_to_embed, store_embeddings

log = logging.getLogger(__name__)

EMBEDDING_FAULTS = (openai.APIError, httpx.HTTPError)
EMBEDDING_UNAVAILABLE = "The embedding model is unavailable right now. Nothing was changed; please try again."


@dataclass(frozen=True)
class Embedder:
    """One embedding model of a known dimension; every vector it returns is labelled with the model."""

    model: str
    dimensions: int
    client: OpenAIEmbeddings

    async def embed_passages(self, texts: Sequence[str]) -> list[Embedding]:
        """Embeddings of `texts`, in order; a server fault becomes one sentence."""
        if not texts:
            return []
        try:
            vectors = await self.client.aembed_documents(list(texts))
        except EMBEDDING_FAULTS as error:
            log.warning("embedding request failed: %s", type(error).__name__)
            raise InvalidInput(EMBEDDING_UNAVAILABLE) from None
        return [self._labelled(vector) for vector in vectors]

    async def embed_question(self, text: str) -> Embedding:
        return (await self.embed_passages([text]))[0]

    def _labelled(self, vector: Sequence[float]) -> Embedding:
        if len(vector) != self.dimensions:
            raise InvalidInput(
                f"The embedding model {self.model} returned {len(vector)} dimensions, but "
                f"TRAVELMATE_EMBEDDING_DIMENSIONS is {self.dimensions}. Set it to {len(vector)} and run "
                "`travelmate policy reindex`."
            )
        return Embedding(model=self.model, vector=vector)


def build_embedder(settings: Settings) -> Embedder | None:
    """The configured embedding model, or None: search is then full-text only."""
    if not settings.embedding_model:
        return None
    model = settings.embedding_model
    client = OpenAIEmbeddings(
        model=model,
        openai_api_key=settings.openai_api_key or SecretStr("not-needed"),
        openai_api_base=settings.openai_base_url,
        # Only OpenAI's text-embedding-3 models shorten vectors on request; other servers reject the field.
        dimensions=settings.embedding_dimensions if model.startswith("text-embedding-3") else None,
        # Compatible servers take plain strings; tiktoken token ids are OpenAI's own.
        check_embedding_ctx_length=False,
        max_retries=settings.model_max_retries,
        request_timeout=settings.model_timeout_seconds,
    )
    return Embedder(model=model, dimensions=settings.embedding_dimensions, client=client)


REEMBED_BATCH = 64


async def reembed(
    db: Database,
    embedder: Embedder,
    table: EmbeddedTable,
    *,
    tenant_id: uuid.UUID,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Embed every row of the tenant's `table` that lacks an embedding of the embedder's model; how many."""
    done = 0
    while True:
        async with db.tenant(tenant_id) as session:
            batch = await rows_to_embed(
                session, table, model=embedder.model, dimensions=embedder.dimensions, limit=REEMBED_BATCH
            )
            if not batch:
                return done
            embeddings = await embedder.embed_passages([table.text(row) for row in batch])
            await store_embeddings(session, table, batch, embeddings)
        done += len(batch)
        if progress is not None:
            progress(len(batch))
