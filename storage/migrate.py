"""Programmatic Alembic upgrades, run as the owner role on behalf of the application role."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, make_url, pool

from storage.database import sqlalchemy_url

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


WORKER_ROLE = "travelmate_worker"


def alembic_config(*, app_role: str, worker_role: str = WORKER_ROLE) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["app_role"] = app_role
    config.attributes["worker_role"] = worker_role
    return config


def role_of(url: str) -> str:
    """The login role of a PostgreSQL URL."""
    username = make_url(sqlalchemy_url(url)).username
    if not username:
        raise ValueError("the database URL names no role; write postgresql://ROLE@HOST/DB")
    return username


def pending_revisions(owner_url: str, *, app_role: str) -> list[str]:
    """The revisions not yet applied to the database, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(app_role=app_role))
    engine = create_engine(sqlalchemy_url(owner_url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    engine.dispose()
    applied: set[str] = set()
    for head in current:
        applied.update(rev.revision for rev in script.iterate_revisions(head, "base"))
    return [rev.revision for rev in reversed(list(script.walk_revisions())) if rev.revision not in applied]


def upgrade(owner_url: str, *, app_url: str, worker_url: str | None = None) -> list[str]:
    """Apply every pending migration as the owner; grants go to the roles of `app_url` and `worker_url`
    (default `travelmate_worker`). Returns what ran."""
    app_role = role_of(app_url)
    worker_role = role_of(worker_url) if worker_url else WORKER_ROLE
    pending = pending_revisions(owner_url, app_role=app_role)
    if not pending:
        return []
    config = alembic_config(app_role=app_role, worker_role=worker_role)
    engine = create_engine(sqlalchemy_url(owner_url), poolclass=pool.NullPool)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
    engine.dispose()
    log.info("applied migrations %s", ", ".join(pending))
    return pending
