"""Engines and tenant-scoped sessions: every transaction binds its tenant with set_config(..., true)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction

_BIND_TENANT = text("SELECT set_config('app.tenant_id', :tenant, true)")


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy form (psycopg 3 driver) of a PostgreSQL URL."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('://', 1)[0]}://...")


def libpq_url(url: str) -> str:
    """The plain libpq form of a PostgreSQL URL, for psycopg itself (checkpoints, bootstrap)."""
    return "postgresql://" + sqlalchemy_url(url)[len("postgresql+psycopg://") :]


class TenantSession(Session):
    """A session whose every transaction starts by binding `info['tenant_id']` (or no tenant at all)."""


@event.listens_for(TenantSession, "after_begin")
def _bind_tenant(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    tenant = session.info.get("tenant_id")
    # Binding '' when there is no tenant makes the RLS policies see NULL: the session sees nothing.
    connection.execute(_BIND_TENANT, {"tenant": str(tenant) if tenant else ""})


class Database:
    """One engine and the tenant-scoped unit of work built on it."""

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10, echo: bool = False) -> None:
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
        await self.engine.dispose()

    async def scalar(self, statement: str, **params: Any) -> Any:
        """One value from a statement run outside any tenant (catalog queries, health checks)."""
        async with self.unscoped() as session:
            return (await session.execute(text(statement), params)).scalar()
