"""`travelmate serve` and `travelmate worker` as real processes on one PostgreSQL and one Redis, as deployed."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from storage.embedded import EmbeddedUrls
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.slack_api import SIGNING_SECRET, FakeSlack


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Replica:
    """One process of the deployment, with its log."""

    kind: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL: no shutdown, work in progress is simply gone."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Deployment:
    """Serve replicas behind no load balancer (the driver picks one per request) and workers."""

    serve: list[Replica] = field(default_factory=list)
    workers: list[Replica] = field(default_factory=list)

    def any_serve(self) -> Replica:
        return random.choice([r for r in self.serve if r.alive])


def environment(
    embedded: EmbeddedUrls, fake: FakeSlack, model: ScriptedModel, bot_token: str, **extra: str
) -> dict[str, str]:
    """One configuration shared by every replica, as a deployment's would be."""
    return {
        **os.environ,
        "DATABASE_URL": embedded.app_database_url,
        "DATABASE_OWNER_URL": embedded.owner_database_url,
        "REDIS_URL": embedded.redis_url,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.base_url,
        "SLACK_BOT_TOKEN": bot_token,
        "TRAVELMATE_MODEL": "scripted-model",
        "OPENAI_API_KEY": "test",
        "OPENAI_BASE_URL": model.base_url,
        "TRAVELMATE_MODEL_MAX_RETRIES": "0",
        "TRAVELMATE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "TRAVELMATE_REMINDER_LIVE_INFO": "false",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def _start(kind: str, args: list[str], env: Mapping[str, str], log_path: Path, port: int | None) -> Replica:
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", *args], env=dict(env), stdout=log, stderr=subprocess.STDOUT
    )
    return Replica(kind, process, log_path, port)


def _wait_healthy(replica: Replica, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not replica.alive:
            raise RuntimeError(f"serve exited early:\n{replica.log()}")
        try:
            if httpx.get(f"{replica.url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"serve did not become healthy:\n{replica.log()}")


@contextmanager
def deployment(env: Mapping[str, str], logs: Path, *, serve: int, workers: int = 0) -> Iterator[Deployment]:
    """Start the processes, wait until every serve answers /healthz, stop them all afterwards."""
    running = Deployment()
    try:
        for n in range(serve):
            port = free_port()
            replica = _start(
                "serve",
                ["serve", "--host", "127.0.0.1", "--port", str(port)],
                env,
                logs / f"serve{n}.log",
                port,
            )
            running.serve.append(replica)
        for n in range(workers):
            running.workers.append(_start("worker", ["worker"], env, logs / f"worker{n}.log", None))
        for replica in running.serve:
            _wait_healthy(replica)
        yield running
    finally:
        for replica in [*running.serve, *running.workers]:
            replica.stop()
