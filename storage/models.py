"""SQLAlchemy 2 models of the schema; the migrations in storage/migrations are the source of truth."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    case,
    exists,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column

_NEW_UUID = text("gen_random_uuid()")
_NOW = text("CURRENT_TIMESTAMP")


def of_tenant() -> ForeignKeyConstraint:
    """A product table's row goes with its tenant."""
    return ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE")


def of_user() -> ForeignKeyConstraint:
    """A product table's row goes with its user (an erasure removes it in the same transaction)."""
    return ForeignKeyConstraint(
        ["tenant_id", "user_id"],
        ["users.tenant_users.tenant_id", "users.tenant_users.user_id"],
        ondelete="CASCADE",
    )


def of_itinerary() -> ForeignKeyConstraint:
    """A side row of a trip goes with it (erasure and tenant deletion remove trips)."""
    return ForeignKeyConstraint(
        ["tenant_id", "itinerary_id"],
        ["itineraries.tenant_id", "itineraries.itinerary_id"],
        ondelete="CASCADE",
    )


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy's documented hook
        uuid.UUID: UUID(as_uuid=True),
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
    }


class Tenant(Base):
    """A customer company."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=_NEW_UUID)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class TenantUser(Base):
    """A person of a tenant: an admin or a traveller."""

    __tablename__ = "tenant_users"
    __table_args__ = (
        of_tenant(),
        Index("tenant_users_email", "tenant_id", text("lower(email)"), unique=True),
        {"schema": "users"},
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=_NEW_UUID)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20), server_default="traveler")
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    locale: Mapped[str] = mapped_column(String(16), server_default="en")
    preferences: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    # Who approves this traveller's trips first (set by admins); cleared when that person is erased.
    manager_id: Mapped[uuid.UUID | None]


class TenantPreference(Base):
    """One tenant-wide preference or policy value, validated by storage.preferences when read and written."""

    __tablename__ = "tenant_preferences"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        Index("tenant_preferences_key", "tenant_id", "preference_key", unique=True),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    preference_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=_NEW_UUID)
    preference_key: Mapped[str] = mapped_column(String(100))
    preference_value: Mapped[Any] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=_NOW)


class UserTravelHistory(Base):
    """A past trip of a traveller: its date, destination, activities and total spend."""

    __tablename__ = "user_travel_history"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_users.tenant_id", "users.tenant_users.user_id"]
        ),
        Index("user_travel_history_user", "tenant_id", "user_id", "travel_date"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    history_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=_NEW_UUID)
    user_id: Mapped[uuid.UUID | None]
    travel_date: Mapped[dt.date] = mapped_column(Date)
    destination: Mapped[str] = mapped_column(String(100))
    activities: Mapped[Any | None] = mapped_column(JSONB)
    total_spend: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=_NOW)


class ItineraryCancellation(Base):
    """A trip called off; the specification's `is_draft` cannot say so."""

    __tablename__ = "itinerary_cancellations"
    __table_args__ = (of_itinerary(),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    itinerary_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    cancelled_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class Itinerary(Base):
    """A trip: a draft while planned (`is_draft`), confirmed once booked, cancelled when called off."""

    __tablename__ = "itineraries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_users.tenant_id", "users.tenant_users.user_id"]
        ),
        CheckConstraint("end_date >= start_date", name="itineraries_check"),
        Index("itineraries_user", "tenant_id", "user_id", "start_date"),
        Index("itineraries_period", "tenant_id", "start_date"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    itinerary_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=_NEW_UUID)
    user_id: Mapped[uuid.UUID | None]
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    destinations: Mapped[list[Any] | None] = mapped_column(JSONB)
    is_draft: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=_NOW)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=_NOW)
    # The trip's state in one word, read with every itinerary: cancelled (a side-table row), draft (the
    # specification's `is_draft`, where NULL reads as its default), or confirmed.
    status: Mapped[str] = column_property(
        case(
            (
                exists().where(
                    ItineraryCancellation.tenant_id == tenant_id,
                    ItineraryCancellation.itinerary_id == itinerary_id,
                ),
                "cancelled",
            ),
            (func.coalesce(is_draft, True), "draft"),
            else_="confirmed",
        )
    )

    @property
    def places(self) -> list[str]:
        """The destinations as text; a row written elsewhere may have none, or not as a list."""
        if isinstance(self.destinations, list):
            return [str(place) for place in self.destinations if place is not None]
        return [str(self.destinations)] if self.destinations else []


