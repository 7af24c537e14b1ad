"""LangSmith tracing hooks: with tracing off, no worker-thread hop around every model call.

langchain wraps each `wrap_model_call` middleware in LangSmith's `traceable`, which sets up and closes its
span in a worker thread (`run_in_executor`) so that a tracing client's I/O never blocks the event loop.
With tracing off there is no I/O, only four thread hops per model call: about 1.2 ms of a 3 ms agent turn
on the bench (`python -m bench.agent_turn`). The override below runs that bookkeeping inline then, and
leaves LangSmith's own behaviour in place whenever tracing is on.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

import langsmith
from langsmith.utils import tracing_is_enabled


async def _inline_unless_tracing(
    default: Callable[..., Awaitable[Any]],
    ctx: contextvars.Context,
    func: Callable[..., Any],
    /,
    *args: Any,
    **kwargs: Any,
) -> Any:
    if tracing_is_enabled():
        return await default(ctx, func, *args, **kwargs)
    return ctx.run(func, *args, **kwargs)


def keep_untraced_calls_on_the_loop() -> None:
    """Install the override for this process (idempotent)."""
    langsmith.set_runtime_overrides(aio_to_thread=_inline_unless_tracing)
