"""One turn at a time per conversation, across every process: a lease row in PostgreSQL.

A process takes the lease of a thread before a turn and gives it back after. While the turn runs the
lease is renewed; a process that dies leaves a lease that expires by itself, so the conversation goes on
on another replica. No connection is held while waiting or during the turn, so PgBouncer in transaction
mode works, and waiting turns cost nothing but a short poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from storage.database import Statement, TenantStatements
from storage.errors import DomainError

LEASE_SECONDS = 30.0  # renewed every third of it while the turn runs
WAIT_SECONDS = 120.0  # how long a turn waits for the one before it

_KEY = "tenant_id = %(tenant)s AND thread_id = %(thread)s"
_TAKE = """
    INSERT INTO conversation_turns (tenant_id, thread_id, holder, expires_at)
    VALUES (%(tenant)s, %(thread)s, %(holder)s, now() + make_interval(secs => %(seconds)s))
    ON CONFLICT (tenant_id, thread_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
    WHERE conversation_turns.expires_at < now() OR conversation_turns.holder = EXCLUDED.holder
    RETURNING holder
"""
_RENEW = f"""
    UPDATE conversation_turns SET expires_at = now() + make_interval(secs => %(seconds)s)
    WHERE {_KEY} AND holder = %(holder)s
"""
_GIVE_BACK = f"DELETE FROM conversation_turns WHERE {_KEY} AND holder = %(holder)s"


class ConversationBusy(DomainError):
    """The conversation's previous turn is still running after the wait."""

    kind = "busy"


async def _take(statements: TenantStatements, key: dict[str, object]) -> bool:
    (taken,) = await statements.run(key["tenant"], Statement(_TAKE, key))  # type: ignore[arg-type]
    return bool(taken)


async def _renew(statements: TenantStatements, key: dict[str, object], every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await statements.run(key["tenant"], Statement(_RENEW, key))  # type: ignore[arg-type]


@asynccontextmanager
async def turn_lease(
    statements: TenantStatements,
    *,
    tenant_id: uuid.UUID,
    thread_id: str,
    lease_seconds: float = LEASE_SECONDS,
    wait_seconds: float = WAIT_SECONDS,
) -> AsyncIterator[None]:
    """Hold the thread's lease for the block; ConversationBusy when it stays taken for `wait_seconds`."""
    key: dict[str, object] = {
        "tenant": tenant_id,
        "thread": thread_id,
        "holder": uuid.uuid4(),
        "seconds": lease_seconds,
    }
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    pause = 0.01
    while not await _take(statements, key):
        if loop.time() >= deadline:
            raise ConversationBusy(
                "I am still working on your previous message in this conversation; please send this one "
                "again in a moment."
            )
        await asyncio.sleep(pause * (0.5 + random.random()))  # noqa: S311 (jitter, not a secret)
        pause = min(pause * 2, 0.2)
    renewal = asyncio.create_task(_renew(statements, key, lease_seconds / 3))
    try:
        yield
    finally:
        renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewal
        # Given back even when the turn was cancelled; if this fails the lease simply expires.
        await asyncio.shield(statements.run(tenant_id, Statement(_GIVE_BACK, key)))
