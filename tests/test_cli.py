"""The `travelmate` command on a fresh machine: help everywhere, and operator commands on the embedded default."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.data_dirs import fresh_data_dir, fresh_machine_env

TRAVELMATE = (
    [sys.executable, "-m", "bot"] if not os.environ.get("TRAVELMATE_BIN") else [os.environ["TRAVELMATE_BIN"]]
)


@pytest.fixture(scope="module")
def fresh_machine() -> Iterator[dict[str, str]]:
    """An environment with nothing of the product set, and an empty data directory (removed afterwards)."""
    with fresh_data_dir("travelmate-cli-") as data_dir:
        yield fresh_machine_env(data_dir)


def travelmate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRAVELMATE, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def command_paths() -> list[list[str]]:
    from typer.main import get_command

    from bot.cli import app

    root = get_command(app)
    paths: list[list[str]] = [[]]

    def walk(command: object, prefix: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            paths.append([*prefix, name])
            walk(sub, [*prefix, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "travelmate")
def test_every_command_has_help(path: list[str]) -> None:
    result = travelmate(*path, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout and "--help" in result.stdout


def test_operator_commands_work_on_a_fresh_machine(fresh_machine: dict[str, str]) -> None:
    upgraded = travelmate("db", "upgrade", env=fresh_machine)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "The database schema is up to date." in upgraded.stdout

    created = travelmate("tenant", "create", "Acme", "--admin-name", "Ada Admin", env=fresh_machine)
    assert created.returncode == 0, created.stderr
    assert "Created tenant Acme" in created.stdout and "Added admin Ada Admin" in created.stdout

    again = travelmate("tenant", "create", "acme", env=fresh_machine)
    assert again.returncode == 1
    assert "A tenant named 'acme' already exists." in again.stderr

    added = travelmate(
        "user",
        "add",
        "--tenant",
        "Acme",
        "--name",
        "Tom",
        "--email",
        "tom@acme.test",
        "--timezone",
        "Asia/Tokyo",
        env=fresh_machine,
    )
    assert added.returncode == 0, added.stderr
    assert "Added traveler Tom to Acme" in added.stdout

    wrong = travelmate(
        "user", "add", "--tenant", "Acme", "--name", "Zed", "--timezone", "Mars/Olympus", env=fresh_machine
    )
    assert wrong.returncode == 1
    assert "'Mars/Olympus' is not an IANA time zone" in wrong.stderr

    invited = travelmate(
        "invite", "create", "--tenant", "Acme", "--email", "tom@acme.test", env=fresh_machine
    )
    assert invited.returncode == 0, invited.stderr
    assert "usable once" in invited.stdout and "/start " in invited.stdout
    linked = travelmate(
        "invite",
        "create",
        "--tenant",
        "Acme",
        "--email",
        "tom@acme.test",
        env={**fresh_machine, "TELEGRAM_BOT_USERNAME": "AcmeTravelBot"},
    )
    assert linked.returncode == 0, linked.stderr
    assert re.search(r"t\.me/AcmeTravelBot\?start=[A-Za-z0-9_-]+", linked.stdout), linked.stdout
    unknown = travelmate(
        "invite", "create", "--tenant", "Acme", "--email", "nobody@acme.test", env=fresh_machine
    )
    assert unknown.returncode == 1 and "No user with the email nobody@acme.test in Acme" in unknown.stderr

    exported = travelmate(
        "tenant",
        "export",
        "Acme",
        "--output",
        str(Path(env_dir(fresh_machine)) / "acme.zip"),
        env=fresh_machine,
    )
    assert exported.returncode == 0, exported.stderr
    assert "Exported" in exported.stdout and "rows of Acme" in exported.stdout
    with zipfile.ZipFile(Path(env_dir(fresh_machine)) / "acme.zip") as bundle:
        users = json.loads(bundle.read("users.tenant_users.json"))
    assert sorted(u["display_name"] for u in users) == ["Ada Admin", "Tom"]

    listed = travelmate("tenant", "list", env=fresh_machine)
    assert listed.returncode == 0, listed.stderr
    assert "Acme" in listed.stdout and "│ 2 " in listed.stdout


def test_key_rotation_explains_a_missing_key_and_runs_with_one(fresh_machine: dict[str, str]) -> None:
    missing = travelmate("keys", "rotate", env=fresh_machine)
    assert missing.returncode == 1 and "need TRAVELMATE_ENCRYPTION_KEY" in missing.stderr
    key = "0" * 43 + "="
    rotated = travelmate("keys", "rotate", env={**fresh_machine, "TRAVELMATE_ENCRYPTION_KEY": key})
    assert rotated.returncode == 0, rotated.stderr
    assert "Re-sealed 0 Slack installations" in rotated.stdout


def env_dir(env: dict[str, str]) -> str:
    return env["TRAVELMATE_DATA_DIR"]


def test_tenant_delete_needs_confirmation_and_removes_everything(fresh_machine: dict[str, str]) -> None:
    assert (
        travelmate("tenant", "create", "Initech", "--admin-name", "Peter", env=fresh_machine).returncode == 0
    )
    refused = travelmate("tenant", "delete", "Initech", env=fresh_machine)
    assert refused.returncode == 1 and "Add --yes" in refused.stderr
    deleted = travelmate("tenant", "delete", "Initech", "--yes", env=fresh_machine)
    assert deleted.returncode == 0, deleted.stderr
    assert "Deleted tenant Initech" in deleted.stdout
    assert "Initech" not in travelmate("tenant", "list", env=fresh_machine).stdout


def test_db_upgrade_against_configured_urls_needs_the_owner_role(fresh_machine: dict[str, str]) -> None:
    env = {**fresh_machine, "DATABASE_URL": "postgresql://travelmate_app@/travelmate?host=/nonexistent"}
    result = travelmate("db", "upgrade", env=env)
    assert result.returncode == 1
    assert "set DATABASE_OWNER_URL" in result.stderr
