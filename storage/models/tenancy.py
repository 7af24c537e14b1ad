"""Tenants, their users and preferences, and the audit log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKeyConstraint,
    Index,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import NEW_UUID, NOW, Base, of_tenant


class Tenant(Base):
    """A customer company."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=NEW_UUID)
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
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=NEW_UUID)
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
    preference_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=NEW_UUID)
    preference_key: Mapped[str] = mapped_column(String(100))
    preference_value: Mapped[Any] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=NOW)


class AuditEntry(Base):
    """Who did what, in which tenant, and when. Details never hold message bodies or secrets."""

    __tablename__ = "audit_log"
    __table_args__ = (of_tenant(), Index("audit_log_recent", "tenant_id", text("occurred_at DESC")))

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    audit_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=NEW_UUID)
    occurred_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("clock_timestamp()")
    )
    actor_user_id: Mapped[uuid.UUID | None]
    actor: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
