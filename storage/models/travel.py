"""The travel tables of the specification (trips, their days, bookings, reminders, history, spend) and
their side tables."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    case,
    exists,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, column_property, mapped_column

from storage.models.base import NEW_UUID, NOW, Base, of_itinerary


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
    history_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=NEW_UUID)
    user_id: Mapped[uuid.UUID | None]
    travel_date: Mapped[dt.date] = mapped_column(Date)
    destination: Mapped[str] = mapped_column(String(100))
    activities: Mapped[Any | None] = mapped_column(JSONB)
    total_spend: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=NOW)


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
    itinerary_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=NEW_UUID)
    user_id: Mapped[uuid.UUID | None]
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    destinations: Mapped[list[Any] | None] = mapped_column(JSONB)
    is_draft: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=NOW)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=NOW)
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
    detail_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=NEW_UUID)
    itinerary_id: Mapped[uuid.UUID | None]
    date: Mapped[dt.date] = mapped_column(Date)
    activity_type: Mapped[str | None] = mapped_column(String(50))
    activity_details: Mapped[Any | None] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=NOW)
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
    booking_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=NEW_UUID)
    user_id: Mapped[uuid.UUID | None]
    itinerary_id: Mapped[uuid.UUID | None]
    booking_type: Mapped[str] = mapped_column(String(50))
    booking_details: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str | None] = mapped_column(
        String(20), server_default=text("'confirmed'::character varying")
    )
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=NOW)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=NOW)

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
    reminder_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=NEW_UUID)
    booking_id: Mapped[uuid.UUID | None]
    user_id: Mapped[uuid.UUID | None]
    reminder_date: Mapped[dt.date] = mapped_column(Date)
    message: Mapped[str] = mapped_column(Text)
    sent: Mapped[bool | None] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=NOW)


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
    analytics_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=NEW_UUID)
    user_id: Mapped[uuid.UUID | None]
    travel_date: Mapped[dt.date] = mapped_column(Date)
    total_spend: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    categories_spend: Mapped[Any] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=NOW)


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
