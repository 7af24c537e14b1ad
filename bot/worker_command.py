"""`travelmate worker`: the arq worker on the configured Redis and PostgreSQL, or the embedded ones."""

from __future__ import annotations

import logging
import time
from typing import Annotated

import typer

log = logging.getLogger(__name__)
PAUSE = 5  # seconds before the worker polls again after Redis went away for longer than its retries


def worker(
    burst: Annotated[
        bool, typer.Option(help="Stop once the queue is empty (for scripts and checks).")
    ] = False,
    job_log: Annotated[bool, typer.Option(help="Log every job start and end (arq's own lines).")] = False,
) -> None:
    """Deliver reminders, restore lost reminder jobs every minute, and move ended trips into the history."""
    from arq.worker import create_worker
    from redis.exceptions import RedisError

    from bot.cli import endpoints, err, refuse_a_key_that_cannot_open_the_data
    from bot.worker import WorkerSettings, redis_settings
    from storage.errors import DomainError
    from storage.settings import get_settings

    try:
        where = endpoints(redis=True)
    except DomainError as error:
        err.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from None
    if not job_log:
        # Two lines per reminder at INFO drown everything else when thousands fall due at 09:00.
        logging.getLogger("arq.worker").setLevel(logging.WARNING)
    database_url = where.worker_url or where.database_url
    refuse_a_key_that_cannot_open_the_data(database_url)
    ctx: dict[str, object] = {"database_url": database_url}
    settings = get_settings()
    if settings.slack_client_id and settings.slack_client_secret:
        # Multi-workspace installs: each reminder uses its own workspace's bot token.
        from bot.slack.tokens import slack_token_lookup
        from storage.database import Database

        ctx["slack_tokens"] = slack_token_lookup(settings, db=Database(database_url, pool_size=2))
    while True:
        arq_worker = create_worker(
            WorkerSettings,
            redis_settings=redis_settings(where.redis_url),
            ctx=ctx,
            **({"burst": True} if burst else {}),
        )
        try:
            arq_worker.run()
            return
        except (RedisError, OSError) as error:
            # Redis stayed away longer than the commands retry: wait, and start polling again. Jobs are
            # not lost: arq re-runs unfinished ones, and the sweeper re-queues due reminders from PostgreSQL.
            if burst:
                raise
            log.warning("Redis is unreachable (%s); the worker goes on in %s s", type(error).__name__, PAUSE)
            time.sleep(PAUSE)


def register_worker(app: typer.Typer) -> None:
    app.command("worker")(worker)
