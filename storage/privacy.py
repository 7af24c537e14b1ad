"""GDPR in storage: everything held about a user (Art. 15, 20) and erasing it (Art. 17)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, delete, func, inspect, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import Actor, record_audit
from storage.conversations import idle_threads, threads_of
from storage.errors import NotFound
from storage.models import (
    AuditEntry,
    Base,
    Booking,
    BookingReminder,
    ChannelIdentity,
    CompletedTrip,
    ConversationThread,
    Itinerary,
    ItineraryDetail,
    PolicyVerdictRow,
    TelegramInvite,
    TenantPreference,
    TenantUser,
    TravelAnalytics,
    TripApproval,
    UserTravelHistory,
)
from storage.preferences import tenant_preferences
from storage.reminder_runs import ConsoleMessage, ReminderDelivery
from storage.reminders import pending_reminders
from storage.sessions import current_tenant
from storage.travel_memory import TravelMemory

FORMER_TRAVELLER = "Former traveller"
# Columns of an export that are secrets, hashes or search indexes derived from exported text.
_NOT_EXPORTED = {"code_hash", "search", "embedding"}


def row_dict(row: Base) -> dict[str, Any]:
    """A model row as plain values, column by column."""
    mapper = inspect(row).mapper
    return {
        column.key: getattr(row, column.key)
        for column in mapper.column_attrs
        if column.key not in _NOT_EXPORTED
    }


async def export_user(session: AsyncSession, *, user_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Every row held about the user in the session's tenant, grouped by table."""
    user = await session.get(TenantUser, (current_tenant(session), user_id))
    if user is None:
        raise NotFound("That user is not known in this company.")
    itineraries = select(Itinerary.itinerary_id).where(Itinerary.user_id == user_id)
    bookings = select(Booking.booking_id).where(Booking.user_id == user_id)
    queries = {
        "identities": select(ChannelIdentity).where(ChannelIdentity.user_id == user_id),
        "itineraries": select(Itinerary).where(Itinerary.user_id == user_id).order_by(Itinerary.start_date),
        "itinerary_details": select(ItineraryDetail)
        .where(ItineraryDetail.itinerary_id.in_(itineraries))
        .order_by(ItineraryDetail.itinerary_id, ItineraryDetail.date, ItineraryDetail.position),
        "bookings": select(Booking).where(Booking.user_id == user_id).order_by(Booking.created_at),
        # The verdict each of their bookings was made under and their trips' approvals (what they decided for
        # others is in their audit entries, without the other traveller's words).
        "policy_verdicts": select(PolicyVerdictRow).where(PolicyVerdictRow.booking_id.in_(bookings)),
        "trip_approvals": select(TripApproval).where(TripApproval.itinerary_id.in_(itineraries)),
        "booking_reminders": select(BookingReminder).where(
            or_(BookingReminder.user_id == user_id, BookingReminder.booking_id.in_(bookings))
        ),
        "travel_history": select(UserTravelHistory).where(UserTravelHistory.user_id == user_id),
        "travel_analytics": select(TravelAnalytics).where(TravelAnalytics.user_id == user_id),
        "telegram_invites": select(TelegramInvite).where(TelegramInvite.user_id == user_id),
        "conversations": select(ConversationThread).where(ConversationThread.user_id == user_id),
        "console_outbox": select(ConsoleMessage).where(ConsoleMessage.user_id == user_id),
        "reminder_deliveries": select(ReminderDelivery).where(ReminderDelivery.user_id == user_id),
        "travel_memories": select(TravelMemory)
        .where(TravelMemory.user_id == user_id)
        .order_by(TravelMemory.created_at),
        "audit_log": select(AuditEntry)
        .where(AuditEntry.actor_user_id == user_id)
        .order_by(AuditEntry.occurred_at),
    }
    export: dict[str, list[dict[str, Any]]] = {"profile": [row_dict(user)]}
    for name, statement in queries.items():
        export[name] = [row_dict(row) for row in (await session.scalars(statement)).all()]
    return export


@dataclass(frozen=True)
class Erasure:
    """What an erasure removed, in counts only (it is audited without personal data)."""

    threads: list[str]
    anonymised_trips: int
    # Reminders that were still pending, so their queued jobs can be withdrawn too.
    pending_reminders: list[uuid.UUID] = field(default_factory=list)


async def _former_traveller(session: AsyncSession) -> uuid.UUID:
    """The tenant's anonymous stand-in that keeps aggregate spend after its travellers are erased."""
    statement = select(TenantUser.user_id).where(
        TenantUser.display_name == FORMER_TRAVELLER, TenantUser.email.is_(None)
    )
    found = (await session.scalars(statement)).first()
    if found is not None:
        return found
    stand_in = TenantUser(
        tenant_id=current_tenant(session),
        user_id=uuid.uuid4(),
        display_name=FORMER_TRAVELLER,
        email=None,
        role="traveler",
        timezone="UTC",
        locale="en",
        preferences={},
    )
    session.add(stand_in)
    await session.flush()
    return stand_in.user_id


async def erase_user(session: AsyncSession, *, actor: Actor, user_id: uuid.UUID) -> Erasure:
    """Remove the user's personal data from every tenant table; keep spend only in anonymised form.

    Returns the user's conversation threads, which the caller erases from the checkpoints.
    """
    user = await session.get(TenantUser, (current_tenant(session), user_id), with_for_update=True)
    if user is None:
        raise NotFound("That user is not known in this company.")
    threads = await threads_of(session, user_id=user_id)
    pending = [
        reminder.reminder_id for reminder, _booking in await pending_reminders(session, user_id=user_id)
    ]
    stand_in = await _former_traveller(session)
    # Aggregate spend stays for the company's reports, detached from the person and from the trip.
    analytics = (
        await session.scalars(select(TravelAnalytics).where(TravelAnalytics.user_id == user_id))
    ).all()
    for row in analytics:
        session.add(
            TravelAnalytics(
                tenant_id=row.tenant_id,
                analytics_id=uuid.uuid4(),
                user_id=stand_in,
                travel_date=row.travel_date,
                total_spend=row.total_spend,
                categories_spend=row.categories_spend,
            )
        )
    await session.flush()
    await remove_travel_rows(session, user_id=user_id)
    # A justification is the traveller's own words: the entry keeps that one was given, not what it said.
    await session.execute(
        update(AuditEntry)
        .where(AuditEntry.actor_user_id == user_id, AuditEntry.details.has_key("justification"))
        .values(details=AuditEntry.details.op("||")(func.jsonb_build_object("justification", "(erased)")))
    )
    await session.execute(
        update(AuditEntry).where(AuditEntry.actor_user_id == user_id).values(actor_user_id=None)
    )
    # Whoever they managed now has no manager: their trips go to finance or an admin.
    await session.execute(update(TenantUser).where(TenantUser.manager_id == user_id).values(manager_id=None))
    # Trips they approved keep that they were approved, not by whom.
    await session.execute(
        update(PolicyVerdictRow).where(PolicyVerdictRow.approved_by == user_id).values(approved_by=None)
    )
    await session.execute(
        update(TripApproval).where(TripApproval.decided_by == user_id).values(decided_by=None)
    )
    # The audit trail keeps what happened, but no longer says to whom.
    await session.execute(
        update(AuditEntry).where(AuditEntry.entity_id == str(user_id)).values(entity_id=None)
    )
    # The rest of theirs goes with the user row (ON DELETE CASCADE on the product's own tables).
    await session.execute(delete(TenantUser).where(TenantUser.user_id == user_id))
    # The entry names no one: a self-erasure is recorded as the system acting on the user's request.
    await record_audit(
        session,
        actor=Actor("system") if actor.user_id == user_id else actor,
        action="user.erase",
        entity="tenant_user",
        entity_id=None,
        details={"threads": len(threads), "anonymised_trips": len(analytics)},
    )
    return Erasure(threads=threads, anonymised_trips=len(analytics), pending_reminders=pending)


async def remove_travel_rows(session: AsyncSession, *, user_id: uuid.UUID | None) -> None:
    """Delete a user's rows of the seven specified tables (every row of the tenant with None), children first.

    Their foreign keys are the specification's, with no cascade, so that no other system's row is deleted
    behind its back; the product deletes in order instead.
    """
    tenant = current_tenant(session)

    def mine(statement: Select[Any], column: Any) -> Select[Any]:
        return statement if user_id is None else statement.where(column == user_id)

    trips = mine(select(Itinerary.itinerary_id).where(Itinerary.tenant_id == tenant), Itinerary.user_id)
    bookings = select(Booking.booking_id).where(
        Booking.tenant_id == tenant,
        or_(Booking.itinerary_id.in_(trips), *([] if user_id is None else [Booking.user_id == user_id])),
    )
    reminders = delete(BookingReminder).where(BookingReminder.tenant_id == tenant)
    if user_id is not None:
        reminders = reminders.where(
            or_(BookingReminder.user_id == user_id, BookingReminder.booking_id.in_(bookings))
        )
    await session.execute(reminders)
    await session.execute(
        delete(Booking).where(Booking.tenant_id == tenant, Booking.booking_id.in_(bookings))
    )
    details = delete(ItineraryDetail).where(ItineraryDetail.tenant_id == tenant)
    await session.execute(
        details if user_id is None else details.where(ItineraryDetail.itinerary_id.in_(trips))
    )
    await session.execute(delete(Itinerary).where(Itinerary.itinerary_id.in_(trips)))
    for table in (UserTravelHistory, TravelAnalytics):
        statement = delete(table).where(table.tenant_id == tenant)
        await session.execute(statement if user_id is None else statement.where(table.user_id == user_id))
    if user_id is None:
        await session.execute(delete(TenantPreference).where(TenantPreference.tenant_id == tenant))


@dataclass(frozen=True)
class Expiry:
    """What the retention limit removed in one tenant."""

    threads: list[str]
    trips: int


async def expire_old_data(session: AsyncSession, *, now: dt.datetime) -> Expiry:
    """Delete the session tenant's conversations and travel history older than `data_retention_days`.

    Returns the expired conversation threads; the caller removes them from the checkpoints.
    """
    days = (await tenant_preferences(session))["data_retention_days"]
    cutoff = now - dt.timedelta(days=days)
    threads = await idle_threads(session, before=cutoff)
    if threads:
        await session.execute(delete(ConversationThread).where(ConversationThread.thread_id.in_(threads)))
    # A trip counts from its last day where the product knows it, else from its travel date.
    ended = (
        select(UserTravelHistory.history_id)
        .outerjoin(
            CompletedTrip,
            (CompletedTrip.tenant_id == UserTravelHistory.tenant_id)
            & (CompletedTrip.history_id == UserTravelHistory.history_id),
        )
        .where(func.coalesce(CompletedTrip.end_date, UserTravelHistory.travel_date) < cutoff.date())
    )
    trips = await session.execute(delete(UserTravelHistory).where(UserTravelHistory.history_id.in_(ended)))
    expired = Expiry(threads=threads, trips=int(getattr(trips, "rowcount", 0) or 0))
    if expired.threads or expired.trips:
        await record_audit(
            session,
            actor=Actor("system"),
            action="retention.expire",
            entity="tenant",
            details={"threads": len(expired.threads), "trips": expired.trips, "days": days},
        )
    return expired
