"""How the console reads lines: a line editor with history in a terminal, plain lines from a pipe."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Protocol, TypeVar

from rich.console import Console

T = TypeVar("T")

HISTORY_FILE = "console_history"
LOG_FILE = Path("logs") / "console.log"


class LineReader(Protocol):
    """One line of input; None when the input has ended (Ctrl-D). Ctrl-C raises KeyboardInterrupt."""

    async def read(self, prompt: str) -> str | None: ...


class TerminalReader:
    """prompt_toolkit: arrows, editing keys and a history that lasts across sessions (private to the user)."""

    def __init__(self, history_path: Path) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory

        history_path.parent.mkdir(parents=True, exist_ok=True)
        # What travellers type names people and places; only they may read it back.
        history_path.touch(mode=0o600, exist_ok=True)
        os.chmod(history_path, 0o600)
        self.session: PromptSession[str] = PromptSession(history=FileHistory(str(history_path)))

    async def read(self, prompt: str) -> str | None:
        from prompt_toolkit.formatted_text import ANSI

        try:
            return await self.session.prompt_async(ANSI(_ansi(prompt)))
        except EOFError:
            return None


def _ansi(markup: str) -> str:
    """Rich markup as the ANSI text prompt_toolkit shows."""
    console = Console(force_terminal=True, color_system="standard")
    with console.capture() as captured:
        console.print(markup, end="")
    return captured.get()


class PipeReader:
    """Lines from a pipe or a file, so the console can be scripted; the prompt is still printed."""

    def __init__(self, console: Console) -> None:
        self.console = console

    async def read(self, prompt: str) -> str | None:
        try:
            return self.console.input(prompt)
        except EOFError:
            return None


def line_reader(console: Console, data_dir: Path) -> LineReader:
    """The line editor when both ends are a terminal, plain reading otherwise."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        return TerminalReader(data_dir / HISTORY_FILE)
    return PipeReader(console)


async def interruptible(work: Awaitable[T]) -> T:
    """Run `work`; Ctrl-C while it runs cancels it (raising CancelledError here) instead of the whole console."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, task.cancel)
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
        return await task
    try:
        return await task
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def log_to_file(data_dir: Path) -> Path:
    """Send every log record to a file while the console runs, so none prints over the prompt or spinner."""
    path = data_dir / LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    logging.captureWarnings(True)
    return path
