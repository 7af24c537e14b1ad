"""Platform deliveries (Slack event ids, Telegram update ids): one effect per delivery, across processes.

A Telegram update id is recorded once, when it arrives (`first_delivery`). A Slack delivery has a state
(`DeliveryClaims`): received, claimed by one process until a time that process keeps renewing while it works,
then handled once its answer is out. A repeat of a handled delivery, or one that arrives while the claim is
alive, is acknowledged and ignored; a repeat whose claim lapsed (its process died mid-turn) is handled again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import delete, text
from sqlalchemy.dialects.postgresql import insert

from storage.database import Database, Statement, TenantStatements
from storage.models import ProcessedEvent

# How long a claim stands without renewal: a process that died leaves its deliveries for others after it.
CLAIM_SECONDS = 15.0

# An ack must not wait for a WAL flush queued behind checkpoint writes. A PostgreSQL crash can lose only the
# last moments of claims, and a lost claim only means a redelivery is handled rather than ignored.
_ASYNC_COMMIT = Statement("SET LOCAL synchronous_commit = off")
_CLAIM = """
    INSERT INTO processed_events (source, event_id, claimed_by, claimed_until)
    VALUES (%(source)s, %(event)s, %(claimant)s, now() + make_interval(secs => %(seconds)s))
    ON CONFLICT (source, event_id) DO UPDATE
        SET claimed_by = EXCLUDED.claimed_by, claimed_until = EXCLUDED.claimed_until
        WHERE processed_events.handled_at IS NULL AND processed_events.claimed_until < now()
    RETURNING event_id
"""
_HANDLED = """
    UPDATE processed_events SET handled_at = now()
    WHERE source = %(source)s AND event_id = %(event)s AND claimed_by = %(claimant)s AND handled_at IS NULL
"""
_RELEASE = """
    DELETE FROM processed_events
    WHERE source = %(source)s AND event_id = %(event)s AND claimed_by = %(claimant)s AND handled_at IS NULL
"""
_RENEW = """
    UPDATE processed_events SET claimed_until = now() + make_interval(secs => %(seconds)s)
    WHERE claimed_by = %(claimant)s AND handled_at IS NULL
"""


@dataclass(frozen=True)
class DeliveryClaims:
    """The deliveries this process claims; `claimant` names the process (one per replica)."""

    statements: TenantStatements
    claimant: uuid.UUID = field(default_factory=uuid.uuid4)
    seconds: float = CLAIM_SECONDS

    def _key(self, source: str, event_id: str) -> dict[str, object]:
        return {"source": source, "event": event_id[:128], "claimant": self.claimant, "seconds": self.seconds}

    async def claim(self, *, source: str, event_id: str) -> bool:
        """Take a delivery to handle it; False when it was handled, or another process is on it now."""
        _, claimed = await self.statements.run(
            None, _ASYNC_COMMIT, Statement(_CLAIM, self._key(source, event_id))
        )
        return bool(claimed)

    async def handled(self, *, source: str, event_id: str) -> None:
        """The delivery's work is done: every later repeat is ignored."""
        await self.statements.run(None, Statement(_HANDLED, self._key(source, event_id)))

    async def release(self, *, source: str, event_id: str) -> None:
        """Give up a delivery before it had any effect, so that the platform's repeat is handled."""
        await self.statements.run(None, Statement(_RELEASE, self._key(source, event_id)))

    async def renew(self) -> None:
        """Extend every claim of this process that is still in progress."""
        await self.statements.run(
            None, Statement(_RENEW, {"claimant": self.claimant, "seconds": self.seconds})
        )


async def first_delivery(db: Database, *, source: str, event_id: str) -> bool:
    """Record a delivery id as handled; True only the first time (atomic, so racing deliveries agree)."""
    statement = insert(ProcessedEvent).values(
        source=source, event_id=event_id[:128], handled_at=text("now()")
    )
    async with db.unscoped() as session:
        await session.execute(text("SET LOCAL synchronous_commit = off"))
        inserted = await session.execute(
            statement.on_conflict_do_nothing().returning(ProcessedEvent.event_id)
        )
        return inserted.first() is not None


async def prune_deliveries(db: Database, *, older_than: dt.datetime) -> int:
    """Drop ids older than any redelivery window; returns how many went."""
    async with db.unscoped() as session:
        result = await session.execute(delete(ProcessedEvent).where(ProcessedEvent.received_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)
