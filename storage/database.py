"""Engines and tenant-scoped units of work: every transaction binds its tenant with set_config(..., true).

Two ways in. `Database.tenant()` is a SQLAlchemy session, what the domain services use. `TenantStatements`
runs a batch of raw statements in one pipelined round trip (BEGIN, the tenant binding, the statements,
COMMIT answered together), for the few statements every conversation turn runs: a session costs about
0.8 ms of Python per transaction, the batch a fifth of that. The rules are the same for both: the tenant is
bound as a parameter, transaction-local, first in the transaction, and row-level security applies because
both log in as the application role.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction

_BIND_TENANT = text("SELECT set_config('app.tenant_id', :tenant, true)")
_BIND_TENANT_RAW = "SELECT set_config('app.tenant_id', %s, true)"


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy form (psycopg 3 driver) of a PostgreSQL URL."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('://', 1)[0]}://...")


def libpq_url(url: str) -> str:
    """The plain libpq form of a PostgreSQL URL, for psycopg itself (checkpoints, bootstrap)."""
    return "postgresql://" + sqlalchemy_url(url)[len("postgresql+psycopg://") :]


@dataclass(frozen=True)
class Statement:
    """One SQL statement in psycopg's `%(name)s` style, with its parameters."""

    sql: str
    params: dict[str, Any] | Sequence[Any] = ()


class TenantStatements:
    """A small pool of autocommit psycopg connections that runs statement batches inside one tenant."""

    def __init__(self, database_url: str, *, max_size: int = 10) -> None:
        # prepare_threshold=None keeps every connection usable behind PgBouncer in transaction mode.
        # Each connection is checked as it is handed out, so after a PostgreSQL restart the dead ones are
        # replaced instead of failing the next turns.
        self.pool: AsyncConnectionPool[AsyncConnection[tuple[Any, ...]]] = AsyncConnectionPool(
            libpq_url(database_url),
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "prepare_threshold": None, "options": "-c timezone=UTC"},
            check=AsyncConnectionPool.check_connection,
            open=False,
        )
        self._opening = asyncio.Lock()

    async def open(self) -> None:
        async with self._opening:
            if self.pool.closed:
                await self.pool.open()

    async def close(self) -> None:
        await self.pool.close()

    async def run(self, tenant_id: uuid.UUID | None, *statements: Statement) -> list[list[tuple[Any, ...]]]:
        """Run `statements` in one transaction bound to `tenant_id`; the rows of each, in order.

        With no tenant, the transaction sees no tenant row (for the few tables that hold none).
        Any error rolls the whole batch back (the pool resets a connection returned mid-transaction).
        """
        if self.pool.closed:
            await self.open()
        async with self.pool.connection() as connection, connection.pipeline():
            await connection.execute("BEGIN")
            await connection.execute(_BIND_TENANT_RAW, (str(tenant_id) if tenant_id else "",))
            cursors = [await connection.execute(s.sql, s.params) for s in statements]
            await connection.execute("COMMIT")
        # A statement without rows (an INSERT with no RETURNING) has no description.
        return [await cursor.fetchall() if cursor.description else [] for cursor in cursors]


class TenantSession(Session):
    """A session whose every transaction starts by binding `info['tenant_id']` (or no tenant at all)."""


@event.listens_for(TenantSession, "after_begin")
def _bind_tenant(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    tenant = session.info.get("tenant_id")
    # Binding '' when there is no tenant makes the RLS policies see NULL: the session sees nothing.
    connection.execute(_BIND_TENANT, {"tenant": str(tenant) if tenant else ""})


DEFAULT_CONNECTIONS = 20


class Database:
    """One engine and the tenant-scoped unit of work built on it.

    A process has one connection budget (`TRAVELMATE_DB_CONNECTIONS`, see `budgeted`): half for the
    SQLAlchemy sessions, half for the statement batches that conversation turns and checkpoints share.
    """

    @classmethod
    def budgeted(cls, url: str, connections: int = DEFAULT_CONNECTIONS) -> Database:
        """A database that never opens more than `connections` PostgreSQL connections."""
        sessions = max(1, connections // 2)
        return cls(url, pool_size=sessions, max_overflow=0, statements_size=max(1, connections - sessions))

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        statements_size: int | None = None,
        echo: bool = False,
    ) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            sqlalchemy_url(url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,
            echo=echo,
            # prepare_threshold=None keeps the connection usable behind PgBouncer in transaction mode.
            connect_args={"prepare_threshold": None, "options": "-c timezone=UTC"},
        )
        self.sessionmaker = async_sessionmaker(
            self.engine, class_=AsyncSession, sync_session_class=TenantSession, expire_on_commit=False
        )
        # Opened on first use, so building a Database stays synchronous.
        self.statements = TenantStatements(url, max_size=statements_size or pool_size)
        self.connections = pool_size + max_overflow + (statements_size or pool_size)

    @asynccontextmanager
    async def tenant(self, tenant_id: uuid.UUID | None) -> AsyncIterator[AsyncSession]:
        """One transaction inside `tenant_id`: committed on success, rolled back on any error."""
        async with self.sessionmaker() as session:
            session.info["tenant_id"] = tenant_id
            async with session.begin():
                yield session

    @asynccontextmanager
    async def unscoped(self) -> AsyncIterator[AsyncSession]:
        """A transaction bound to no tenant: under RLS it sees no tenant row (identity resolution only)."""
        async with self.tenant(None) as session:
            yield session

    async def dispose(self) -> None:
        await self.statements.close()
        await self.engine.dispose()

    async def scalar(self, statement: str, **params: Any) -> Any:
        """One value from a statement run outside any tenant (catalog queries, health checks)."""
        async with self.unscoped() as session:
            return (await session.execute(text(statement), params)).scalar()
