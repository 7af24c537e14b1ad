"""Live travel information for reminders: the hook the reminder courier calls with each claimed reminder.

Every reminder of a trip gets the destination's weather over the trip's dates; a flight's reminder also
gets that flight's status. The hook answers within its own deadline, shorter than the courier's. Only what is
known goes in: a provider that is missing, down or slow is logged for operators and never mentioned to the
traveller.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
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


# One trip's note serves every reminder composed meanwhile that asks the same (a tenant's 09:00 batch holds
# many reminders of the same trips and flights); the providers' own cache keeps it fresh beyond that.
NOTE_MEMO_SECONDS = 30.0
NOTE_MEMO_SIZE = 4096

_NoteKey = tuple[str, dt.date, dt.date, tuple[tuple[str, dt.date], ...]]


class ReminderTravelNote:
    """`await note(reminder)`: a line of weather and flight status for the reminder, or None."""

    def __init__(self, info: TravelInfo, *, memo_seconds: float = NOTE_MEMO_SECONDS) -> None:
        self.info = info
        self.memo_seconds = memo_seconds
        self._notes: dict[_NoteKey, tuple[float, asyncio.Task[str]]] = {}

    async def __call__(self, reminder: ClaimedReminder) -> str | None:
        destinations = [str(place) for place in reminder.destinations if str(place).strip()]
        if not destinations or reminder.trip_start is None or reminder.trip_end is None:
            return None  # a reminder outside any trip has no place to look up
        start = reminder.trip_start
        end = min(reminder.trip_end, start + dt.timedelta(days=MAX_WEATHER_DAYS - 1))
        flights: list[tuple[str, dt.date]] = []
        number = usable_flight_number(reminder.booking_details.get("number"))
        if reminder.booking_type == "flight" and number is not None:
            flights.append((number, reminder.service_date))
        try:
            # Shielded: a reminder that stops waiting (its deadline) leaves the shared lookup running.
            note = await asyncio.shield(self._note((destinations[0], start, end, tuple(flights))))
            return note or None  # nothing known: the reminder goes without a travel line
        except InvalidInput as error:  # stored trip data the checks refuse; the reminder goes without it
            log.warning("reminder %s: no travel information (%s)", reminder.reminder_id, error.message)
            return None

    def _note(self, key: _NoteKey) -> asyncio.Task[str]:
        now = time.monotonic()
        memo = self._notes.get(key)
        if memo is not None and memo[0] > now:
            return memo[1]
        if len(self._notes) >= NOTE_MEMO_SIZE:
            self._notes = {k: v for k, v in self._notes.items() if v[0] > now}
        destination, start, end, flights = key
        task = asyncio.ensure_future(
            travel_info_for_trip(
                self.info,
                destination=destination,
                start=start,
                end=end,
                flights=list(flights),
                known_only=True,
            )
        )
        self._notes[key] = (now + self.memo_seconds, task)
        task.add_done_callback(lambda done: self._forget_failed(key, done))
        return task

    def _forget_failed(self, key: _NoteKey, done: asyncio.Task[str]) -> None:
        if done.cancelled() or done.exception() is not None:
            memo = self._notes.get(key)
            if memo is not None and memo[1] is done:
                del self._notes[key]

    def cancel(self) -> None:
        """Stop lookups still running (the worker is shutting down)."""
        for _, task in self._notes.values():
            task.cancel()
        self._notes.clear()


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
        note = ReminderTravelNote(info)
        try:
            yield note
        finally:
            note.cancel()
            await info.cache.cancel_loads()
