"""Throwaway TRAVELMATE_DATA_DIRs for tests that run `travelmate` processes: made empty, removed afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from storage.embedded import pid_alive

# Settings a fresh machine does not have; tests that run the CLI start from an environment without them.
PRODUCT_SETTINGS = (
    "DATABASE_URL",
    "DATABASE_OWNER_URL",
    "DATABASE_WORKER_URL",
    "REDIS_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "TRAVELMATE_MODEL",
    "SLACK_SIGNING_SECRET",
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_URL",
    "TELEGRAM_WEBHOOK_SECRET",
    "TELEGRAM_BOT_USERNAME",
)


def server_pids(data_dir: Path) -> dict[str, int]:
    """The embedded PostgreSQL and Redis running under `data_dir`, by name, with their pids."""
    found: dict[str, int] = {}
    for name, pidfile in (
        ("postgres", data_dir / "postgres" / "postmaster.pid"),
        ("redis", data_dir / "redis" / "redis.pid"),
    ):
        try:
            pid = int(pidfile.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            continue
        if pid_alive(pid):
            found[name] = pid
    return found


def wait_until_stopped(pids: dict[str, int], *, seconds: float) -> dict[str, int]:
    """Wait up to `seconds` for the processes to end; those still running."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = {name: pid for name, pid in pids.items() if pid_alive(pid)}
        if not left:
            return {}
        time.sleep(0.1)
    return {name: pid for name, pid in pids.items() if pid_alive(pid)}


@contextlib.contextmanager
def fresh_data_dir(prefix: str = "travelmate-test-") -> Iterator[Path]:
    """An empty data directory; afterwards, servers a failed test left running are stopped and it is removed."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    data_dir.chmod(0o755)  # the embedded PostgreSQL runs as its own system user when tests run as root
    try:
        yield data_dir
    finally:
        left = server_pids(data_dir)
        for name, pid in left.items():
            # PostgreSQL's fast shutdown is SIGINT; Redis saves and stops on SIGTERM.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT if name == "postgres" else signal.SIGTERM)
        wait_until_stopped(left, seconds=15)
        shutil.rmtree(data_dir, ignore_errors=True)


def fresh_machine_env(data_dir: Path) -> dict[str, str]:
    """This process's environment without any product setting, pointed at `data_dir`."""
    env = {key: value for key, value in os.environ.items() if key not in PRODUCT_SETTINGS}
    env["TRAVELMATE_DATA_DIR"] = str(data_dir)
    return env
