"""Platform deliveries (Slack event ids, Telegram update ids): one effect per delivery, across processes.

A Telegram update id is recorded once, when it arrives (`first_delivery`). A Slack delivery has a state
(`DeliveryClaims`): received, claimed by one process until a time that process keeps renewing while it works,
then handled once its answer is out. A repeat of a handled delivery, or one that arrives while the claim is
alive, is acknowledged and ignored; a repeat whose claim lapsed (its process died mid-turn) is handled again.

The platform resends only what it got no acknowledgement for, so a claim also keeps the request itself
(sealed when a key is set): a process that finds a lapsed, unhandled delivery takes it over
(`take_lapsed`) and runs it again. The request is cleared when the delivery is handled or released, and
given up once it is older than REQUEST_SECONDS (Slack's signatures are valid for 5 minutes).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import delete, text
from sqlalchemy.dialects.postgresql import insert

from storage.database import Database, Statement, TenantStatements
from storage.models import ProcessedEvent
from storage.secrets import EncryptionKeyError, SecretBox

# How long a claim stands without renewal: a process that died leaves its deliveries for others after it.
CLAIM_SECONDS = 15.0
# How long a claimed request is kept to be re-run: inside Slack's 5-minute signature window, with a margin.
REQUEST_SECONDS = 270.0
# Fernet tokens begin with this (version byte 0x80, url-safe base64); a request kept unsealed is JSON.
_SEALED = b"gAAAAA"

# An ack must not wait for a WAL flush queued behind checkpoint writes. A PostgreSQL crash can lose only the
# last moments of claims, and a lost claim only means a redelivery is handled rather than ignored.
_ASYNC_COMMIT = Statement("SET LOCAL synchronous_commit = off")
_CLAIM = """
    INSERT INTO processed_events (source, event_id, claimed_by, claimed_until, request, request_at)
    VALUES (
        %(source)s, %(event)s, %(claimant)s, now() + make_interval(secs => %(seconds)s), %(request)s::bytea, now()
    )
    ON CONFLICT (source, event_id) DO UPDATE
        SET claimed_by = EXCLUDED.claimed_by, claimed_until = EXCLUDED.claimed_until,
            request = EXCLUDED.request, request_at = EXCLUDED.request_at
        WHERE processed_events.handled_at IS NULL AND processed_events.claimed_until < now()
    RETURNING event_id
"""
_HANDLED = """
    UPDATE processed_events SET handled_at = now(), request = NULL, request_at = NULL
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

# Lapsed, unhandled deliveries with a recent request pass to this process; a row another process is taking
# at the same moment is skipped, so each goes to exactly one.
_TAKE_LAPSED = """
    UPDATE processed_events SET claimed_by = %(claimant)s, claimed_until = now() + make_interval(secs => %(seconds)s)
    WHERE (source, event_id) IN (
        SELECT source, event_id FROM processed_events
        WHERE request IS NOT NULL AND handled_at IS NULL AND claimed_until < now()
            AND request_at > now() - make_interval(secs => %(window)s)
        ORDER BY request_at
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING source, event_id, request
"""
# Requests past the window are dropped, whatever their state; those of unhandled, lapsed deliveries are lost.
_GIVE_UP = """
    UPDATE processed_events SET request = NULL, request_at = NULL
    WHERE request IS NOT NULL AND request_at <= now() - make_interval(secs => %(window)s)
    RETURNING source, event_id, handled_at IS NULL AND claimed_until < now()
"""


@dataclass(frozen=True)
class LapsedDelivery:
    """A delivery taken over from a process that died before handling it, with the request to run again."""

    source: str
    event_id: str
    request: bytes | None  # None when it cannot be opened with the configured keys


@dataclass(frozen=True)
class DeliveryClaims:
    """The deliveries this process claims; `claimant` names the process (one per replica). With a `box`, the
    requests kept with the claims are sealed."""

    statements: TenantStatements
    claimant: uuid.UUID = field(default_factory=uuid.uuid4)
    seconds: float = CLAIM_SECONDS
    box: SecretBox | None = None
    request_seconds: float = REQUEST_SECONDS

    def _key(self, source: str, event_id: str) -> dict[str, object]:
        return {"source": source, "event": event_id[:128], "claimant": self.claimant, "seconds": self.seconds}

    async def claim(self, *, source: str, event_id: str, request: bytes | None = None) -> bool:
        """Take a delivery to handle it, keeping `request` to re-run it should this process die; False when
        it was handled, or another process is on it now."""
        kept = self.box.seal_bytes(request) if self.box is not None and request is not None else request
        _, claimed = await self.statements.run(
            None, _ASYNC_COMMIT, Statement(_CLAIM, {**self._key(source, event_id), "request": kept})
        )
        return bool(claimed)

    async def take_lapsed(self, *, limit: int = 10) -> list[LapsedDelivery]:
        """Claim for this process deliveries whose process died before handling them, with their requests."""
        params = {"claimant": self.claimant, "seconds": self.seconds, "window": self.request_seconds}
        (rows,) = await self.statements.run(None, Statement(_TAKE_LAPSED, {**params, "limit": limit}))
        return [
            LapsedDelivery(source, event_id, self._opened(bytes(kept))) for source, event_id, kept in rows
        ]

    async def give_up_stale(self) -> list[str]:
        """Drop requests older than the window; the ids of deliveries that will never be answered."""
        (rows,) = await self.statements.run(None, Statement(_GIVE_UP, {"window": self.request_seconds}))
        return [event_id for _, event_id, lost in rows if lost]

    def _opened(self, kept: bytes) -> bytes | None:
        if not kept.startswith(_SEALED):
            return kept
        try:
            return self.box.open_bytes(kept) if self.box is not None else None
        except EncryptionKeyError:
            return None

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
