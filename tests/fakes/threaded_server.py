"""An aiohttp server on its own event loop in a background thread, for fakes of outside HTTP services.

Sync tests, async tests (on another loop) and subprocesses can all reach it. Subclasses add their routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType
from typing import Self

from aiohttp import web


class ThreadedHttpServer:
    """Start with `with Fake() as fake:` (or start()/stop()); `port` is chosen by the system."""

    thread_name = "fake-http"
    shutdown_timeout = 0.5

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @property
    def port(self) -> int:
        assert self._port is not None, "the server is not started"
        return self._port

    def start(self) -> Self:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=self.thread_name, daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        self._port = asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=10)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def _serve(self) -> int:
        app = web.Application()
        self.add_routes(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.shutdown_timeout)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        self._runner = runner
        port: int = runner.addresses[0][1]
        return port

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # Handlers still waiting (a reply scripted to arrive late, a client that gave up) end here, not as
        # "Task was destroyed but it is pending" when the loop closes.
        unfinished = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