class ItineraryDetail(Base):
    """One activity of an itinerary on one date: a flight, hotel stay, train, car, meeting or anything else."""

    __tablename__ = "itinerary_details"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "itinerary_id"], ["itineraries.tenant_id", "itineraries.itinerary_id"]
        ),
        Index("itinerary_details_itinerary", "tenant_id", "itinerary_id", "date", "position"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    detail_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=_NEW_UUID)
    itinerary_id: Mapped[uuid.UUID | None]
    date: Mapped[dt.date] = mapped_column(Date)
    activity_type: Mapped[str | None] = mapped_column(String(50))
    activity_details: Mapped[Any | None] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=_NOW)
    # The order within the day as planned; rows written elsewhere have none and come after, by time.
    position: Mapped[int | None] = mapped_column(Integer)


class Booking(Base):
    """One booked component of a trip: a flight, hotel, train or car (or what another system booked)."""

    __tablename__ = "bookings"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_users.tenant_id", "users.tenant_users.user_id"]
        ),
        ForeignKeyConstraint(
            ["tenant_id", "itinerary_id"], ["itineraries.tenant_id", "itineraries.itinerary_id"]
        ),
        Index("bookings_user", "tenant_id", "user_id", "created_at"),
        Index("bookings_itinerary", "tenant_id", "itinerary_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=_NEW_UUID)
    user_id: Mapped[uuid.UUID | None]
    itinerary_id: Mapped[uuid.UUID | None]
    booking_type: Mapped[str] = mapped_column(String(50))
    booking_details: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str | None] = mapped_column(
        String(20), server_default=text("'confirmed'::character varying")
    )
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=_NOW)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=_NOW)

    @property
    def confirmed(self) -> bool:
        """The specification's default status is 'confirmed'; a NULL written elsewhere reads the same."""
        return self.status in (None, "confirmed")


class BookingReminder(Base):
    """A reminder for `reminder_date` (the traveller's local date); `sent` flips exactly once when delivered."""

    __tablename__ = "booking_reminders"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_users.tenant_id", "users.tenant_users.user_id"]
        ),
        ForeignKeyConstraint(["tenant_id", "booking_id"], ["bookings.tenant_id", "bookings.booking_id"]),
        Index("booking_reminders_booking", "tenant_id", "booking_id"),
        Index("booking_reminders_user", "tenant_id", "user_id"),
        Index("booking_reminders_due", "reminder_date", postgresql_where=text("sent IS NOT TRUE")),
        Index(
            "booking_reminders_tenant_due",
            "tenant_id",
            "reminder_date",
            postgresql_where=text("sent IS NOT TRUE"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    reminder_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=_NEW_UUID)
    booking_id: Mapped[uuid.UUID | None]
    user_id: Mapped[uuid.UUID | None]
    reminder_date: Mapped[dt.date] = mapped_column(Date)
    message: Mapped[str] = mapped_column(Text)
    sent: Mapped[bool | None] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=_NOW)


class ReminderSchedule(Base):
    """The exact due time (naive UTC) of a reminder the product wrote; others fall due at the tenant's hour."""

    __tablename__ = "reminder_schedules"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "reminder_id"],
            ["booking_reminders.tenant_id", "booking_reminders.reminder_id"],
            ondelete="CASCADE",
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    reminder_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime)


class TravelAnalytics(Base):
    """Spend of one trip on its travel date: the total and a breakdown by category."""

    __tablename__ = "travel_analytics"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_users.tenant_id", "users.tenant_users.user_id"]
        ),
        Index(
            "travel_analytics_period",
            "tenant_id",
            "travel_date",
            postgresql_include=["user_id", "analytics_id", "total_spend"],
        ),
        Index("travel_analytics_user", "tenant_id", "user_id", "travel_date"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    analytics_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=_NEW_UUID)
    user_id: Mapped[uuid.UUID | None]
    travel_date: Mapped[dt.date] = mapped_column(Date)
    total_spend: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    categories_spend: Mapped[Any] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=_NOW)


