"""A traveller's profile in one statement: company preferences, own preferences and recent trips."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from storage.database import Statement
from storage.preferences import PERSONAL_PREFERENCES, TENANT_PREFERENCES, with_defaults

# One statement instead of three: this runs on every conversation turn.
_PROFILE = """
    SELECT
      (SELECT coalesce(jsonb_object_agg(p.preference_key, p.preference_value), '{}') FROM tenant_preferences p),
      (SELECT u.preferences FROM users.tenant_users u WHERE u.user_id = %(user_id)s),
      (SELECT coalesce(jsonb_agg(to_jsonb(h) ORDER BY h.start_date DESC), '[]') FROM (
          SELECT h.destination, h.travel_date AS start_date,
                 greatest(coalesce(c.end_date, h.travel_date), h.travel_date) AS end_date, h.total_spend
          FROM user_travel_history h
          LEFT JOIN completed_trips c ON c.tenant_id = h.tenant_id AND c.history_id = h.history_id
          WHERE h.user_id = %(user_id)s ORDER BY h.travel_date DESC LIMIT %(trips)s) h)
"""


@dataclass(frozen=True)
class PastTrip:
    destination: str
    start_date: dt.date
    end_date: dt.date
    total_spend: Decimal | None


@dataclass(frozen=True)
class TravellerProfile:
    company: dict[str, Any]
    personal: dict[str, Any]
    recent_trips: list[PastTrip]


def profile_statement(*, user_id: uuid.UUID, trips: int = 5) -> Statement:
    """The statement that reads a traveller's profile inside their tenant; `profile_from_row` reads its row."""
    return Statement(_PROFILE, {"user_id": user_id, "trips": trips})


def profile_from_row(row: tuple[Any, ...]) -> TravellerProfile:
    company, personal, history = row
    return TravellerProfile(
        company=with_defaults(TENANT_PREFERENCES, company),
        personal=with_defaults(PERSONAL_PREFERENCES, personal or {}),
        recent_trips=[
            PastTrip(
                trip["destination"],
                dt.date.fromisoformat(trip["start_date"]),
                dt.date.fromisoformat(trip["end_date"]),
                Decimal(str(trip["total_spend"])) if trip["total_spend"] is not None else None,
            )
            for trip in history
        ],
    )
