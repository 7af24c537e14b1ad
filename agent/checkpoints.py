"""LangGraph checkpoints in the product's PostgreSQL: table set-up as the owner, a pooled saver for the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg import Connection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from storage.database import libpq_url


def setup_checkpoint_tables(owner_url: str) -> None:
    """Create or migrate LangGraph's tables as the owner; default privileges give the app role access."""
    with Connection.connect(
        libpq_url(owner_url), autocommit=True, prepare_threshold=None, row_factory=dict_row
    ) as connection:
        PostgresSaver(connection).setup()


@asynccontextmanager
async def checkpoint_saver(database_url: str, *, max_size: int = 10) -> AsyncIterator[AsyncPostgresSaver]:
    """A saver on its own pool (autocommit, dict rows, no prepared statements so PgBouncer works)."""
    kwargs: dict[str, Any] = {"autocommit": True, "row_factory": dict_row, "prepare_threshold": None}
    async with AsyncConnectionPool(
        libpq_url(database_url), min_size=1, max_size=max_size, kwargs=kwargs, open=False
    ) as pool:
        yield AsyncPostgresSaver(pool)  # type: ignore[arg-type]
