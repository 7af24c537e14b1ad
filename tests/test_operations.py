"""Processes under an operator's hand: signals stop the embedded servers, bad settings fail fast and clearly."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.data_dirs import fresh_data_dir, fresh_machine_env, server_pids, wait_until_stopped

TRAVELMATE = [sys.executable, "-m", "bot"]


@pytest.fixture
def machine() -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh data directory and an environment with nothing of the product set."""
    with fresh_data_dir("travelmate-ops-") as data_dir:
        yield data_dir, fresh_machine_env(data_dir)


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [*TRAVELMATE, *args], env=env, stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT
        )


def wait_for(log: Path, text: str, process: subprocess.Popen[bytes], *, seconds: float = 120) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        shown = log.read_text(errors="replace")
        if text in shown:
            return shown
        assert process.poll() is None, f"the process ended early:\n{shown}"
        time.sleep(0.2)
    raise AssertionError(f"{text!r} did not appear:\n{log.read_text(errors='replace')}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_serve_reports_its_channels_binds_localhost_and_sigterm_stops_the_servers(
    machine: tuple[Path, dict[str, str]],
) -> None:
    data_dir, env = machine
    port = free_port()
    log = data_dir / "serve.log"
    serve = start(["serve", "--port", str(port)], env, log)
    shown = wait_for(log, f"Uvicorn running on http://127.0.0.1:{port}", serve)
    assert "Slack: off — set SLACK_SIGNING_SECRET" in shown
    assert "Telegram: off — set TELEGRAM_BOT_TOKEN" in shown
    assert "Chat model: off — slash commands only" in shown
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok", "channels": []}
    servers = server_pids(data_dir)
    assert set(servers) == {"postgres", "redis"}

    serve.send_signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    serve.wait(timeout=10)
    assert wait_until_stopped(servers, seconds=10 - (time.monotonic() - stopped_at)) == {}


@pytest.mark.slow
def test_the_last_live_console_out_stops_the_servers_even_after_one_was_killed(
    machine: tuple[Path, dict[str, str]],
) -> None:
    data_dir, env = machine
    first = start(["chat"], env, data_dir / "first.log")
    wait_for(data_dir / "first.log", "you ›", first)
    servers = server_pids(data_dir)
    assert set(servers) == {"postgres", "redis"}
    first.kill()  # SIGKILL: no exit handler runs, its pid stays in the handle files
    first.wait()
    assert server_pids(data_dir) == servers

    clean = subprocess.run(
        [*TRAVELMATE, "chat"], env=env, input=b"/quit\n", capture_output=True, timeout=120, check=False
    )
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.decode().rstrip().endswith("Goodbye.")
    assert wait_until_stopped(servers, seconds=10) == {}

    # A terminal that closes sends SIGHUP: that console stops the servers too.
    closed = start(["chat"], env, data_dir / "closed.log")
    wait_for(data_dir / "closed.log", "you ›", closed)
    servers = server_pids(data_dir)
    closed.send_signal(signal.SIGHUP)
    closed.wait(timeout=10)
    assert wait_until_stopped(servers, seconds=10) == {}


def test_invalid_serve_settings_exit_non_zero_within_five_seconds_every_time(
    machine: tuple[Path, dict[str, str]],
) -> None:
    data_dir, env = machine
    env = {
        **env,
        "TELEGRAM_BOT_TOKEN": "123456:ABC-token",
        "TELEGRAM_WEBHOOK_URL": "https://travel.example.com/telegram/webhook",
    }
    for _ in range(3):
        began = time.monotonic()
        result = subprocess.run(
            [*TRAVELMATE, "serve"], env=env, capture_output=True, text=True, timeout=30, check=False
        )
        assert time.monotonic() - began < 5
        assert result.returncode == 1
        assert "TELEGRAM_WEBHOOK_URL is set but TELEGRAM_WEBHOOK_SECRET is not" in result.stderr
        assert "Traceback" not in result.stderr
    assert server_pids(data_dir) == {}  # refused before anything started


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (
            ["tenant", "create", "Acme", "--timezone", "Mars/Olympus"],
            "'Mars/Olympus' is not an IANA time zone",
        ),
        (["tenant", "create", "Acme", "--admin-email", "ada@acme.test"], "--admin-email needs --admin-name"),
        (
            ["tenant", "create", "Acme", "--admin-name", "Ada", "--admin-email", "not-an-email"],
            "email: String should match pattern",
        ),
        (["user", "add", "--tenant", "Acme", "--name", "Zed", "--role", "pilot"], "role: Input should be"),
        (["tenant", "create", "   "], "The company name is not valid"),
    ],
    ids=["timezone", "email-without-admin", "email", "role", "name"],
)
def test_operator_options_are_refused_with_a_sentence_before_anything_starts(
    machine: tuple[Path, dict[str, str]], args: list[str], sentence: str
) -> None:
    data_dir, env = machine
    result = subprocess.run(
        [*TRAVELMATE, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert sentence in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert not (data_dir / "postgres").exists()  # nothing was started for a command that cannot run