class CompletedTrip(Base):
    """Which itinerary a history row and an analytics row came from, and the trip's last day."""

    __tablename__ = "completed_trips"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "history_id"],
            ["user_travel_history.tenant_id", "user_travel_history.history_id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "analytics_id"],
            ["travel_analytics.tenant_id", "travel_analytics.analytics_id"],
            ondelete="CASCADE",
        ),
        Index("completed_trips_history", "tenant_id", "history_id", unique=True),
        Index(
            "completed_trips_analytics",
            "tenant_id",
            "analytics_id",
            unique=True,
            postgresql_include=["destination", "end_date"],
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    itinerary_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    history_id: Mapped[uuid.UUID | None]
    analytics_id: Mapped[uuid.UUID | None]
    end_date: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    # The history row's destination, kept equal to it by triggers (migration 0014): spend by destination.
    destination: Mapped[str | None] = mapped_column(String(100))


class ChannelWorkspace(Base):
    """A Slack workspace (or Enterprise Grid org) that belongs to a tenant."""

    __tablename__ = "channel_workspaces"
    __table_args__ = (
        of_tenant(),
        Index("channel_workspaces_route", "channel", "enterprise_id", "team_id", unique=True),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    enterprise_id: Mapped[str] = mapped_column(String(64), primary_key=True, server_default="")
    team_id: Mapped[str] = mapped_column(String(64), primary_key=True, server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class ChannelIdentity(Base):
    """A platform account (Slack user, Telegram user, console) that speaks for a tenant user."""

    __tablename__ = "channel_identities"
    __table_args__ = (
        of_tenant(),
        of_user(),
        Index("channel_identities_route", "channel", "workspace_id", "external_user_id", unique=True),
        Index("channel_identities_user", "tenant_id", "user_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(64), primary_key=True, server_default="")
    external_user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID]
    chat_id: Mapped[str | None] = mapped_column(String(64))
    linked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class SlackInstallation(Base):
    """A Slack app installation; the whole installation (tokens included) is stored encrypted."""

    __tablename__ = "slack_installations"
    __table_args__ = (
        of_tenant(),
        Index(
            "slack_installations_workspace",
            "tenant_id",
            "enterprise_id",
            "team_id",
            text("installed_at DESC"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    installation_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=_NEW_UUID)
    enterprise_id: Mapped[str] = mapped_column(String(64), server_default="")
    team_id: Mapped[str] = mapped_column(String(64), server_default="")
    installer_user_id: Mapped[str | None] = mapped_column(String(64))
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    installation_encrypted: Mapped[str] = mapped_column(Text)
    installed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class TelegramInvite(Base):
    """A one-time code linking a Telegram account to a tenant user; only its hash is stored."""

    __tablename__ = "telegram_invites"
    __table_args__ = (of_tenant(), of_user(), Index("telegram_invites_code", "code_hash"))

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    invite_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=_NEW_UUID)
    user_id: Mapped[uuid.UUID]
    code_hash: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Who did what, in which tenant, and when. Details never hold message bodies or secrets."""

    __tablename__ = "audit_log"
    __table_args__ = (of_tenant(), Index("audit_log_recent", "tenant_id", text("occurred_at DESC")))

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    audit_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=_NEW_UUID)
    occurred_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("clock_timestamp()")
    )
    actor_user_id: Mapped[uuid.UUID | None]
    actor: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class ProcessedEvent(Base):
    """A platform delivery: claimed by one process until `claimed_until`, then handled, so that a retry has no
    second effect and a delivery whose process died is handled again (storage.processed_events)."""

    __tablename__ = "processed_events"
    __table_args__ = (
        Index("processed_events_in_progress", "claimed_by", postgresql_where=text("handled_at IS NULL")),
        Index("processed_events_requests", "request_at", postgresql_where=text("request IS NOT NULL")),
    )

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    claimed_by: Mapped[uuid.UUID | None]
    claimed_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    handled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The request to re-run while the delivery is unhandled (sealed when a key is set), for a few minutes only.
    request: Mapped[bytes | None] = mapped_column(LargeBinary)
    request_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ConversationThread(Base):
    """One user's part in one checkpoint thread (`{tenant}:{channel}:{conversation}`)."""

    __tablename__ = "conversations"
    __table_args__ = (
        of_tenant(),
        of_user(),
        Index("conversations_user", "tenant_id", "user_id"),
        Index("conversations_idle", "tenant_id", "last_active_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    last_active_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class ConversationCheckpoint(Base):
    """The agent's latest checkpoint of one thread (agent.checkpoints), owned by the conversation's user."""

    __tablename__ = "conversation_checkpoints"
    __table_args__ = (
        of_tenant(),
        of_user(),
        Index("conversation_checkpoints_user", "tenant_id", "user_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    checkpoint_ns: Mapped[str] = mapped_column(String(300), primary_key=True, server_default="")
    user_id: Mapped[uuid.UUID]
    checkpoint_id: Mapped[str] = mapped_column(String(64))
    parent_checkpoint_id: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(40))
    checkpoint: Mapped[bytes] = mapped_column(LargeBinary)
    metadata_type: Mapped[str] = mapped_column(String(40))
    metadata_: Mapped[bytes] = mapped_column("metadata", LargeBinary)
    saved_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class ConversationCheckpointWrite(Base):
    """A pending write of a thread's latest checkpoint: an open confirmation, say."""

    __tablename__ = "conversation_checkpoint_writes"
    __table_args__ = (
        of_tenant(),
        of_user(),
        Index("conversation_checkpoint_writes_user", "tenant_id", "user_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    checkpoint_ns: Mapped[str] = mapped_column(String(300), primary_key=True, server_default="")
    checkpoint_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[uuid.UUID]
    channel: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40))
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    task_path: Mapped[str] = mapped_column(String(300), server_default="")


class SlackRequestMessage(Base):
    """A Slack message that asks for a decision (a confirmation or an approval) about a trip."""

    __tablename__ = "slack_request_messages"
    __table_args__ = (
        of_tenant(),
        of_itinerary(),
        Index("slack_request_messages_itinerary", "tenant_id", "itinerary_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_ts: Mapped[str] = mapped_column(String(32), primary_key=True)
    itinerary_id: Mapped[uuid.UUID]
    purpose: Mapped[str] = mapped_column(String(16))
    decided: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class TelegramRequestMessage(Base):
    """A Telegram message with live Confirm / Cancel buttons for a trip, rewritten once decided or lapsed."""

    __tablename__ = "telegram_request_messages"
    __table_args__ = (
        of_tenant(),
        of_itinerary(),
        Index("telegram_request_messages_itinerary", "tenant_id", "itinerary_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    itinerary_id: Mapped[uuid.UUID]
    decided: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class ReminderPress(Base):
    """A press of a reminder's Snooze or Mute button, so that pressing it again changes nothing."""

    __tablename__ = "reminder_presses"
    __table_args__ = (of_tenant(), of_user())

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    message: Mapped[str] = mapped_column(String(200), primary_key=True)
    action: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[uuid.UUID]
    pressed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class ConversationTurnLease(Base):
    """Who runs a turn of a conversation now, until when (storage.turn_leases): turns of one thread in order."""

    __tablename__ = "conversation_turns"
    __table_args__ = (of_tenant(),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    holder: Mapped[uuid.UUID]
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class AwaitedJustification(Base):
    """A Telegram traveller asked to justify an out-of-policy trip; their next message is the answer."""

    __tablename__ = "awaited_justifications"
    __table_args__ = (of_tenant(), of_user(), Index("awaited_justifications_user", "tenant_id", "user_id"))

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    itinerary_id: Mapped[uuid.UUID]
    prompt_message_id: Mapped[int] = mapped_column(BigInteger)
    asked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class PolicyVerdictRow(Base):
    """The verdict a booking was made under, computed once at confirmation (`bookings` keeps the DDL's columns)."""

    __tablename__ = "policy_verdicts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "booking_id"], ["bookings.tenant_id", "bookings.booking_id"], ondelete="CASCADE"
        ),
        CheckConstraint("status IN ('ok', 'violation')"),
        CheckConstraint("approval IN ('pending', 'approved', 'rejected')"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    notes: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    policy_version: Mapped[str] = mapped_column(String(64))
    cap_currency: Mapped[str | None] = mapped_column(String(3))
    cap_difference: Mapped[Decimal | None] = mapped_column(Numeric(14, 3))
    justification: Mapped[str | None] = mapped_column(Text)
    approved_by: Mapped[uuid.UUID | None]
    approval: Mapped[str | None] = mapped_column(String(20))
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class TripApproval(Base):
    """A trip's approval request and where its chain stands: one row per trip, reopened by a new request.

    `booked` says whether the trip was booked when asked (book now, approve later) or is held, a draft,
    until the last approver says yes.
    """

    __tablename__ = "trip_approvals"
    __table_args__ = (
        of_itinerary(),
        CheckConstraint("status IN ('pending', 'approved', 'rejected', 'withdrawn')"),
        CheckConstraint("step IN ('manager', 'finance', 'admin')"),
        Index("trip_approvals_pending", "tenant_id", postgresql_where=text("status = 'pending'")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    itinerary_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    booked: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20), server_default=text("'pending'"))
    step: Mapped[str] = mapped_column(String(20))
    step_since: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    reasons: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    policy_version: Mapped[str] = mapped_column(String(64))
    justification: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[uuid.UUID | None]
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
