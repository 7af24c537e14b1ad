"""Slack and Telegram: workspaces, linked accounts, installations, invites, deliveries and request messages."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import NEW_UUID, Base, of_itinerary, of_tenant, of_user


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
    installation_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=NEW_UUID)
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
    invite_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=NEW_UUID)
    user_id: Mapped[uuid.UUID]
    code_hash: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


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
    """A Telegram message with live buttons for a trip: the traveller's Confirm / Cancel ("confirm") or an
    approver's Approve / Reject ("approval"), rewritten once decided, lapsed or retired."""

    __tablename__ = "telegram_request_messages"
    __table_args__ = (
        of_tenant(),
        of_itinerary(),
        CheckConstraint("purpose IN ('confirm', 'approval')"),
        Index("telegram_request_messages_itinerary", "tenant_id", "itinerary_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    itinerary_id: Mapped[uuid.UUID]
    purpose: Mapped[str] = mapped_column(String(16), server_default=text("'confirm'"))
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
