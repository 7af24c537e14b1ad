"""`travelmate chat` in a real pseudo-terminal: line editing, history, Ctrl-C and Ctrl-D, and no log lines on screen."""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from storage.database import Database
from tests.fakes.scripted_model import ScriptedModel, hang, say

PROMPT = "you ›"
UP = "\x1b[A"
CTRL_C = "\x03"
CTRL_D = "\x04"


@pytest.fixture
def console_home() -> Iterator[Path]:
    """The console's own TRAVELMATE_DATA_DIR (history, log file); the database is the tests' shared one."""
    home = Path(tempfile.mkdtemp(prefix="travelmate-console-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


def spawn_chat(home: Path, model: ScriptedModel) -> pexpect.spawn:
    env = {
        **os.environ,
        "TRAVELMATE_DATA_DIR": str(home),
        "TRAVELMATE_MODEL": "scripted-model",
        "OPENAI_API_KEY": "test",
        "OPENAI_BASE_URL": model.base_url,
        "TERM": "xterm",
    }
    child = pexpect.spawn(
        sys.executable,
        ["-m", "bot", "chat"],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 160),
    )
    child.logfile_read = io.StringIO()  # everything the terminal showed
    child.expect_exact(PROMPT)
    return child


def screen_until_exit(child: pexpect.spawn) -> str:
    """Wait for the console to leave; the whole session as the terminal showed it."""
    child.expect(pexpect.EOF)
    child.close()
    return str(child.logfile_read.getvalue())


async def test_up_arrow_recalls_the_last_line_within_and_across_sessions(
    db: Database, scripted_model: ScriptedModel, console_home: Path
) -> None:
    child = spawn_chat(console_home, scripted_model)
    child.sendline("/drafts")
    child.expect_exact("You have no draft itineraries.")
    child.expect_exact(PROMPT)
    child.send(UP)
    child.expect_exact("/drafts")  # the line editor shows the recalled line
    child.send("\r")
    child.expect_exact("You have no draft itineraries.")
    child.expect_exact(PROMPT)
    child.send(CTRL_D)
    assert "Goodbye." in screen_until_exit(child)
    assert child.exitstatus == 0

    again = spawn_chat(console_home, scripted_model)
    again.send(UP)
    again.expect_exact("/drafts")  # the history outlives the session, under TRAVELMATE_DATA_DIR
    again.send("\r")
    again.expect_exact("You have no draft itineraries.")
    again.sendline("/quit")
    assert "Goodbye." in screen_until_exit(again)
    assert again.exitstatus == 0
    assert "/drafts" in (console_home / "console_history").read_text()
    assert oct((console_home / "console_history").stat().st_mode & 0o777) == "0o600"


async def test_ctrl_c_cancels_the_line_or_the_turn_and_keeps_the_session(
    db: Database, scripted_model: ScriptedModel, console_home: Path
) -> None:
    scripted_model.script(hang(30, say("Too late.")), say("Here I am."))
    child = spawn_chat(console_home, scripted_model)

    child.send("/frobnicate half typed")
    child.send(CTRL_C)  # at the prompt: the line is dropped, the session stays
    child.expect_exact(PROMPT)
    child.sendline("Plan Berlin next week")
    scripted_model.wait_for_requests(1, timeout=30)
    child.send(CTRL_C)  # while the model is thinking: the turn is cancelled
    child.expect_exact("Cancelled.")
    child.expect_exact(PROMPT)
    child.sendline("Are you there?")
    child.expect_exact("Here I am.")
    child.expect_exact(PROMPT)
    child.sendline("/quit")
    screen = screen_until_exit(child)
    assert "Goodbye." in screen and child.exitstatus == 0
    assert "I don't know the command /frobnicate" not in screen

    # The model's requests were logged (httpx logs each at INFO), to the file and not over the screen.
    log = (console_home / "logs" / "console.log").read_text()
    assert "HTTP Request: POST" in log
    assert "HTTP Request" not in screen and " INFO " not in screen
