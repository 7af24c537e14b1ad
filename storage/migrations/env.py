"""Alembic environment: runs migrations on the connection `travelmate db upgrade` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from storage.database import sqlalchemy_url

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(
        sqlalchemy_url(config.get_main_option("sqlalchemy.url") or ""), poolclass=pool.NullPool
    )
    with engine.connect() as conn:
        context.configure(connection=conn, transactional_ddl=True)
        with context.begin_transaction():
            context.run_migrations()
