"""Travel information for a stored trip: the note a reminder carries, and the booked flights a watch polls.

Both read the rows as they are (`itineraries`, `bookings.booking_details`) and never raise for odd data: a
flight number that is not one is left out rather than failing a reminder.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent.travel_info.flight_status import normalise_flight_number
from agent.travel_info.service import MAX_WEATHER_DAYS, TravelInfo
from agent.travel_info.summary import MAX_FLIGHTS, travel_info_for_trip
from storage.errors import InvalidInput
from storage.models import Booking, Itinerary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BookedFlight:
    """A confirmed flight booking, as the flight watch needs it."""

    booking_id: uuid.UUID
    user_id: uuid.UUID
    flight_number: str
    day: dt.date
    departs_at: dt.datetime | None  # only when stored with its offset


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _aware(value: Any) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def usable_flight_number(value: Any) -> str | None:
    """The booking's flight number when it is one ("LH1234", "LH 1234"); None for "TBD" and the like."""
    if not value:
        return None
    try:
        normalise_flight_number(str(value))
    except InvalidInput:
        log.info("%r is not a flight number; no live status for it", str(value)[:20])
        return None
    return str(value)


def booked_flights(bookings: Sequence[Booking]) -> list[BookedFlight]:
    """The confirmed flight bookings with a usable flight number and date, in departure order."""
    flights = []
    for booking in bookings:
        if booking.booking_type != "flight" or not booking.confirmed or booking.user_id is None:
            continue
        details = booking.booking_details or {}
        departs_at = _aware(details.get("depart_at"))
        day = _date(details.get("depart_at")) or _date(details.get("service_date"))
        number = usable_flight_number(details.get("number"))
        if number is None or day is None:
            continue
        flights.append(BookedFlight(booking.booking_id, booking.user_id, number, day, departs_at))
    return sorted(
        flights, key=lambda flight: (flight.day, flight.departs_at or dt.datetime.min.replace(tzinfo=dt.UTC))
    )


async def trip_travel_note(
    info: TravelInfo, *, itinerary: Itinerary, bookings: Sequence[Booking]
) -> str | None:
    """ "3 °C and rain in Berlin on 3 Dec; LH 1234 departs 40 min late from gate B22" for a reminder, or
    None when the trip names no destination. Provider faults read as "information unavailable"."""
    destinations = [str(place) for place in itinerary.destinations or [] if str(place).strip()]
    if not destinations:
        return None
    start = itinerary.start_date
    end = min(itinerary.end_date, start + dt.timedelta(days=MAX_WEATHER_DAYS - 1))
    flights = [(flight.flight_number, flight.day) for flight in booked_flights(bookings)][:MAX_FLIGHTS]
    try:
        return await travel_info_for_trip(
            info, destination=destinations[0], start=start, end=end, flights=flights
        )
    except InvalidInput as error:  # stored data the checks refuse; the reminder goes out without the note
        log.warning("itinerary %s: no travel note (%s)", itinerary.itinerary_id, error.message)
        return None
