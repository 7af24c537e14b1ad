"""SQLAlchemy 2 models of the schema; the migrations in storage/migrations are the source of truth."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

_NEW_UUID = text("gen_random_uuid()")


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
    __table_args__ = ({"schema": "users"},)

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=_NEW_UUID)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20), server_default="traveler")
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    locale: Mapped[str] = mapped_column(String(16), server_default="en")
    preferences: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class TenantPreference(Base):
    """One tenant-wide preference or policy value, validated by storage.preferences."""

    __tablename__ = "tenant_preferences"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    preference_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    preference_value: Mapped[Any] = mapped_column(JSONB)


class UserTravelHistory(Base):
    """A completed trip of a traveller."""

    __tablename__ = "user_travel_history"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_users.tenant_id", "users.tenant_users.user_id"]
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    trip_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    destination: Mapped[str] = mapped_column(String(255))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    activities: Mapped[Any | None] = mapped_column(JSONB)
    total_spend: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))


class Itinerary(Base):
    """A trip: a draft while planned, confirmed once booked."""

    __tablename__ = "itineraries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_users.tenant_id", "users.tenant_users.user_id"]
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    itinerary_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=_NEW_UUID)
    user_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=text("CURRENT_TIMESTAMP"))
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=text("CURRENT_TIMESTAMP"))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    destinations: Mapped[list[Any]] = mapped_column(JSONB)


class ItineraryDay(Base):
    """One day of an itinerary with its items (flights, hotel night, meetings, ground transport)."""

    __tablename__ = "itinerary_details"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "itinerary_id"], ["itineraries.tenant_id", "itineraries.itinerary_id"]
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    itinerary_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    day_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB)


class Booking(Base):
    """One booked component of a trip: a flight, hotel, train or car."""

    __tablename__ = "bookings"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "itinerary_id"], ["itineraries.tenant_id", "itineraries.itinerary_id"]
        ),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_users.tenant_id", "users.tenant_users.user_id"]
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=_NEW_UUID)
    itinerary_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    booking_type: Mapped[str] = mapped_column(String(50))
    booking_details: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=text("CURRENT_TIMESTAMP"))


class BookingReminder(Base):
    """A reminder due at `reminder_date` (UTC); `sent` flips exactly once when delivered."""

    __tablename__ = "booking_reminders"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "booking_id"], ["bookings.tenant_id", "bookings.booking_id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    reminder_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=_NEW_UUID)
    booking_id: Mapped[uuid.UUID]
    reminder_date: Mapped[dt.datetime] = mapped_column(DateTime)
    sent: Mapped[bool | None] = mapped_column(Boolean, server_default=text("false"))


class TravelAnalytics(Base):
    """Spend of one completed trip: the total and a breakdown by category."""

    __tablename__ = "travel_analytics"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_users.tenant_id", "users.tenant_users.user_id"]
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    trip_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    total_spend: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    spend_by_category: Mapped[dict[str, Any]] = mapped_column(JSONB)


class ChannelWorkspace(Base):
    """A Slack workspace (or Enterprise Grid org) that belongs to a tenant."""

    __tablename__ = "channel_workspaces"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    enterprise_id: Mapped[str] = mapped_column(String(64), primary_key=True, server_default="")
    team_id: Mapped[str] = mapped_column(String(64), primary_key=True, server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class ChannelIdentity(Base):
    """A platform account (Slack user, Telegram user, console) that speaks for a tenant user."""

    __tablename__ = "channel_identities"

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
    """A platform delivery already handled, so that a retry has no second effect."""

    __tablename__ = "processed_events"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class ConversationThread(Base):
    """One user's part in one checkpoint thread (`{tenant}:{channel}:{conversation}`)."""

    __tablename__ = "conversations"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    last_active_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
