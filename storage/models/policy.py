"""Travel-policy decisions: the verdict each booking was made under, trips' approval chains, and awaited
justifications."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, of_itinerary, of_tenant, of_user


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
