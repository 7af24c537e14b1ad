"""Live travel information for reminders: the hook the reminder courier calls with each claimed reminder.

Every reminder of a trip gets the destination's weather over the trip's dates; a flight's reminder also
gets that flight's status. The hook answers within its own deadline, shorter than the courier's, so a
provider that is down or slow reads as "information unavailable" in the reminder instead of nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from agent.travel_info.providers import http_client
from agent.travel_info.service import MAX_WEATHER_DAYS, TravelInfo
from agent.travel_info.settings import TravelInfoSettings
from agent.travel_info.summary import travel_info_for_trip
from agent.travel_info.trips import usable_flight_number
from storage.errors import InvalidInput
from storage.reminder_runs import ClaimedReminder

log = logging.getLogger(__name__)

REMINDER_DEADLINE_SECONDS = 2.5  # the courier waits 3 s for live information


class ReminderTravelNote:
    """`await note(reminder)`: a line of weather and flight status for the reminder, or None."""

    def __init__(self, info: TravelInfo) -> None:
        self.info = info

    async def __call__(self, reminder: ClaimedReminder) -> str | None:
        destinations = [str(place) for place in reminder.destinations if str(place).strip()]
        if not destinations:
            return None
        start = reminder.trip_start
        end = min(reminder.trip_end, start + dt.timedelta(days=MAX_WEATHER_DAYS - 1))
        flights: list[tuple[str, dt.date]] = []
        number = usable_flight_number(reminder.booking_details.get("number"))
        if reminder.booking_type == "flight" and number is not None:
            flights.append((number, reminder.service_date))
        try:
            return await travel_info_for_trip(
                self.info, destination=destinations[0], start=start, end=end, flights=flights
            )
        except InvalidInput as error:  # stored trip data the checks refuse; the reminder goes without it
            log.warning("reminder %s: no travel information (%s)", reminder.reminder_id, error.message)
            return None


@asynccontextmanager
async def reminder_travel_notes(
    *, redis: Redis | None, settings: TravelInfoSettings | None = None
) -> AsyncIterator[ReminderTravelNote]:
    """The hook for one worker process, on its own HTTP client and the worker's Redis (closed on exit)."""
    settings = settings or TravelInfoSettings()
    async with http_client(timeout_seconds=settings.timeout_seconds) as client:
        info = TravelInfo.from_client(
            client,
            settings.model_copy(
                update={"deadline_seconds": min(settings.deadline_seconds, REMINDER_DEADLINE_SECONDS)}
            ),
            redis=redis,
        )
        try:
            yield ReminderTravelNote(info)
        finally:
            await info.cache.cancel_loads()
