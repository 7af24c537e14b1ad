"""Where the product's PostgreSQL and Redis are: the configured URLs, or the embedded servers started here."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from storage.embedded import start_embedded
from storage.errors import DomainError
from storage.migrate import upgrade
from storage.settings import Settings

log = logging.getLogger(__name__)


class SetupError(DomainError):
    """The process cannot reach or prepare its database."""


@dataclass(frozen=True)
class Endpoints:
    """The connection URLs one process uses."""

    database_url: str
    owner_url: str | None
    redis_url: str
    embedded: bool
    # The worker's role (the application role plus the functions that list tenants); None means DATABASE_URL.
    worker_url: str | None = None


def resolve_endpoints(settings: Settings, *, redis: bool = True) -> Endpoints:
    """Configured URLs win; what is unset is started from the embedded wheels under TRAVELMATE_DATA_DIR.

    The embedded start-up also applies pending migrations, so one command gives a working system.
    """
    embedded_postgres = settings.database_url is None
    embedded_redis = redis and settings.redis_url is None
    urls = None
    if embedded_postgres or embedded_redis:
        log.debug("using embedded servers under %s", settings.data_dir)
        urls = start_embedded(settings.data_dir, postgres=embedded_postgres, redis=embedded_redis)
    database_url = settings.database_url or (urls.app_database_url if urls else "")
    owner_url = settings.database_owner_url or (
        urls.owner_database_url if urls and embedded_postgres else None
    )
    redis_url = settings.redis_url or (urls.redis_url if urls and embedded_redis else "")
    worker_url = settings.database_worker_url or (
        urls.worker_database_url if urls and embedded_postgres else None
    )
    endpoints = Endpoints(
        database_url, owner_url, redis_url, embedded=embedded_postgres, worker_url=worker_url
    )
    if embedded_postgres:
        migrate(endpoints)
    return endpoints


def migrate(endpoints: Endpoints) -> list[str]:
    """Apply schema migrations (conversation checkpoints included), as the owner role."""
    if not endpoints.owner_url:
        raise SetupError(
            "Migrations run as the owner role: set DATABASE_OWNER_URL to a role that owns the schema "
            "(DATABASE_URL is the application role, which owns nothing)."
        )
    return upgrade(endpoints.owner_url, app_url=endpoints.database_url, worker_url=endpoints.worker_url)
