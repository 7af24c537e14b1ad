"""Delivering reminders: the atomic claim, the recorded outcomes, and the ids of due work across tenants.

The claim flips `booking_reminders.sent` inside the transaction that also sends (or writes the console
outbox) and records the outcomes. Its row lock is the lease: if the worker dies, PostgreSQL rolls the claim
back and the reminder is due again; if the transaction commits, no later run can claim it a second time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    bindparam,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.database import Database
from storage.models import Base, of_itinerary, of_user
from storage.sessions import current_tenant

Outcome = Literal["retrying", "delivered", "failed", "muted", "expired"]
_NIL = uuid.UUID(int=0)


class ReminderDelivery(Base):
    """How the delivery of one reminder went (migration 0002_reminders)."""

    __tablename__ = "reminder_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "reminder_id"],
            ["booking_reminders.tenant_id", "booking_reminders.reminder_id"],
            ondelete="CASCADE",
        ),
        of_user(),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    reminder_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID]
    outcome: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ConsoleMessage(Base):
    """A message waiting in a console user's outbox (migration 0002_reminders)."""

    __tablename__ = "console_outbox"
    __table_args__ = (
        of_user(),
        Index(
            "console_outbox_reminder",
            "tenant_id",
            "reminder_id",
            unique=True,
            postgresql_where=text("reminder_id IS NOT NULL"),
        ),
        Index(
            "console_outbox_unread",
            "tenant_id",
            "user_id",
            "created_at",
            postgresql_where=text("read_at IS NULL"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=text("gen_random_uuid()"))
    user_id: Mapped[uuid.UUID]
    reminder_id: Mapped[uuid.UUID | None]
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class TripReminderControl(Base):
    """A traveller's choices for one trip's reminders: muted, or snoozed until a time (naive UTC)."""

    __tablename__ = "trip_reminder_controls"
    __table_args__ = (of_itinerary(),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    itinerary_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    muted: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    snoozed_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


@dataclass(frozen=True)
class Recipient:
    """Where a reminder goes: a linked Slack or Telegram account, or (when none) the console outbox."""

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    channel: str
    workspace_id: str = ""
    external_user_id: str = ""
    chat_id: str | None = None


@dataclass(frozen=True)
class ClaimedReminder:
    """A reminder claimed for delivery, with everything its message and its route need.

    A reminder written by another system may name no booking (then it is its message alone) or a booking
    outside any trip; the booking and trip fields are None where there is none.
    """

    tenant_id: uuid.UUID
    reminder_id: uuid.UUID
    booking_id: uuid.UUID | None
    itinerary_id: uuid.UUID | None
    user_id: uuid.UUID
    due_at: dt.datetime
    reminder_date: dt.date
    message: str
    booking_type: str | None
    booking_status: str | None
    booking_details: dict[str, Any]
    itinerary_status: str | None
    destinations: list[Any]
    trip_start: dt.date | None
    trip_end: dt.date | None
    display_name: str
    timezone: str
    locale: str
    muted: bool
    attempts: int
    recipient: Recipient

    @property
    def service_date(self) -> dt.date:
        """The day of the booked service (the flight, check-in, train or pick-up), else the trip's or reminder's."""
        day = self.booking_details.get("service_date")
        try:
            if isinstance(day, str):
                return dt.date.fromisoformat(day)
        except ValueError:  # a date written by another system in a form of its own
            pass
        return self.trip_start or self.reminder_date

    def expired(self, now: dt.datetime) -> bool:
        """Too late to remind: the service day is over in the traveller's time zone."""
        return self.service_date < now.astimezone(ZoneInfo(self.timezone)).date()

    @property
    def still_booked(self) -> bool:
        """A reminder of a cancelled booking or trip is never sent; one of no booking always is."""
        if self.booking_id is None:
            return True
        return self.booking_status == "confirmed" and self.itinerary_status in (None, "confirmed")


# Both statements are PL/pgSQL functions (migrations 0007_reminder_batches and 0010_specified_tables) so that their plans are cached
# per connection; they run as the caller, under the same row-level security as plain statements.
_CLAIM = text(
    "SELECT * FROM claim_due_reminders(:tenant_id, :reminder_id, :now, :channels, :limit)"
).bindparams(bindparam("channels", type_=ARRAY(String)))
_RECORD = text(
    "SELECT reminder_id, attempts FROM record_reminder_outcomes("
    ":tenant_id, :reminder_ids, :user_ids, :outcomes, :channels, :errors, :bodies)"
).bindparams(
    bindparam("reminder_ids", type_=ARRAY(Uuid)),
    bindparam("user_ids", type_=ARRAY(Uuid)),
    bindparam("outcomes", type_=ARRAY(String)),
    bindparam("channels", type_=ARRAY(String)),
    bindparam("errors", type_=ARRAY(String)),
    bindparam("bodies", type_=ARRAY(Text)),
)


@dataclass(frozen=True)
class Settlement:
    """What became of one claimed reminder in this run: its outcome, a short error code, the console text."""

    reminder: ClaimedReminder
    outcome: Outcome
    error: str | None = None
    outbox_body: str | None = None


_ONE_TRIP_AT_A_TIME = text(
    """
    SELECT pg_advisory_xact_lock(hashtextextended(coalesce(b.itinerary_id, r.reminder_id)::text, 0))
    FROM booking_reminders r LEFT JOIN bookings b ON b.tenant_id = r.tenant_id AND b.booking_id = r.booking_id
    WHERE r.reminder_id = :reminder_id
    """
)


async def claim_due_reminders(
    session: AsyncSession, *, reminder_id: uuid.UUID, now: dt.datetime, channels: Sequence[str], limit: int
) -> list[ClaimedReminder]:
    """Claim a due, unsent reminder and up to `limit - 1` more of the tenant's, for this transaction.

    Empty when the named reminder is sent, gone, not due or in flight; the others are the tenant's due,
    unsent reminders that no other transaction holds, oldest first. `channels` are the platforms this
    worker can reach, in no particular order; each traveller's most recently linked account among them is
    the recipient, and the console outbox when there is none.
    """
    tenant_id = current_tenant(session)
    # One message per trip and reminder time: jobs of the same trip wait for each other here, so the first
    # claims the trip's due reminders together and the others then find theirs sent.
    await session.execute(_ONE_TRIP_AT_A_TIME, {"reminder_id": reminder_id})
    rows = await session.execute(
        _CLAIM,
        {
            "tenant_id": tenant_id,
            "reminder_id": reminder_id,
            "now": _naive_utc(now),
            "channels": [c for c in channels if c != "console"],
            "limit": limit,
        },
    )
    return [_claimed(tenant_id, row) for row in rows.mappings()]


def _claimed(tenant_id: uuid.UUID, row: Any) -> ClaimedReminder:
    recipient = Recipient(
        tenant_id=tenant_id,
        user_id=row["user_id"],
        channel=row["channel"] or "console",
        workspace_id=row["workspace_id"] or "",
        external_user_id=row["external_user_id"] or "",
        chat_id=row["chat_id"],
    )
    return ClaimedReminder(
        tenant_id=tenant_id,
        reminder_id=row["reminder_id"],
        booking_id=row["booking_id"],
        itinerary_id=row["itinerary_id"],
        user_id=row["user_id"],
        due_at=row["due_at"],
        reminder_date=row["reminder_date"],
        message=row["message"],
        booking_type=row["booking_type"],
        booking_status=row["booking_status"],
        booking_details=dict(row["booking_details"]) if isinstance(row["booking_details"], dict) else {},
        itinerary_status=row["itinerary_status"],
        destinations=list(row["destinations"]) if isinstance(row["destinations"], list) else [],
        trip_start=row["start_date"],
        trip_end=row["end_date"],
        display_name=row["display_name"],
        timezone=row["timezone"],
        locale=row["locale"],
        muted=row["muted"],
        attempts=row["attempts"],
        recipient=recipient,
    )


async def drop_reminders(session: AsyncSession, *, reminder_ids: Sequence[uuid.UUID]) -> None:
    """Remove claimed reminders whose booking was cancelled, as cancelling does for unsent ones."""
    if reminder_ids:
        await session.execute(
            text("DELETE FROM booking_reminders WHERE tenant_id = :t AND reminder_id = ANY(:r)"),
            {"t": current_tenant(session), "r": list(reminder_ids)},
        )


async def release_claims(session: AsyncSession, *, reminder_ids: Sequence[uuid.UUID]) -> None:
    """Hand claimed reminders back unsent (to be tried again), keeping what was recorded about them."""
    if reminder_ids:
        await session.execute(
            text("UPDATE booking_reminders SET sent = false WHERE tenant_id = :t AND reminder_id = ANY(:r)"),
            {"t": current_tenant(session), "r": list(reminder_ids)},
        )


async def record_outcomes(session: AsyncSession, settlements: Sequence[Settlement]) -> dict[uuid.UUID, int]:
    """Record one delivery attempt per settlement (and the console messages); returns attempts by reminder.

    Errors are short failure codes, never message bodies.
    """
    if not settlements:
        return {}
    rows = await session.execute(
        _RECORD,
        {
            "tenant_id": current_tenant(session),
            "reminder_ids": [s.reminder.reminder_id for s in settlements],
            "user_ids": [s.reminder.user_id for s in settlements],
            "outcomes": [s.outcome for s in settlements],
            "channels": [s.reminder.recipient.channel for s in settlements],
            "errors": [s.error[:200] if s.error else None for s in settlements],
            "bodies": [s.outbox_body for s in settlements],
        },
    )
    return {row.reminder_id: int(row.attempts) for row in rows}


async def due_reminder_ids(
    db: Database, *, now: dt.datetime, after: tuple[uuid.UUID, uuid.UUID] | None = None, limit: int = 5000
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant, reminder) ids of due unsent reminders in every tenant, one page after `after`.

    The application role sees no tenant here; the SECURITY DEFINER function returns ids and nothing else.
    """
    after_tenant, after_reminder = after or (_NIL, _NIL)
    async with db.unscoped() as session:
        rows = await session.execute(
            text("SELECT tenant_id, reminder_id FROM due_reminder_ids(:now, :t, :r, :n)"),
            {"now": _naive_utc(now), "t": after_tenant, "r": after_reminder, "n": limit},
        )
        return [(row.tenant_id, row.reminder_id) for row in rows]


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    """Due times are naive UTC; aware datetimes are converted first."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment
