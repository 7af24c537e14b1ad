"""SQLAlchemy 2 models of the schema, by domain; the migrations in storage/migrations are the source of truth."""

from storage.models.base import Base, of_itinerary, of_tenant, of_user
from storage.models.channels import (
    ChannelIdentity,
    ChannelWorkspace,
    ProcessedEvent,
    ReminderPress,
    SlackInstallation,
    SlackRequestMessage,
    TelegramInvite,
    TelegramRequestMessage,
)
from storage.models.conversations import (
    ConversationCheckpoint,
    ConversationCheckpointWrite,
    ConversationThread,
    ConversationTurnLease,
)
from storage.models.policy import AwaitedJustification, PolicyVerdictRow, TripApproval
from storage.models.tenancy import AuditEntry, Tenant, TenantPreference, TenantUser
from storage.models.travel import (
    Booking,
    BookingReminder,
    CompletedTrip,
    Itinerary,
    ItineraryCancellation,
    ItineraryDetail,
    ReminderSchedule,
    TravelAnalytics,
    UserTravelHistory,
)

__all__ = [
    "AuditEntry",
    "AwaitedJustification",
    "Base",
    "Booking",
    "BookingReminder",
    "ChannelIdentity",
    "ChannelWorkspace",
    "CompletedTrip",
    "ConversationCheckpoint",
    "ConversationCheckpointWrite",
    "ConversationThread",
    "ConversationTurnLease",
    "Itinerary",
    "ItineraryCancellation",
    "ItineraryDetail",
    "PolicyVerdictRow",
    "ProcessedEvent",
    "ReminderPress",
    "ReminderSchedule",
    "SlackInstallation",
    "SlackRequestMessage",
    "TelegramInvite",
    "TelegramRequestMessage",
    "Tenant",
    "TenantPreference",
    "TenantUser",
    "TravelAnalytics",
    "TripApproval",
    "UserTravelHistory",
    "of_itinerary",
    "of_tenant",
    "of_user",
]
