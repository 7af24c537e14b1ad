"""A key that cannot open the stored secrets stops `serve` and `worker` at start, with one sentence."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.secrets import SecretBox
from tests.conftest import Company

SEALED_WITH = Fernet.generate_key().decode()


def travelmate(*args: str, key: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "400"}
    env.pop("TRAVELMATE_ENCRYPTION_KEY", None)
    if key is not None:
        env["TRAVELMATE_ENCRYPTION_KEY"] = key
    if env.get("REDIS_URL"):  # a Redis database of its own: a burst worker ends when its queue is empty
        env["REDIS_URL"] += ("&" if "?" in env["REDIS_URL"] else "?") + "db=9"
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def store_an_installation(db: Database, company: Company) -> None:
    async with db.tenant(company.tenant_id) as session:
        await session.execute(
            text(
                "INSERT INTO slack_installations (tenant_id, team_id, installation_encrypted) "
                "VALUES (:t, 'T0KEYS', :sealed)"
            ),
            {"t": company.tenant_id, "sealed": SecretBox(SEALED_WITH).seal('{"bot_token": "xoxb-1"}')},
        )


@pytest.mark.slow
@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["worker", "--burst"]])
@pytest.mark.parametrize("key", [Fernet.generate_key().decode(), None], ids=["wrong key", "no key"])
async def test_a_key_that_cannot_open_the_stored_secrets_stops_the_process_with_one_sentence(
    db: Database, embedded: EmbeddedUrls, acme: Company, command: list[str], key: str | None
) -> None:
    await store_an_installation(db, acme)
    finished = travelmate(*command, key=key)
    assert finished.returncode != 0
    said = " ".join(finished.stderr.split())
    assert said.count("TRAVELMATE_ENCRYPTION_KEY") == 1 and said.count(". ") == 0 and said.endswith("."), said
    assert "Traceback" not in finished.stderr


@pytest.mark.slow
async def test_the_key_the_secrets_were_sealed_with_lets_the_worker_start(
    db: Database, embedded: EmbeddedUrls, acme: Company
) -> None:
    await store_an_installation(db, acme)
    finished = travelmate("worker", "--burst", key=f"{Fernet.generate_key().decode()},{SEALED_WITH}")
    assert finished.returncode == 0, finished.stderr
