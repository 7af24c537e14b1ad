"""README.md runs as written: every command of its bash blocks exits 0 in a fresh TRAVELMATE_DATA_DIR.

Commands run from a scratch directory that has the project's `.venv`, `tests`, `docs` and `bench` in it, as a
fresh clone after the set-up commands has, so files they write do not land in the checkout. Exports carry on
within a block, not into the next one. A command ending in `&` starts a server for the commands after it; it is
stopped when its block ends. The exclusions are named below with their reasons; the benchmarks are quoted
inline, not in bash blocks, because each takes minutes.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.data_dirs import fresh_data_dir, fresh_machine_env

ROOT = Path(__file__).resolve().parent.parent
SETUP_1 = 'python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && .venv/bin/travelmate chat'
SETUP_2 = 'python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && .venv/bin/pytest'
SKIPPED = {
    SETUP_1: "set-up command 1: it installs what this test already runs in, then opens an interactive chat",
    SETUP_2: "set-up command 2: it runs the whole test suite, this test included",
}
# Long-running servers: started as written, seen working, stopped with SIGTERM (exit 0 or 143 expected).
SERVE = ".venv/bin/travelmate serve"
WORKER = ".venv/bin/travelmate worker"
LONG_RUNNING = {
    SERVE: "serves until stopped: started, its /healthz answered, then stopped with SIGTERM",
    WORKER: "works until stopped: started, still running after 5 s, then stopped with SIGTERM",
}
COMMAND_TIMEOUT = 300


def bash_blocks(text: str) -> list[list[str]]:
    """The commands of each ```bash block: comments dropped, continued lines joined."""
    blocks = []
    for body in re.findall(r"^```bash\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        commands: list[str] = []
        pending = ""
        for line in body.splitlines():
            stripped = line.strip()
            if not pending and (not stripped or stripped.startswith("#")):
                continue
            pending += stripped.removesuffix("\\") + (" " if stripped.endswith("\\") else "")
            if not stripped.endswith("\\"):
                commands.append(re.sub(r"\s+#[^'\"]*$", "", pending).strip())
                pending = ""
        blocks.append(commands)
    return blocks


@pytest.fixture
def scratch() -> Iterator[tuple[Path, dict[str, str]]]:
    """A working directory laid out like a fresh clone after set-up, and an environment on a fresh data dir."""
    with fresh_data_dir("travelmate-readme-") as data_dir:
        work = data_dir / "work"
        work.mkdir()
        (work / ".venv").symlink_to(Path(sys.prefix))
        for name in ("tests", "docs", "bench"):
            (work / name).symlink_to(ROOT / name)
        env = fresh_machine_env(data_dir)
        env.update(COLUMNS="120", PORT=str(free_port()))
        # One process keeps the embedded servers up, as an open console would; each command joins them.
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; from storage.embedded import start_embedded; "
                "start_embedded(Path(sys.argv[1])); print('ready', flush=True); sys.stdin.read()",
                str(data_dir),
            ],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"ready"
        try:
            yield work, env
        finally:
            assert holder.stdin is not None
            holder.stdin.close()  # its exit handlers stop the servers
            holder.wait(timeout=60)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def in_block_shell(command: str, state: Path) -> list[str]:
    """bash running `command` with the block's exports so far, saving them again afterwards."""
    return ["bash", "-c", f"set -eo pipefail; source {state}; {command}\nexport -p > {state}"]


def test_readme_has_the_commands_this_test_treats_specially() -> None:
    commands = [command for block in bash_blocks((ROOT / "README.md").read_text()) for command in block]
    for command in [*SKIPPED, *LONG_RUNNING]:
        assert command in commands, f"README no longer has {command!r}; update this test's exclusions"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_readme_command_runs_as_written(scratch: tuple[Path, dict[str, str]]) -> None:
    work, env = scratch
    ran: list[str] = []
    for index, block in enumerate(bash_blocks((ROOT / "README.md").read_text())):
        state = work / f".block-{index}.env"
        state.write_text("")
        background: list[subprocess.Popen[bytes]] = []
        try:
            for command in block:
                if command in SKIPPED:
                    continue
                if command in LONG_RUNNING:
                    run_long_running(command, work, env)
                elif command.endswith("&"):
                    background.append(
                        start_in_background(command.removesuffix("&").strip(), work, env, state)
                    )
                else:
                    result = subprocess.run(
                        in_block_shell(command, state),
                        cwd=work,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        capture_output=True,
                        timeout=COMMAND_TIMEOUT,
                        check=False,
                    )
                    assert result.returncode == 0, (
                        f"README command failed ({result.returncode}): {command}\n"
                        f"{result.stdout.decode()[-2000:]}\n{result.stderr.decode()[-3000:]}"
                    )
                ran.append(command)
        finally:
            for process in background:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
    assert len(ran) >= 18  # everything but the set-up commands ran
    berlin = (work / "berlin.ics").read_bytes()
    assert (
        berlin.startswith(b"BEGIN:VCALENDAR") and b"Client workshop" in berlin
    )  # the scripted trip was booked


def start_in_background(
    command: str, work: Path, env: dict[str, str], state: Path
) -> subprocess.Popen[bytes]:
    """A server the next commands talk to; ready once it has printed its first line."""
    process = subprocess.Popen(
        in_block_shell(command, state),
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        start_new_session=True,  # its own process group, stopped as a whole
    )
    assert process.stdout is not None
    assert process.stdout.readline(), f"{command} ended without a word"
    return process


def run_long_running(command: str, work: Path, env: dict[str, str]) -> None:
    log = work / "long-running.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        if command == SERVE:
            wait_for_health(f"http://127.0.0.1:{env['PORT']}/healthz", process, log)
        else:
            time.sleep(5)
            assert process.poll() is None, f"{command} stopped by itself:\n{log.read_text()}"
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=30)
    assert status in (0, 128 + signal.SIGTERM, -signal.SIGTERM), (
        f"{command} exited {status}:\n{log.read_text()}"
    )
    assert "Traceback" not in log.read_text()


def wait_for_health(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve ended early:\n{log.read_text()}"
        try:
            if httpx.get(url, timeout=2).json()["status"] == "ok":
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} never answered:\n{log.read_text()}")
